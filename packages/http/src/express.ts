/**
 * Per-route protection for Express. Express is not needed at run time, nor even its types: the
 * middleware is typed by the few things it reads, so it fits any route's parameter types.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BreakerRegistry } from 'breakwater';
import { BreakwaterError, InvalidOptionError } from 'breakwater';
import { RouteGuard, type RouteProtectionOptions, respondRaw } from './route-guard.ts';

/** What the middleware reads of an Express request. */
export interface ExpressRequest extends IncomingMessage {
  /** The matched route (Express sets it on route-level middleware). */
  readonly route?: unknown;
  /** The path a router is mounted at, e.g. `/api`. */
  readonly baseUrl: string;
}

/**
 * An Express middleware, assignable to any route's handler type.
 *
 * @example
 * ```ts
 * const guard: ExpressMiddleware = expressBreaker().named('reports');
 * app.use('/reports', guard, reportsRouter);
 * ```
 */
export type ExpressMiddleware = (
  req: ExpressRequest,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/**
 * The middleware {@link expressBreaker} returns, and its explicitly named variant.
 *
 * @example
 * ```ts
 * const breaker: ExpressBreaker = expressBreaker({ timeout: 2_000 });
 * app.get('/users/:id', breaker, getUser);
 * app.use('/legacy', breaker.named('legacy'), legacyRouter);
 * console.log(breaker.breakers.list());
 * ```
 */
export interface ExpressBreaker extends ExpressMiddleware {
  /** The same protection under an explicit route name, e.g. for a route mounted with `app.use`. */
  named(name: string): ExpressMiddleware;
  /** The registry holding one breaker per route name. */
  readonly breakers: BreakerRegistry;
}

/**
 * Express middleware giving each route its own circuit breaker, keyed by the route's path
 * (`req.baseUrl + req.route.path`, e.g. `/api/users/:id`, never the concrete URL). Mount it on
 * the routes, before their handlers; at app level no route is matched yet, so use
 * `breaker.named(name)` there.
 *
 * While a route's breaker is open its handler does not run: `503`, `Retry-After` and
 * `{ "error": { "code": "ERR_CIRCUIT_OPEN", ... } }`. A handler error goes to Express's error
 * handling as usual (500 by default) and counts as a failure, as does any status >= 500; a
 * handler that misses `timeout` gets `504` `ERR_TIMEOUT`.
 *
 * @example
 * ```ts
 * const breaker = expressBreaker({ breaker: { policy: consecutiveFailures(3), openDuration: 5_000 } });
 * app.get('/users/:id', breaker, getUser);     // breaker "/users/:id"
 * app.post('/orders', breaker, createOrder);   // breaker "/orders", independent
 * ```
 */
export function expressBreaker(options: RouteProtectionOptions = {}): ExpressBreaker {
  const guard = new RouteGuard(options, 'expressBreaker');
  const protect: (name: string, ...args: Parameters<ExpressMiddleware>) => void = (
    name,
    req,
    res,
    next,
  ) => {
    if (guard.admit(name, req, res, respondRaw(res)) !== undefined) next();
  };
  const middleware: ExpressMiddleware = (req, res, next) => {
    const name = routeName(req);
    if (name === undefined) {
      next(
        new BreakwaterError(
          'ERR_NO_ROUTE',
          'expressBreaker() runs before any route matched: mount it on a route ' +
            "(app.get('/path', breaker, handler)) or give it a name with breaker.named('name')",
        ),
      );
      return;
    }
    protect(name, req, res, next);
  };
  return Object.assign(middleware, {
    named: (name: string): ExpressMiddleware => {
      if (typeof name !== 'string' || name === '') {
        throw new InvalidOptionError('name', 'a non-empty route name', name);
      }
      return (req, res, next) => protect(name, req, res, next);
    },
    breakers: guard.breakers,
  });
}

/** The matched route's full path pattern, or undefined when no route has matched. */
function routeName(req: ExpressRequest): string | undefined {
  const route: unknown = req.route;
  if (typeof route !== 'object' || route === null || !('path' in route)) return undefined;
  return `${req.baseUrl}${String(route.path)}`;
}
