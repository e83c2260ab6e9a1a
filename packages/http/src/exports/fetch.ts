/**
 * `@breakwater/http/fetch`: the runtime-neutral part — HTTP outcome classification and a
 * protected `fetch` with a breaker per origin. It imports no Node.js built-in, so it runs in
 * browsers, Deno, Bun and edge runtimes as well as Node.
 *
 * @example
 * ```ts
 * import { protectedFetch } from '@breakwater/http/fetch';
 *
 * const http = protectedFetch({ timeout: 2_000 });
 * const response = await http('https://api.example.com/users/1');
 * ```
 *
 * @module @breakwater/http/fetch
 */
export {
  type ClassifyOptions,
  classifyHttpOutcome,
  type FailureStatuses,
  failureStatusPredicate,
  type HttpCallResult,
  type HttpOutcome,
  type HttpStage,
  isServerError,
} from '../classify.ts';
export type { HttpRetryOptions } from '../http-retry.ts';
export {
  type BodyReader,
  defaultOriginBounds,
  type ProtectedFetch,
  type ProtectedFetchOptions,
  protectedFetch,
} from '../protected-fetch.ts';
export { idempotentMethods, isReplayableBody } from '../replay.ts';
export { parseRetryAfter, retryAfterSeconds } from '../retry-after.ts';
export { FailureStatusError } from '../status-error.ts';
