/**
 * Request targets (RFC 9112 §3.2). Upstreams get origin-form (`/path?query`). A client may send
 * absolute-form (`http://host/path`), which a server must accept and whose authority replaces
 * Host; asterisk-form (`OPTIONS *`) and authority-form (`CONNECT host:port`) are not forwarded.
 */
import type { IncomingMessage } from 'node:http';

/** The origin-form path and Host for a request target that is not already origin-form. */
export interface OriginForm {
  readonly path: string;
  readonly host: string;
}

/**
 * Converts an absolute-form target to origin-form, or returns `undefined` when the target cannot
 * be forwarded. Only called when the target does not start with `/`.
 *
 * @example
 * toOriginForm('http://api.example.com/v1?x=1'); // { path: '/v1?x=1', host: 'api.example.com' }
 * toOriginForm('*'); // undefined
 */
export function toOriginForm(target: string): OriginForm | undefined {
  if (!target.startsWith('http://') && !target.startsWith('https://')) return undefined;
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return undefined;
  }
  if (url.host === '') return undefined;
  return { path: `${url.pathname}${url.search}`, host: url.host };
}

/**
 * Brings a request to origin-form in place and returns its path, or `undefined` when its target
 * cannot be forwarded (the request is left untouched then). For absolute-form, `req.url` becomes
 * the origin-form path and the URI's authority replaces Host (RFC 9112 §3.2.2), so routing and the
 * upstream see the same host. Shared by plain requests and upgrades.
 *
 * @example
 * // GET http://api.example.com/v1 HTTP/1.1
 * toOriginFormRequest(req); // '/v1'; req.url === '/v1', req.headers.host === 'api.example.com'
 */
export function toOriginFormRequest(
  req: Pick<IncomingMessage, 'url' | 'headers'>,
): string | undefined {
  const target = req.url ?? '/';
  if (target.charCodeAt(0) === 47 /* '/' */) return target;
  const originForm = toOriginForm(target);
  if (originForm === undefined) return undefined;
  req.url = originForm.path;
  req.headers.host = originForm.host;
  return originForm.path;
}
