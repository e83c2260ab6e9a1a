/**
 * Which HTTP statuses count as a passing health check: inclusive ranges such as `200-399`.
 */

/** An inclusive range of HTTP status codes, `[lowest, highest]`. */
export type StatusRange = readonly [number, number];

/** The default for health checks: any 2xx or 3xx. */
export const defaultHealthyStatuses: readonly StatusRange[] = [[200, 399]];

/** A status-range spec that could not be parsed. */
export class StatusRangeError extends Error {
  readonly code = 'ERR_INVALID_STATUS_RANGE';

  constructor(spec: unknown, reason: string) {
    super(`Invalid status range ${JSON.stringify(spec)}: ${reason}`);
    this.name = 'StatusRangeError';
  }
}

/**
 * Parses `200`, `'200-399'`, `'200-299, 404'` or an array of those into ranges. Throws a
 * {@link StatusRangeError} (code `ERR_INVALID_STATUS_RANGE`) for anything outside 100–599, a
 * reversed range or text that is not a status.
 *
 * @example
 * ```ts
 * parseStatusRanges('200-299, 404'); // [[200, 299], [404, 404]]
 * parseStatusRanges([200, '300-399']); // [[200, 200], [300, 399]]
 * ```
 */
export function parseStatusRanges(
  spec: number | string | readonly (number | string)[],
): StatusRange[] {
  const parts = Array.isArray(spec) ? spec : [spec];
  const ranges: StatusRange[] = [];
  for (const part of parts as readonly (number | string)[]) {
    const pieces = typeof part === 'number' ? [String(part)] : String(part).split(',');
    for (const piece of pieces) ranges.push(parseOne(piece.trim(), spec));
  }
  if (ranges.length === 0) throw new StatusRangeError(spec, 'no status given');
  return ranges;
}

function parseOne(text: string, spec: unknown): StatusRange {
  const match = /^(\d{3})(?:\s*-\s*(\d{3}))?$/.exec(text);
  if (!match) throw new StatusRangeError(spec, `"${text}" is not a status or a range like 200-399`);
  const low = Number(match[1]);
  const high = match[2] === undefined ? low : Number(match[2]);
  if (low < 100 || high > 599) throw new StatusRangeError(spec, `"${text}" is outside 100-599`);
  if (high < low) throw new StatusRangeError(spec, `"${text}" ends before it starts`);
  return [low, high];
}

/**
 * True when `status` falls inside one of `ranges`.
 *
 * @example
 * ```ts
 * statusInRanges(204, [[200, 399]]); // true
 * ```
 */
export function statusInRanges(status: number, ranges: readonly StatusRange[]): boolean {
  for (const [low, high] of ranges) if (status >= low && status <= high) return true;
  return false;
}
