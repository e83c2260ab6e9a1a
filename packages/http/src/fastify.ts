/**
 * Per-route protection for Fastify, as a plugin. Fastify is not needed at run time: only its
 * types are used, and the plugin marks itself with `Symbol.for('skip-override')` (what
 * `fastify-plugin` does) so its hook applies to the scope it is registered in.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { type Respond, RouteGuard, type RouteProtectionOptions } from './route-guard.ts';

/**
 * A route's own breaker settings, in its `config.breaker`.
 *
 * @example
 * ```ts
 * app.get('/users/:id', { config: { breaker: { name: 'users' } } }, getUser);
 * ```
 */
export interface RouteBreakerConfig {
  /** The breaker's name. Default: the route's URL pattern (`/users/:id`). */
  readonly name?: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `false` leaves the route unprotected; an object names its breaker. */
    breaker?: false | RouteBreakerConfig;
  }
}

/**
 * Options of {@link fastifyBreaker}: those of every adapter.
 *
 * @example
 * ```ts
 * const options: FastifyBreakerOptions = { breaker: { openDuration: 10_000 }, timeout: 5_000 };
 * await app.register(fastifyBreaker, options);
 * ```
 */
export type FastifyBreakerOptions = RouteProtectionOptions;

/**
 * A Fastify plugin giving every route in the scope it is registered in its own circuit breaker,
 * keyed by the route's URL pattern (`request.routeOptions.url`) or by `config.breaker.name`. A
 * route opts out with `config: { breaker: false }`.
 *
 * While a route's breaker is open its handler does not run: `503`, `Retry-After` and
 * `{ "error": { "code": "ERR_CIRCUIT_OPEN", ... } }`. A thrown error goes to Fastify's error
 * handling as usual (500 unless it carries another `statusCode`) and counts as a failure when
 * the answer is >= 500; a handler that misses `timeout` gets `504` `ERR_TIMEOUT`.
 *
 * @example
 * ```ts
 * const app = Fastify();
 * await app.register(fastifyBreaker, { breaker: { policy: consecutiveFailures(3) }, timeout: 2_000 });
 * app.get('/users/:id', getUser); // breaker "/users/:id"
 * app.get('/health', { config: { breaker: false } }, () => 'ok');
 * ```
 */
export function fastifyBreaker(
  fastify: FastifyInstance,
  options: FastifyBreakerOptions,
  done: (error?: Error) => void,
): void {
  let guard: RouteGuard;
  try {
    // Fastify hands its own register options over too; the rest must be ours.
    const { prefix, logLevel, logSerializers, ...ours } = (options ?? {}) as FastifyBreakerOptions &
      Record<'prefix' | 'logLevel' | 'logSerializers', unknown>;
    guard = new RouteGuard(ours, 'fastifyBreaker');
  } catch (error) {
    done(error as Error);
    return;
  }
  fastify.addHook('onRequest', (request, reply, next) => {
    const url = request.routeOptions.url;
    const config = request.routeOptions.config?.breaker;
    // No route matched (404): nothing to protect.
    if (url === undefined || config === false) {
      next();
      return;
    }
    const name = config?.name ?? url;
    if (guard.admit(name, request.raw, reply.raw, respondWith(reply)) !== undefined) next();
  });
  done();
}

Object.assign(fastifyBreaker, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: '@breakwater/http',
});

function respondWith(reply: FastifyReply): Respond {
  return (status, headers, body) => {
    if (reply.sent) return;
    reply.code(status).headers(headers).send(body);
  };
}
