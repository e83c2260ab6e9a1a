/**
 * Durations in config files are written for people (`250ms`, `5s`, `1m`) or as a bare number of
 * milliseconds; everything inside the proxy works in milliseconds. Every duration ends up in a
 * timer, and a Node timer holds at most {@link MAX_DURATION_MS}: a longer delay fires after 1 ms
 * (a `shutdownTimeout: 1000h` would kill in-flight requests at once), so the schema refuses it.
 */

/** The longest duration a config may give: 2^31-1 ms (about 24.8 days), a timer's limit. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration into milliseconds, or returns `undefined` when the text is not a duration.
 * The value is not bounded here (a 400-digit number gives `Infinity`): the caller compares it
 * with {@link MAX_DURATION_MS} and says so.
 *
 * @example
 * parseDuration('250ms'); // 250
 * parseDuration('1.5s'); // 1500
 * parseDuration(30); // 30
 */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return value >= 0 ? value : undefined; // NaN fails too
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  if (match === null) return undefined;
  const amount = Number(match[1]);
  const unit = UNIT_MS[match[2] ?? 'ms'] ?? 1;
  return Math.round(amount * unit);
}
