/**
 * `Retry-After` (RFC 9110 §10.2.3): how long a server asks the client to wait, as delay seconds
 * or as an HTTP-date.
 */

/**
 * The wait a `Retry-After` value asks for, in ms; `undefined` when the value is missing or not
 * valid. A date is measured against `serverNow` — the response's own `Date` header when it has
 * one, so the client's clock skew does not matter — and a date in the past means "now" (0).
 *
 * @example
 * ```ts
 * parseRetryAfter('120'); // 120_000
 * parseRetryAfter('Wed, 21 Oct 2026 07:28:00 GMT', Date.parse('Wed, 21 Oct 2026 07:27:00 GMT')); // 60_000
 * parseRetryAfter('soon'); // undefined
 * ```
 */
export function parseRetryAfter(
  value: string | null | undefined,
  serverNow: number = Date.now(),
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1_000;
  // Only the date forms carry letters and a comma or spaces; a bare "-5" or "1.5" is invalid.
  if (!/[a-z]/i.test(text)) return undefined;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - serverNow);
}

/**
 * The wait a response asks for through its `Retry-After` header, measured against its own `Date`
 * header when present, else against `Date.now()`.
 */
export function retryAfterOf(response: Response): number | undefined {
  const value = response.headers.get('retry-after');
  if (value === null) return undefined;
  const dateHeader = response.headers.get('date');
  const serverNow = dateHeader === null ? Number.NaN : Date.parse(dateHeader);
  return parseRetryAfter(value, Number.isNaN(serverNow) ? Date.now() : serverNow);
}

/**
 * Seconds for a `Retry-After` header from a wait in ms: rounded up, never below 1 second (a
 * half-open breaker with its trial slots taken reports 0 ms, and "retry after 0" invites a
 * stampede).
 *
 * @example
 * ```ts
 * res.setHeader('retry-after', retryAfterSeconds(breaker.retryAfter)); // 4 200 ms → "5"
 * ```
 */
export function retryAfterSeconds(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? Math.max(1, Math.ceil(ms / 1_000)) : 1;
}
