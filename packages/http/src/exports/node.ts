/**
 * `@breakwater/http/node`: a breaker per route for plain `node:http` servers. An open breaker
 * answers 503 with `Retry-After`; a handler past its timeout answers 504.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { protectHandler } from '@breakwater/http/node';
 *
 * const hello = protectHandler((_req, res) => res.end('hello'), { name: '/hello', timeout: 2_000 });
 * createServer((req, res) => void hello(req, res)).listen(8000);
 * ```
 *
 * @module @breakwater/http/node
 */
export { type BreakersHandler, type BreakersStatus, breakersHandler } from '../breakers-handler.ts';
export {
  type NodeHandler,
  type ProtectedHandler,
  type ProtectHandlerOptions,
  protectHandler,
  type RouteContext,
} from '../node-handler.ts';
export { type ErrorBody, type RouteProtectionOptions, routeSignal } from '../route-guard.ts';
