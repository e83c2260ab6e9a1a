/**
 * Durations in config files are written for people (`250ms`, `5s`, `1m`) or as a bare number of
 * milliseconds; everything inside the proxy works in milliseconds.
 */

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration into milliseconds, or returns `undefined` when the text is not a duration.
 *
 * @example
 * parseDuration('250ms'); // 250
 * parseDuration('1.5s'); // 1500
 * parseDuration(30); // 30
 */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  if (match === null) return undefined;
  const amount = Number(match[1]);
  const unit = UNIT_MS[match[2] ?? 'ms'] ?? 1;
  return Math.round(amount * unit);
}
