/**
 * `@breakwater/http`: circuit breakers for HTTP. The package's root is its runtime-neutral part,
 * the same as `@breakwater/http/fetch` (outcome classification and a protected `fetch` with a
 * breaker per origin; no Node.js built-ins). The server and client adapters have their own entry
 * points, so an application loads (and type-checks) only the frameworks it uses:
 *
 * | entry point                 | exports                                            | needs       |
 * | --------------------------- | -------------------------------------------------- | ----------- |
 * | `@breakwater/http`          | the same as `/fetch`                               | any runtime |
 * | `@breakwater/http/fetch`    | `protectedFetch`, `classifyHttpOutcome`, …         | any runtime |
 * | `@breakwater/http/node`     | `protectHandler`, `routeSignal`                    | Node.js     |
 * | `@breakwater/http/express`  | `expressBreaker`, `routeSignal`                    | Node.js     |
 * | `@breakwater/http/fastify`  | `fastifyBreaker`, `routeSignal`                    | `fastify`   |
 * | `@breakwater/http/undici`   | `breakerInterceptor`                               | `undici`    |
 *
 * @example
 * ```ts
 * import { protectedFetch } from '@breakwater/http';
 *
 * const http = protectedFetch({ timeout: 2_000 });
 * ```
 *
 * @module @breakwater/http
 */
export * from './exports/fetch.ts';
