/**
 * Sizes in config files are written for people (`64kb`, `1mb`) or as a bare number of bytes.
 * Units are binary (1kb = 1024 bytes), as nginx and HAProxy read them. Each size key has a
 * largest sensible value (below); the schema refuses anything above it rather than clamping.
 */

/** Largest `limits.maxHeaderSize`: Node's parser holds a whole head in memory per connection. */
export const MAX_HEADER_SIZE = 1024 ** 2;
/** Largest size of anything buffered in memory per request (`retry.replayBodyUpTo`). */
export const MAX_BUFFER_SIZE = 1024 ** 3;
/** Largest `limits.maxBodySize` (bodies are streamed; beyond 1 TiB is a typo, not a limit). */
export const MAX_BODY_SIZE = 1024 ** 4;

const UNIT_BYTES: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1024,
  k: 1024,
  mb: 1024 ** 2,
  m: 1024 ** 2,
  gb: 1024 ** 3,
  g: 1024 ** 3,
};

/**
 * Parses a size into bytes, or returns `undefined` when the value is not a size. The value is not
 * bounded here (hundreds of digits give `Infinity`): the schema compares it with the key's maximum.
 *
 * @example
 * parseByteSize('64kb'); // 65536
 * parseByteSize('1.5mb'); // 1572864
 * parseByteSize(100); // 100
 */
export function parseByteSize(value: string | number): number | undefined {
  if (typeof value === 'number') {
    return (Number.isInteger(value) || value === Number.POSITIVE_INFINITY) && value >= 0
      ? value
      : undefined;
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  if (match === null) return undefined;
  const unit = UNIT_BYTES[(match[2] ?? '').toLowerCase() || 'b'];
  if (unit === undefined) return undefined;
  return Math.round(Number(match[1]) * unit);
}
