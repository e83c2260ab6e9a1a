/**
 * Per-route protection for a plain `node:http` handler: each wrapped handler has its own breaker.
 */
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import { type BreakerRegistry, type CircuitBreaker, InvalidOptionError } from 'breakwater';
import { errorBody, RouteGuard, type RouteProtectionOptions, respondRaw } from './route-guard.ts';

/**
 * What a protected handler receives besides the request and response.
 *
 * @example
 * ```ts
 * protectHandler(async (req, res, { signal }: RouteContext) => {
 *   res.end(await buildReport({ signal })); // stops when the request timed out or the client left
 * });
 * ```
 */
export interface RouteContext {
  /** Aborts when the request timed out (and was answered 504) or the client disconnected. */
  readonly signal: AbortSignal;
}

/**
 * A `node:http` request handler, optionally async, optionally reading its {@link RouteContext}.
 *
 * @example
 * ```ts
 * const greet: NodeHandler = (_req, res) => {
 *   res.end('hello');
 * };
 * protectHandler(greet, { name: '/greet' });
 * ```
 */
export type NodeHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  context: RouteContext,
) => void | Promise<void>;

/**
 * Options of {@link protectHandler}.
 *
 * @example
 * ```ts
 * const options: ProtectHandlerOptions = { name: '/search', timeout: 3_000, breaker: { openDuration: 10_000 } };
 * protectHandler(search, options);
 * ```
 */
export interface ProtectHandlerOptions extends RouteProtectionOptions {
  /**
   * The route's name: its breaker's key in `breakers`, shown in errors. Required with `breakers`;
   * otherwise defaults to the handler's function name, or `'handler'`.
   */
  readonly name?: string;
}

/**
 * A wrapped handler; `breaker` is its route's breaker.
 *
 * @example
 * ```ts
 * const handler: ProtectedHandler = protectHandler(search, { name: '/search' });
 * createServer(handler);
 * console.log(handler.breaker.state);
 * ```
 */
export interface ProtectedHandler {
  (req: IncomingMessage, res: ServerResponse): Promise<void>;
  readonly breaker: CircuitBreaker;
  readonly breakers: BreakerRegistry;
}

/**
 * Wraps a `node:http` handler in its own circuit breaker. While the breaker is open the handler
 * is not called and the client gets `503` with `Retry-After` and
 * `{ "error": { "code": "ERR_CIRCUIT_OPEN", ... } }`. A handler that throws or rejects gets a
 * JSON error answer (if it had not started one) with the status Express would pick — the error's
 * own 4xx/5xx `status`/`statusCode`, else the 4xx/5xx status the handler set, else `500` — and
 * counts as a failure when that status is 500 or more, as does any response with such a status;
 * a handler that misses `timeout` gets `504` `ERR_TIMEOUT`.
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
      const status = errorStatus(error, res);
      // As in Express and Fastify: an error answered with a 4xx is the client's, and the 'finish'
      // of that answer counts it a success; anything else is the route failing.
      if (status >= 500 || res.headersSent) request.fail(error);
      if (!res.headersSent) {
        respond(
          status,
          {},
          status >= 500
            ? errorBody(
                'ERR_INTERNAL',
                status === 500 ? 'Internal server error' : statusText(status),
              )
            : errorBody('ERR_REQUEST', statusText(status)),
        );
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

/**
 * The status an error is answered with, the way Express's final handler picks it: the error's own
 * `status`/`statusCode` if it is a 4xx or 5xx, else the status the handler set if it is one, else
 * 500.
 */
function errorStatus(error: unknown, res: ServerResponse): number {
  if (typeof error === 'object' && error !== null) {
    const own =
      (error as { status?: unknown; statusCode?: unknown }).status ??
      (error as { statusCode?: unknown }).statusCode;
    if (isErrorStatus(own)) return own;
  }
  return isErrorStatus(res.statusCode) ? res.statusCode : 500;
}

function isErrorStatus(status: unknown): status is number {
  return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 599;
}

function statusText(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}
