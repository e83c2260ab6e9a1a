/**
 * The request id that ties a request to its access-log line, its upstream request and any
 * error response: the client's `X-Request-Id` when it sent a usable one, otherwise a new UUID.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

// Longer ids are replaced: they would bloat every log line and upstream request.
const MAX_REQUEST_ID_LENGTH = 200;

/**
 * Returns the id for a request. node joins repeated `X-Request-Id` fields into `"a, b"`; only
 * then (a comma is in the value) the raw fields are scanned, so the first field's value is kept.
 *
 * @example
 * http.createServer((req, res) => res.setHeader('x-request-id', requestIdOf(req)));
 */
export function requestIdOf(req: Pick<IncomingMessage, 'headers' | 'rawHeaders'>): string {
  const header = req.headers['x-request-id'];
  let given = typeof header === 'string' ? header : undefined;
  if (given !== undefined && given.indexOf(',') >= 0) given = firstRawValue(req.rawHeaders);
  return given !== undefined && given.length > 0 && given.length <= MAX_REQUEST_ID_LENGTH
    ? given
    : randomUUID();
}

function firstRawValue(rawHeaders: readonly string[]): string | undefined {
  for (let i = 0; i < rawHeaders.length - 1; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 12 && name.toLowerCase() === 'x-request-id')
      return rawHeaders[i + 1]!.trim();
  }
  return undefined;
}
