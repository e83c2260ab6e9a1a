/**
 * Per-route protection for a plain `node:http` handler: each wrapped handler has its own breaker.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type BreakerRegistry, type CircuitBreaker, InvalidOptionError } from 'breakwater';
import { errorBody, RouteGuard, type RouteProtectionOptions, respondRaw } from './route-guard.ts';

/** What a protected handler receives besides the request and response. */
export interface RouteContext {
  /** Aborts when the request timed out (and was answered 504) or the client disconnected. */
  readonly signal: AbortSignal;
}

/** A `node:http` request handler, optionally async, optionally reading its {@link RouteContext}. */
export type NodeHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  context: RouteContext,
) => void | Promise<void>;

/** Options of {@link protectHandler}. */
export interface ProtectHandlerOptions extends RouteProtectionOptions {
  /**
   * The route's name: its breaker's key in `breakers`, shown in errors. Required with `breakers`;
   * otherwise defaults to the handler's function name, or `'handler'`.
   */
  readonly name?: string;
}

/** A wrapped handler; `breaker` is its route's breaker. */
export interface ProtectedHandler {
  (req: IncomingMessage, res: ServerResponse): Promise<void>;
  readonly breaker: CircuitBreaker;
  readonly breakers: BreakerRegistry;
}

/**
 * Wraps a `node:http` handler in its own circuit breaker. While the breaker is open the handler
 * is not called and the client gets `503` with `Retry-After` and
 * `{ "error": { "code": "ERR_CIRCUIT_OPEN", ... } }`. A handler that throws or rejects gets a
 * `500` JSON answer (if it had not started one) and counts as a failure, as does any response
 * with a status of 500 or more; a handler that misses `timeout` gets `504` `ERR_TIMEOUT`.
 *
 * @example
 * ```ts
 * const hello = protectHandler(
 *   async (req, res) => {
 *     res.end(await greet(req.url));
 *   },
 *   { name: '/hello', breaker: { policy: consecutiveFailures(3), openDuration: 5_000 } },
 * );
 * createServer((req, res) => (req.url?.startsWith('/hello') ? hello(req, res) : notFound(res)));
 * ```
 */
export function protectHandler(
  handler: NodeHandler,
  options: ProtectHandlerOptions = {},
): ProtectedHandler {
  if (typeof handler !== 'function') {
    throw new InvalidOptionError('handler', 'a function (req, res) => void', handler);
  }
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('protectHandler options', 'an object', options);
  }
  const { name: given, ...protection } = options;
  const guard = new RouteGuard(protection, 'protectHandler');
  if (options.name !== undefined && typeof options.name !== 'string') {
    throw new InvalidOptionError('name', 'a string', options.name);
  }
  if (options.breakers !== undefined && options.name === undefined) {
    throw new InvalidOptionError('name', 'a route name when breakers is given', options.name);
  }
  const name = given ?? (handler.name || 'handler');

  const protectedHandler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const respond = respondRaw(res);
    const request = guard.admit(name, req, res, respond);
    if (request === undefined) return;
    try {
      await handler(req, res, request);
    } catch (error) {
      request.fail(error);
      if (!res.headersSent) {
        respond(500, {}, errorBody('ERR_INTERNAL', 'Internal server error'));
      } else if (!res.writableEnded) {
        // Half a response cannot be turned into an error any more; cutting the connection is the
        // only way left to tell the client it is incomplete.
        res.destroy();
      }
    }
  };
  return Object.defineProperties(protectedHandler, {
    breaker: { get: () => guard.breaker(name), enumerable: true },
    breakers: { value: guard.breakers, enumerable: true },
  }) as ProtectedHandler;
}
