/**
 * `@breakwater/http/fastify`: a Fastify plugin keeping a breaker per route. Its types import
 * `fastify`, which is an optional peer dependency: only this entry point needs it installed.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { fastifyBreaker } from '@breakwater/http/fastify';
 *
 * const app = Fastify();
 * await app.register(fastifyBreaker, { timeout: 2_000 });
 * app.get('/health', { config: { breaker: false } }, async () => 'ok');
 * ```
 *
 * @module @breakwater/http/fastify
 */
export { type BreakersHandler, type BreakersStatus, breakersHandler } from '../breakers-handler.ts';
export { type FastifyBreakerOptions, fastifyBreaker, type RouteBreakerConfig } from '../fastify.ts';
export { type ErrorBody, type RouteProtectionOptions, routeSignal } from '../route-guard.ts';
