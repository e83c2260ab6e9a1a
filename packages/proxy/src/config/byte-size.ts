/**
 * Sizes in config files are written for people (`64kb`, `1mb`) or as a bare number of bytes.
 * Units are binary (1kb = 1024 bytes), as nginx and HAProxy read them.
 */

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
 * Parses a size into bytes, or returns `undefined` when the value is not a size.
 *
 * @example
 * parseByteSize('64kb'); // 65536
 * parseByteSize('1.5mb'); // 1572864
 * parseByteSize(100); // 100
 */
export function parseByteSize(value: string | number): number | undefined {
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 0 ? value : undefined;
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  if (match === null) return undefined;
  const unit = UNIT_BYTES[(match[2] ?? '').toLowerCase() || 'b'];
  if (unit === undefined) return undefined;
  return Math.round(Number(match[1]) * unit);
}
