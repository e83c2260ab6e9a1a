/**
 * Markdown tables and number formats shared by the suites, so the terminal output, the JSON and
 * bench/LATEST.md say the same thing in the same units.
 */

/**
 * A GitHub-flavoured markdown table. Columns after the first are right-aligned (numbers) unless
 * listed in `textColumns`.
 */
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  textColumns: readonly number[] = [],
): string {
  const align = header.map((_, index) =>
    index === 0 || textColumns.includes(index) ? ':---' : '---:',
  );
  const lines = [header, align, ...rows].map((cells) => `| ${cells.join(' | ')} |`);
  return lines.join('\n');
}

/** Nanoseconds, shown in the unit a reader compares at a glance. */
export function formatNanoseconds(ns: number | undefined): string {
  if (ns === undefined || !Number.isFinite(ns)) return 'n/a';
  if (ns < 1_000) return `${ns.toFixed(0)} ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(2)} µs`;
  return `${(ns / 1_000_000).toFixed(2)} ms`;
}

/** Milliseconds with a precision that suits latency percentiles. */
export function formatMilliseconds(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return 'n/a';
  if (ms < 1) return `${(ms * 1_000).toFixed(0)} µs`;
  if (ms < 100) return `${ms.toFixed(2)} ms`;
  return `${ms.toFixed(0)} ms`;
}

/** A count with thousands separators. */
export function formatCount(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return 'n/a';
  return Math.round(value).toLocaleString('en-US');
}

/** Bytes in KiB or MiB. */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return 'n/a';
  if (Math.abs(bytes) < 10 * 1024) return `${bytes.toFixed(0)} B`;
  if (Math.abs(bytes) < 10 * 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** `a / b` as "1.23×", or "n/a" when either side is missing. */
export function formatRatio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) {
    return 'n/a';
  }
  return `${(a / b).toFixed(2)}×`;
}

/** The median of some numbers (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length % 2 === 1) return sorted[middle];
  return ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** The arithmetic mean, or `undefined` for no values. */
export function mean(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

/** "met" / "MISSED" for a target line. */
export function verdict(met: boolean | undefined): string {
  if (met === undefined) return 'not measured';
  return met ? 'met' : '**MISSED**';
}
