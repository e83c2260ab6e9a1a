/**
 * The balancing seam: given the targets that are eligible right now and the request, choose one.
 * Adding an algorithm is one file that implements {@link Balancer}.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** What a balancer may know about a target. */
export interface BalancedTarget {
  /** Stable identity across reloads and candidate-set changes (the target's URL). */
  readonly id: string;
  /** Relative share of traffic; a positive integer. */
  readonly weight: number;
  /** Requests currently in flight to this target. */
  readonly activeRequests: number;
}

/** What a balancer may know about a request. */
export interface BalancedRequest {
  readonly method: string;
  /** The path and query, as received. */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The client's address, as seen by the listener. */
  readonly remoteAddress: string | undefined;
}

/** Chooses a target for a request from the eligible candidates. */
export interface Balancer<T extends BalancedTarget = BalancedTarget> {
  /** Returns one of `candidates`, or `undefined` when it is empty. Never returns a non-candidate. */
  pick(candidates: readonly T[], request: BalancedRequest): T | undefined;
  /**
   * For balancers that learn from traffic: `target` answered (response headers, or a timeout)
   * after `latency` ms.
   */
  observe?(target: T, latency: number): void;
  /** For balancers that learn from traffic: `target` comes back into rotation; start afresh. */
  forget?(target: T): void;
  /** For balancers that learn from traffic: what they believe `target`'s latency is, in ms. */
  latency?(target: T): number | undefined;
}
