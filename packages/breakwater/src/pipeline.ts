/**
 * Pipeline: several policies composed into one, outermost first, with the same
 * `execute(fn, { signal })` as each of them.
 */
import { BulkheadPolicy } from './bulkhead.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import { InvalidOptionError } from './errors.ts';
import type { FallbackPolicy } from './fallback.ts';
import { callContext } from './internal.ts';
import { unwrapOutcome } from './outcome.ts';
import type { CallContext, ExecuteOptions, Work } from './policy.ts';
import { RetryPolicy } from './retry.ts';
import { TimeoutPolicy } from './timeout.ts';

/**
 * Anything with the policy shape: retry, timeout, bulkhead, fallback, a circuit breaker, another
 * pipeline, or a policy of your own. Its result may be wider than the work's (a fallback's
 * substitute), hence `unknown`.
 *
 * @example
 * ```ts
 * // Any object with this execute composes, e.g. one that logs each call's duration.
 * const timed: Composable = {
 *   async execute(fn, options) {
 *     const start = performance.now();
 *     try { return await fn({ signal: options?.signal ?? neverAborted, attempt: options?.attempt ?? 1 }); }
 *     finally { log.debug(`${performance.now() - start} ms`); }
 *   },
 * };
 * pipeline(timed, breaker);
 * ```
 */
export interface Composable {
  execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<unknown>;
}

/**
 * What a policy may answer besides the work's own result: a fallback's substitute.
 *
 * @example
 * ```ts
 * type Answer = Substitute<FallbackPolicy<null>>; // null
 * ```
 */
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

/**
 * Policies composed outer to inner. `R` is what fallbacks in it may answer instead of the work's
 * result. Its caller never receives an `ignore()`/`markAsSuccess()` wrapper, breaker or not; a
 * pipeline nested in another is spliced in, so a breaker outside still reads the mark.
 *
 * @example
 * ```ts
 * const policy: Pipeline<null> = pipeline(fallback(null), breaker, timeout(1_000));
 * const user = await policy.execute(({ signal }) => loadUser(id, signal)); // User | null
 * ```
 */
export class Pipeline<R = never> {
  /** The composed policies, outermost first. */
  readonly policies: readonly Composable[];
  /** The policies of this pipeline and of the pipelines nested in it, outermost first. */
  readonly #layers: readonly Composable[];
  readonly #outermost: Layer | undefined;
  /**
   * True when an `ignore()`/`markAsSuccess()` wrapper could reach the caller, so the pipeline
   * unwraps: retry and fallback pass wrappers on for an outer breaker, and the caller must never
   * receive one. Behind a breaker with only retry/timeout/bulkhead outside it, nothing is added
   * to the hot path.
   */
  readonly #unwraps: boolean;

  constructor(policies: readonly Composable[]) {
    policies.forEach((policy, i) => {
      if (typeof policy?.execute !== 'function') {
        throw new InvalidOptionError(
          `policies[${i}]`,
          'a policy with execute(fn, options)',
          policy,
        );
      }
    });
    // A nested pipeline is spliced in rather than called: it would unwrap an outcome marker
    // before an outer breaker could read it.
    const layers = policies.flatMap((policy) =>
      policy instanceof Pipeline ? policy.#layers : [policy],
    );
    let layer: Layer | undefined;
    for (let i = layers.length - 1; i >= 0; i--) layer = new Layer(layers[i]!, layer);
    this.policies = Object.freeze([...policies]);
    this.#layers = layers;
    this.#outermost = layer;
    this.#unwraps = mayPassWrappers(layers);
  }

  /** Runs `fn` through every policy, the first one outermost. */
  execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T | R> {
    if (this.#outermost !== undefined) {
      const settled = this.#outermost.execute(fn, options) as Promise<T | R>;
      return this.#unwraps ? settled.catch(rethrowUnwrapped) : settled;
    }
    // No policies: just the work, with the same contract as a policy.
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    try {
      return Promise.resolve(fn(callContext(signal, options?.attempt))).catch(rethrowUnwrapped);
    } catch (error) {
      return Promise.reject(unwrapOutcome(error));
    }
  }
}

/**
 * Whether an outcome wrapper can reach the pipeline's caller: a breaker unwraps whatever comes
 * from inside it, and retry, timeout and bulkhead make none of their own; anything else outside
 * the outermost breaker (a fallback's substitute, a custom policy) might throw one.
 */
function mayPassWrappers(layers: readonly Composable[]): boolean {
  for (const policy of layers) {
    if (policy instanceof CircuitBreaker) return false;
    if (
      !(
        policy instanceof RetryPolicy ||
        policy instanceof TimeoutPolicy ||
        policy instanceof BulkheadPolicy
      )
    ) {
      return true;
    }
  }
  return true;
}

function rethrowUnwrapped(error: unknown): never {
  throw unwrapOutcome(error);
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
