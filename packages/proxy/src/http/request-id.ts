/**
 * The request id that ties a request to its access-log line, its upstream request and any
 * error response: the client's `X-Request-Id` when it sent a usable one, otherwise a new one.
 *
 * A new id is UUID-shaped (8-4-4-4-12 hex) so log pipelines that expect UUIDs keep working, but
 * it is not a random v4 UUID: the first 80 bits are random once per process (and again after
 * 2^48 ids), the last 48 bits count up. Ids are unique within a process and, across processes,
 * with the odds of an 80-bit collision; one id reveals its neighbours from the same process.
 * That is fine for correlation, which is all a request id is for: it was never a secret (it is
 * echoed to clients and written to logs), so nothing may rely on it being unguessable.
 * `randomUUID()` per request cost more than the rest of the request's bookkeeping.
 */
import { randomBytes } from 'node:crypto';
import type { ProxiedRequest } from './client-message.ts';

// Longer ids are replaced: they would bloat every log line and upstream request.
const MAX_REQUEST_ID_LENGTH = 200;

/**
 * Returns the id for a request. node joins repeated `X-Request-Id` fields into `"a, b"`; only
 * then (a comma is in the value) the raw fields are scanned, so the first field's value is kept.
 *
 * @example
 * http.createServer((req, res) => res.setHeader('x-request-id', requestIdOf(req)));
 */
export function requestIdOf(req: Pick<ProxiedRequest, 'headers' | 'rawHeaders'>): string {
  const header = req.headers['x-request-id'];
  let given = typeof header === 'string' ? header : undefined;
  if (given !== undefined && given.indexOf(',') >= 0) given = firstRawValue(req.rawHeaders);
  return given !== undefined && given.length > 0 && given.length <= MAX_REQUEST_ID_LENGTH
    ? given
    : newRequestId();
}

// Counter values stay below 2^48 (12 hex digits), far inside a double's exact integers.
const COUNTER_LIMIT = 2 ** 48;
let prefix = '';
let counter = COUNTER_LIMIT;

function newRequestId(): string {
  if (counter >= COUNTER_LIMIT) {
    const hex = randomBytes(10).toString('hex');
    prefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-`;
    counter = 0;
  }
  return prefix + (counter++).toString(16).padStart(12, '0');
}

function firstRawValue(rawHeaders: readonly string[]): string | undefined {
  for (let i = 0; i < rawHeaders.length - 1; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 12 && name.toLowerCase() === 'x-request-id')
      return rawHeaders[i + 1]!.trim();
  }
  return undefined;
}
