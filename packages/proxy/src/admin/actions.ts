/**
 * The admin API's write endpoints: drain and enable a target, reload the config. Every one is a
 * POST answered with JSON; errors carry a stable `code`.
 *
 * - `POST /api/upstreams/{name}/targets/{index}/drain` — the target takes no new requests;
 *   those in flight finish. `{index}` is the target's position in the upstream's `targets`.
 * - `POST /api/upstreams/{name}/targets/{index}/enable` — undoes a drain.
 * - `POST /api/reload` — re-reads the config file; 200 with what changed, 422 with the
 *   config's issues (the running config stays), 409 when there is no file to re-read.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ReloadResult } from '../reload/reload.ts';
import type { UpstreamPool } from '../upstream/upstream-pool.ts';

/** What the write endpoints need from the running proxy. */
export interface AdminActionContext {
  readonly pools: () => Iterable<UpstreamPool>;
  /** Told after a drain or enable, so the dashboard shows it at once. */
  readonly targetsChanged?: (() => void) | undefined;
  /** Re-reads and applies the config file; absent when the proxy cannot reload. */
  readonly reload?: (() => Promise<ReloadResult>) | undefined;
}

/** Codes of the admin API's own error responses. */
export type AdminErrorCode =
  | 'UNKNOWN_UPSTREAM'
  | 'UNKNOWN_TARGET'
  | 'METHOD_NOT_ALLOWED'
  | 'INVALID_CONFIG'
  | 'RELOAD_UNAVAILABLE'
  | 'RELOAD_FAILED';

const TARGET_ACTION = /^\/api\/upstreams\/([^/]+)\/targets\/([^/]+)\/(drain|enable)$/;

/**
 * Handles `req` when `path` is a write endpoint and returns true; returns false for any other
 * path. Authorization has been checked by the caller.
 *
 * @example
 * if (handleAdminAction(req, res, path, { pools: () => upstreams.values(), reload })) return;
 */
export function handleAdminAction(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  context: AdminActionContext,
): boolean {
  const targetAction = TARGET_ACTION.exec(path);
  if (targetAction === null && path !== '/api/reload') return false;
  // A body is not expected; read it off so the connection can be reused.
  req.resume();
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    sendAdminError(res, 405, 'METHOD_NOT_ALLOWED', `${req.method} is not supported here; use POST`);
    return true;
  }
  if (targetAction === null) {
    reload(res, context);
    return true;
  }
  const [, encodedName = '', indexText = '', action] = targetAction;
  setDrained(res, context, decode(encodedName), indexText, action === 'drain');
  return true;
}

function setDrained(
  res: ServerResponse,
  context: AdminActionContext,
  name: string,
  indexText: string,
  drained: boolean,
): void {
  let pool: UpstreamPool | undefined;
  for (const candidate of context.pools()) if (candidate.name === name) pool = candidate;
  if (pool === undefined) {
    sendAdminError(res, 404, 'UNKNOWN_UPSTREAM', `No upstream named ${JSON.stringify(name)}`);
    return;
  }
  const index = /^\d{1,6}$/.test(indexText) ? Number(indexText) : -1;
  const target = pool.targets[index];
  if (target === undefined) {
    sendAdminError(
      res,
      404,
      'UNKNOWN_TARGET',
      `Upstream ${name} has no target ${JSON.stringify(indexText)} (indexes 0 to ${pool.targets.length - 1})`,
    );
    return;
  }
  target.drained = drained;
  context.targetsChanged?.();
  sendAdminJson(res, 200, {
    upstream: pool.name,
    index,
    url: target.id,
    drained: target.drained,
    activeRequests: target.activeRequests,
  });
}

function reload(res: ServerResponse, context: AdminActionContext): void {
  if (context.reload === undefined) {
    sendAdminError(res, 409, 'RELOAD_UNAVAILABLE', 'This proxy cannot reload its config');
    return;
  }
  context.reload().then(
    (result) => {
      if (result.status !== 'rejected') {
        sendAdminJson(res, 200, result);
        return;
      }
      const { code, message, issues } = result.error;
      const status = code === 'INVALID_CONFIG' ? 422 : code === 'RELOAD_UNAVAILABLE' ? 409 : 500;
      sendAdminJson(res, status, { error: { code, message, issues } });
    },
    (error: unknown) => {
      sendAdminError(res, 500, 'RELOAD_FAILED', error instanceof Error ? error.message : 'failed');
    },
  );
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function sendAdminError(
  res: ServerResponse,
  status: number,
  code: AdminErrorCode,
  message: string,
): void {
  sendAdminJson(res, status, { error: { code, message } });
}

function sendAdminJson(res: ServerResponse, status: number, value: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}
