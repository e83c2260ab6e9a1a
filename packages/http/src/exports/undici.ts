/**
 * `@breakwater/http/undici`: an undici interceptor keeping a circuit breaker per origin, the
 * idiomatic way to protect every request of an undici client or of `fetch` given a dispatcher.
 * Its types import `undici`, an optional peer dependency needed only by this entry point.
 *
 * @example
 * ```ts
 * import { Agent, fetch } from 'undici';
 * import { breakerInterceptor } from '@breakwater/http/undici';
 *
 * const dispatcher = new Agent().compose(breakerInterceptor());
 * const response = await fetch('https://api.example.com/health', { dispatcher });
 * ```
 *
 * @module @breakwater/http/undici
 */

export type { FailureStatuses } from '../classify.ts';
export { type BreakerInterceptorOptions, breakerInterceptor } from '../undici-interceptor.ts';
