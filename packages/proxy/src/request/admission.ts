/**
 * Admission, shared by plain requests and upgrades: is the request forwardable at all (one Host,
 * not already forwarded by this proxy, not TRACE, an origin-form target), which upstream its route names, and does that upstream
 * have a target to try. The answer is the upstream with its selection (worked out once here and
 * handed on, so eligibility is computed once per request), or a {@link Refusal} that the
 * listener writes in its own way (a `ServerResponse` or a raw socket).
 */

import type { Socket } from 'node:net';
import type { ProxiedRequest } from '../http/client-message.ts';
import { viaIncludes } from '../http/forwarding-headers.ts';
import type { ProxyErrorCode } from '../http/proxy-error.ts';
import { hostProblem } from '../http/request-framing.ts';
import { toOriginFormRequest } from '../http/request-target.ts';
import type { BalancedRequest } from '../upstream/balancers/balancer.ts';
import type { RouteTable } from '../upstream/router.ts';
import type { Selection } from '../upstream/selection.ts';
import type { Target } from '../upstream/target.ts';
import type { OverloadLimit, UpstreamPool } from '../upstream/upstream-pool.ts';

/** The `Allow` value of the proxy's 405 answers: it forwards every method but TRACE and CONNECT. */
export const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH';

/** Why the proxy answers a request itself instead of forwarding it. */
export interface Refusal {
  readonly refused: true;
  readonly code: ProxyErrorCode;
  readonly message: string;
  /** The upstream's name, `''` when no route matched yet. */
  readonly upstream: string;
  /** Header fields to send with the error (`allow`, `retry-after`), lower-case names. */
  readonly headers: Readonly<Record<string, string>> | undefined;
  /** The request itself is suspect (e.g. two Host fields): close the connection after. */
  readonly close: boolean;
}

/** A request the proxy will forward: its upstream and the targets it may go to. */
export interface Admitted {
  readonly refused: false;
  readonly pool: UpstreamPool;
  /** The request target in origin form (`/path?query`). */
  readonly path: string;
  /** The balancer's view of the request. */
  readonly request: BalancedRequest;
  /** The upstream's selection at admission; never without candidates. */
  readonly selection: Selection<Target>;
}

/**
 * Admits a request or says why not.
 *
 * @example
 * const admission = admitRequest(req, routes, host.via);
 * if (admission.refused) answer(admission.code, admission.message);
 * else forward(admission.pool, admission.selection);
 */
export function admitRequest(
  req: ProxiedRequest,
  routes: RouteTable,
  via: string,
): Admitted | Refusal {
  const hostIssue = hostProblem(req);
  if (hostIssue !== undefined) return refusal('BAD_REQUEST', hostIssue, '', true);
  // This proxy forwarded the request already (it is its own target, directly or through other
  // proxies): forwarding it again would loop until a header limit stops it.
  if (viaIncludes(req.headers.via, via)) {
    return refusal(
      'LOOP_DETECTED',
      `Request loop: it already passed through this proxy (${via})`,
      '',
    );
  }
  if (req.method === 'TRACE') {
    // Like nginx: TRACE would echo the request, including what this proxy adds, to anyone.
    return refusal('METHOD_NOT_ALLOWED', 'TRACE is not forwarded', '', false, {
      allow: ALLOWED_METHODS,
    });
  }
  const path = toOriginFormRequest(req);
  if (path === undefined) {
    return refusal('BAD_REQUEST', `Unsupported request target ${req.url ?? ''}`, '');
  }
  const host = req.headers.host;
  const pool = routes.current.match(host, path);
  if (pool === undefined) return refusal('NO_ROUTE', `No route for ${host ?? ''}${path}`, '');
  const selection = pool.selection();
  // Nothing to try: answer before reading any body.
  if (selection.candidates.length === 0) return noEligibleTarget(pool);
  const overload = pool.overload();
  if (overload !== undefined) {
    // At a threshold (limits.maxRequests, maxPending): refuse before reading any body.
    pool.overloads[overload]++;
    return atLimit(pool, overload);
  }
  return { refused: false, pool, path, request: new RequestView(req, path), selection };
}

/**
 * The answer when an upstream has no target to try: 503 `NO_HEALTHY_TARGET`, with Retry-After
 * saying when a breaker will let a trial through (or when the next health check may bring a
 * target back), when anything will.
 *
 * @example
 * noEligibleTarget(pool).headers; // { 'retry-after': '30' }
 */
export function noEligibleTarget(pool: UpstreamPool): Refusal {
  const retryAfter = pool.retryAfter();
  return refusal(
    'NO_HEALTHY_TARGET',
    `No eligible target in upstream ${pool.name}`,
    pool.name,
    false,
    retryAfter === undefined ? undefined : { 'retry-after': String(retryAfterSeconds(retryAfter)) },
  );
}

/**
 * The answer when every eligible target of an upstream is at its adaptive concurrency limit:
 * 503 `OVERLOADED`, at once and without queueing. Retry-After is 1 s: slots free as soon as
 * requests finish, milliseconds away, and a second is the shortest whole wait.
 *
 * @example
 * overloaded(pool).code; // 'OVERLOADED'
 */
export function overloaded(pool: UpstreamPool): Refusal {
  return refusal(
    'OVERLOADED',
    `Every eligible target of upstream ${pool.name} is at its concurrency limit`,
    pool.name,
    false,
    { 'retry-after': '1' },
  );
}

/**
 * The answer when an upstream is at one of its `limits` (`maxRequests`, `maxPending`): 503
 * `OVERLOADED` with Retry-After 1 s, since capacity frees within moments, not on a breaker's
 * schedule.
 *
 * @example
 * atLimit(pool, 'maxRequests').message; // 'Upstream api is at limits.maxRequests (1024)'
 */
export function atLimit(pool: UpstreamPool, limit: OverloadLimit): Refusal {
  return refusal(
    'OVERLOADED',
    `Upstream ${pool.name} is at limits.${limit} (${pool.limits[limit]})`,
    pool.name,
    false,
    { 'retry-after': '1' },
  );
}

/**
 * A Retry-After value in whole seconds for a wait in milliseconds: rounded up, at least 1.
 *
 * @example
 * retryAfterSeconds(1); // 1
 * retryAfterSeconds(1500); // 2
 */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** Builds a {@link Refusal}. */
export function refusal(
  code: ProxyErrorCode,
  message: string,
  upstream: string,
  close = false,
  headers?: Readonly<Record<string, string>>,
): Refusal {
  return { refused: true, code, message, upstream, headers, close };
}

// The balancer's view of a request, without copying headers.
class RequestView implements BalancedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: ProxiedRequest['headers'];
  readonly #req: ProxiedRequest;

  constructor(req: ProxiedRequest, path: string) {
    this.method = req.method ?? 'GET';
    this.path = path;
    this.headers = req.headers;
    this.#req = req;
  }

  get remoteAddress(): string | undefined {
    return (this.#req.socket as Socket | null)?.remoteAddress;
  }
}
