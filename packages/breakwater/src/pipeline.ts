/**
 * Pipeline: several policies composed into one, outermost first, with the same
 * `execute(fn, { signal })` as each of them.
 */
import { InvalidOptionError } from './errors.ts';
import type { FallbackPolicy } from './fallback.ts';
import { type CallContext, type ExecuteOptions, neverAborted, type Work } from './policy.ts';

/**
 * Anything with the policy shape: retry, timeout, bulkhead, fallback, a circuit breaker, another
 * pipeline, or a policy of your own. Its result may be wider than the work's (a fallback's
 * substitute), hence `unknown`.
 */
export interface Composable {
  execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<unknown>;
}

/** What a policy may answer besides the work's own result: a fallback's substitute. */
export type Substitute<P> =
  P extends FallbackPolicy<infer R> ? R : P extends Pipeline<infer R> ? R : never;

/** One policy and everything inside it; built once, so a call allocates no array. */
class Layer {
  readonly #policy: Composable;
  readonly #inner: Layer | undefined;

  constructor(policy: Composable, inner: Layer | undefined) {
    this.#policy = policy;
    this.#inner = inner;
  }

  execute(fn: Work<unknown>, options: ExecuteOptions | undefined): Promise<unknown> {
    const inner = this.#inner;
    if (inner === undefined) return this.#policy.execute(fn, options);
    // The context handed down is itself `{ signal }`, so it serves as the inner options as is.
    return this.#policy.execute((context: CallContext) => inner.execute(fn, context), options);
  }
}

const noCallerSignal: CallContext = Object.freeze({ signal: neverAborted });

/**
 * Policies composed outer to inner. `R` is what fallbacks in it may answer instead of the work's
 * result.
 */
export class Pipeline<R = never> {
  /** The composed policies, outermost first. */
  readonly policies: readonly Composable[];
  readonly #outermost: Layer | undefined;

  constructor(policies: readonly Composable[]) {
    let layer: Layer | undefined;
    for (let i = policies.length - 1; i >= 0; i--) {
      const policy = policies[i];
      if (typeof policy?.execute !== 'function') {
        throw new InvalidOptionError(
          `policies[${i}]`,
          'a policy with execute(fn, options)',
          policy,
        );
      }
      layer = new Layer(policy, layer);
    }
    this.policies = Object.freeze([...policies]);
    this.#outermost = layer;
  }

  /** Runs `fn` through every policy, the first one outermost. */
  execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T | R> {
    if (this.#outermost !== undefined) {
      return this.#outermost.execute(fn, options) as Promise<T | R>;
    }
    // No policies: just the work, with the same contract as a policy.
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    try {
      return Promise.resolve(fn(signal === undefined ? noCallerSignal : { signal }));
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/**
 * Composes policies into one; the first is the outermost. A typical order: fallback, retry,
 * circuit breaker, timeout — the fallback answers once after retries gave up, each attempt goes
 * through the breaker (which stops the retries when it opens) and has its own timeout.
 *
 * @example
 * ```ts
 * const policy = pipeline(
 *   fallback(() => cached),
 *   retry({ maxAttempts: 3, backoff: 100 }),
 *   new CircuitBreaker({ policy: consecutiveFailures(5), openDuration: 10_000 }),
 *   timeout(1_000),
 * );
 * const data = await policy.execute(({ signal }) => load(signal));
 * ```
 */
export function pipeline<const P extends readonly Composable[]>(
  ...policies: P
): Pipeline<Substitute<P[number]>> {
  return new Pipeline(policies);
}
