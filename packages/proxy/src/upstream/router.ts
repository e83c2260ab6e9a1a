/** Routing: the first route whose host and path prefix match a request names its upstream. */
import type { RouteConfig } from '../config/schema.ts';
import type { UpstreamPool } from './upstream-pool.ts';

interface CompiledRoute {
  readonly host: string | undefined;
  readonly pathPrefix: string | undefined;
  readonly upstream: UpstreamPool;
}

/**
 * Matches requests to upstreams. Host matching ignores case and the port; a path prefix matches
 * at segment boundaries, so `/v1` matches `/v1`, `/v1/users` and `/v1?x=1` but not `/v10`.
 *
 * @example
 * const router = new Router(config.routes, pools);
 * router.match('api.example.com:8080', '/v1/users'); // the 'api' UpstreamPool, or undefined
 */
export class Router {
  readonly #routes: CompiledRoute[];

  constructor(routes: readonly RouteConfig[], upstreams: ReadonlyMap<string, UpstreamPool>) {
    this.#routes = routes.map((route) => {
      const upstream = upstreams.get(route.upstream);
      if (upstream === undefined) throw new Error(`route names unknown upstream ${route.upstream}`);
      const prefix = route.match.pathPrefix;
      return {
        host: route.match.host?.toLowerCase(),
        // A trailing slash is part of the segment rule already; strip it so `/v1/` behaves as `/v1`.
        pathPrefix: prefix === undefined || prefix === '/' ? undefined : prefix.replace(/\/+$/, ''),
        upstream,
      };
    });
  }

  /** The upstream for a request, or `undefined` when no route matches. */
  match(hostHeader: string | undefined, path: string): UpstreamPool | undefined {
    const routes = this.#routes;
    let host: string | undefined;
    for (let i = 0; i < routes.length; i++) {
      const route = routes[i]!;
      if (route.host !== undefined) {
        host ??= normalizeHost(hostHeader);
        if (host !== route.host) continue;
      }
      const prefix = route.pathPrefix;
      if (prefix !== undefined) {
        if (!path.startsWith(prefix)) continue;
        if (path.length > prefix.length) {
          const next = path.charCodeAt(prefix.length);
          // '/' or '?' ends a segment
          if (next !== 47 && next !== 63) continue;
        }
      }
      return route.upstream;
    }
    return undefined;
  }
}

function normalizeHost(hostHeader: string | undefined): string {
  if (hostHeader === undefined) return '';
  let host = hostHeader;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    host = end < 0 ? host : host.slice(0, end + 1);
  } else {
    const colon = host.indexOf(':');
    if (colon >= 0) host = host.slice(0, colon);
  }
  return host.toLowerCase();
}

/**
 * The route table requests are matched against: one mutable slot holding the current
 * {@link Router}, shared by the request listeners and the reloader, which swaps it in one
 * assignment so each request sees either the old routes or the new ones.
 *
 * @example
 * const routes = new RouteTable(new Router(config.routes, pools));
 * routes.current.match(host, path);
 * routes.current = new Router(next.routes, nextPools); // a reload
 */
export class RouteTable {
  current: Router;

  constructor(router: Router) {
    this.current = router;
  }
}
