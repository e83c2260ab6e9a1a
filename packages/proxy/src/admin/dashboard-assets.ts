/**
 * The dashboard page's three files, served by the admin listener itself (no CDN: the page works
 * on a machine with no internet). They are read once, when the admin server is made, and carry a
 * Content-Security-Policy that allows only these same-origin files: no inline script, so an
 * injected string could not run even if it reached the page.
 */
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';

const FILES = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
} as const;

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

/**
 * The dashboard's files by path.
 *
 * @example
 * ```ts
 * const assets = new DashboardAssets();
 * if (assets.serve(path, req.method, res)) return;
 * ```
 */
export class DashboardAssets {
  readonly #assets = new Map<string, Asset>();

  constructor() {
    for (const [path, { file, type }] of Object.entries(FILES)) {
      const body = readFileSync(new URL(`./dashboard/${file}`, import.meta.url));
      this.#assets.set(path, { body, type });
    }
  }

  /** Total bytes of the page's files (uncompressed). */
  get size(): number {
    let total = 0;
    for (const asset of this.#assets.values()) total += asset.body.length;
    return total;
  }

  /** Answers `GET`/`HEAD` of a page file and returns true; false for any other path. */
  serve(path: string, method: string | undefined, res: ServerResponse): boolean {
    const asset = this.#assets.get(path);
    if (asset === undefined || (method !== 'GET' && method !== 'HEAD')) return false;
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': asset.type,
      'content-length': asset.body.length,
    });
    res.end(method === 'HEAD' ? undefined : asset.body);
    return true;
  }
}
