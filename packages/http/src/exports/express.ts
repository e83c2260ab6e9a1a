/**
 * `@breakwater/http/express`: Express middleware keeping a breaker per route. It needs no
 * Express types: requests and responses are typed as `node:http`'s, which Express extends.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { expressBreaker } from '@breakwater/http/express';
 *
 * const app = express();
 * app.get('/users/:id', expressBreaker({ timeout: 2_000 }), (req, res) => {
 *   res.json({ id: req.params.id });
 * });
 * ```
 *
 * @module @breakwater/http/express
 */
export { type BreakersHandler, type BreakersStatus, breakersHandler } from '../breakers-handler.ts';
export { type ExpressBreaker, type ExpressMiddleware, expressBreaker } from '../express.ts';
export { type ErrorBody, type RouteProtectionOptions, routeSignal } from '../route-guard.ts';
