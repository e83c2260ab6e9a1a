/**
 * Request targets (RFC 9112 §3.2). Upstreams get origin-form (`/path?query`). A client may send
 * absolute-form (`http://host/path`), which a server must accept and whose authority replaces
 * Host; asterisk-form (`OPTIONS *`) and authority-form (`CONNECT host:port`) are not forwarded.
 */

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
