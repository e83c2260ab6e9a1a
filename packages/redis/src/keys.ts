/**
 * The Redis keys and channel of one breaker. All carry the hash tag `{name}` (after the prefix),
 * so a breaker's state, leases, counts and channel share one Redis Cluster slot and its scripts
 * run on one node; different breakers spread over the cluster.
 */

/** One breaker's keys. */
export interface BreakerKeys {
  readonly name: string;
  /** Hash: the newest transition (epoch, origin, state, backoff step, when the open period ends). */
  readonly state: string;
  /** Shard channel of transitions and urgent counts. */
  readonly channel: string;
  /**
   * The half-open trial lease of one open period: its holder (`instanceId|n`, the instance and
   * which of its breakers) until it expires or goes back.
   */
  lease(epoch: number): string;
  /** Hash of every instance's cumulative outcome counts in one epoch. */
  counts(epoch: number): string;
}

/** The keys of breaker `name` under `prefix`. */
export function keysFor(prefix: string, name: string): BreakerKeys {
  // A name with braces would move the hash tag; escape them out of the way.
  const tag = `${prefix}{${name.replaceAll('%', '%25').replaceAll('{', '%7B').replaceAll('}', '%7D')}}`;
  return {
    name,
    state: `${tag}:state`,
    channel: `${tag}:events`,
    lease: (epoch) => `${tag}:lease:${epoch}`,
    counts: (epoch) => `${tag}:counts:${epoch}`,
  };
}
