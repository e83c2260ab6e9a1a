/**
 * `@breakwater/http`: circuit breakers for HTTP — a protected `fetch` with a breaker per origin,
 * and per-route protection for `node:http`, Express and Fastify servers.
 *
 * @packageDocumentation
 */
export { type BreakersHandler, type BreakersStatus, breakersHandler } from './breakers-handler.ts';
export {
  type ClassifyOptions,
  classifyHttpOutcome,
  type FailureStatuses,
  failureStatusPredicate,
  type HttpCallResult,
  type HttpOutcome,
  type HttpStage,
  isServerError,
} from './classify.ts';
export { type ExpressBreaker, type ExpressMiddleware, expressBreaker } from './express.ts';
export { type FastifyBreakerOptions, fastifyBreaker, type RouteBreakerConfig } from './fastify.ts';
export type { HttpRetryOptions } from './http-retry.ts';
export {
  type NodeHandler,
  type ProtectedHandler,
  type ProtectHandlerOptions,
  protectHandler,
  type RouteContext,
} from './node-handler.ts';
export {
  type BodyReader,
  type ProtectedFetch,
  type ProtectedFetchOptions,
  protectedFetch,
} from './protected-fetch.ts';
export { idempotentMethods, isReplayableBody } from './replay.ts';
export { parseRetryAfter, retryAfterSeconds } from './retry-after.ts';
export { type ErrorBody, type RouteProtectionOptions, routeSignal } from './route-guard.ts';
export { FailureStatusError } from './status-error.ts';
