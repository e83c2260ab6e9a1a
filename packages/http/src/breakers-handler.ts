/**
 * A status endpoint for applications, like resilience4j's actuator: every breaker's snapshot as
 * JSON (state, how long it stays open, totals, the failure policy's window and, while it is not
 * closed, the reason it tripped: `snapshot.reason`, a `TripReason`). One handler serves node:http, Express and
 * Fastify: it writes to a `ServerResponse`, or sends through a Fastify reply.
 */
import type { ServerResponse } from 'node:http';
import {
  type BreakerListing,
  BreakerRegistry,
  CircuitBreaker,
  InvalidOptionError,
} from 'breakwater';

/**
 * What {@link breakersHandler} answers: one row per breaker, in creation order.
 *
 * @example
 * ```ts
 * const { breakers } = (await (await fetch(`${origin}/breakers`)).json()) as BreakersStatus;
 * const open = breakers.filter((row) => row.snapshot.state === 'open');
 * ```
 */
export interface BreakersStatus {
  readonly breakers: readonly BreakerListing[];
}

/** The part of a Fastify reply the handler uses (typed here so Fastify stays optional). */
interface FastifyReplyLike {
  readonly raw: ServerResponse;
  code(status: number): FastifyReplyLike;
  header(name: string, value: string): FastifyReplyLike;
  send(body: string): FastifyReplyLike;
}

/**
 * A request handler answering `GET`/`HEAD` with {@link BreakersStatus}, `405` otherwise.
 * Its second argument is a node:http/Express response or a Fastify reply.
 *
 * @example
 * ```ts
 * http.createServer(handler); // node:http
 * app.get('/breakers', handler); // Express, Fastify
 * ```
 */
export type BreakersHandler = (
  request: { readonly method?: string | undefined },
  response: ServerResponse | FastifyReplyLike,
) => unknown;

/**
 * Serves every breaker's snapshot as JSON, for a status page or an operator's `curl`. `source` is
 * a registry (its breakers at the time of each request) or a fixed list of breakers.
 *
 * @example
 * ```ts
 * import { breakersHandler } from '@breakwater/http';
 *
 * const status = breakersHandler(breakers);
 * expressApp.get('/status/breakers', status);
 * fastifyApp.get('/status/breakers', status);
 * http.createServer((req, res) => (req.url === '/status/breakers' ? status(req, res) : app(req, res)));
 * ```
 */
export function breakersHandler(
  source: BreakerRegistry | Iterable<CircuitBreaker>,
): BreakersHandler {
  const list = listingOf(source);
  return (request, response) => {
    const method = request.method ?? 'GET';
    const allowed = method === 'GET' || method === 'HEAD';
    const body = allowed ? JSON.stringify({ breakers: list() } satisfies BreakersStatus) : '';
    const status = allowed ? 200 : 405;
    if (isFastifyReply(response)) {
      if (!allowed) response.header('allow', 'GET, HEAD');
      return response
        .code(status)
        .header('content-type', 'application/json; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(body);
    }
    response.statusCode = status;
    if (!allowed) response.setHeader('allow', 'GET, HEAD');
    response.setHeader('content-type', 'application/json; charset=utf-8');
    response.setHeader('cache-control', 'no-store');
    response.setHeader('content-length', Buffer.byteLength(body));
    response.end(method === 'HEAD' ? undefined : body);
    return undefined;
  };
}

function listingOf(source: BreakerRegistry | Iterable<CircuitBreaker>): () => BreakerListing[] {
  if (source instanceof BreakerRegistry) return () => source.list();
  if (source === null || typeof source !== 'object' || !(Symbol.iterator in source)) {
    throw new InvalidOptionError('source', 'a BreakerRegistry or breakers', source);
  }
  const breakers = [...source];
  breakers.forEach((breaker, i) => {
    if (!(breaker instanceof CircuitBreaker)) {
      throw new InvalidOptionError(`source[${i}]`, 'a CircuitBreaker', breaker);
    }
    if (breaker.name === undefined) {
      throw new InvalidOptionError(`source[${i}].name`, 'a named breaker', undefined);
    }
  });
  return () => breakers.map((breaker) => ({ name: breaker.name!, snapshot: breaker.snapshot() }));
}

function isFastifyReply(response: unknown): response is FastifyReplyLike {
  const reply = response as Partial<FastifyReplyLike>;
  return typeof reply.send === 'function' && typeof reply.code === 'function' && 'raw' in reply;
}
