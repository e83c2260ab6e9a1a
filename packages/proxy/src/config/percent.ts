/**
 * Shares in config files: `10%`, or a bare number read as percent (`maxEjectedPercent: 50`).
 */

/**
 * Parses a percentage from 0 to 100, or returns `undefined` when the value is not one.
 *
 * @example
 * parsePercent('10%'); // 10
 * parsePercent(50); // 50
 * parsePercent('150%'); // undefined
 */
export function parsePercent(value: string | number): number | undefined {
  let amount: number;
  if (typeof value === 'number') amount = value;
  else {
    const match = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(value);
    if (match === null) return undefined;
    amount = Number(match[1]);
  }
  return Number.isFinite(amount) && amount >= 0 && amount <= 100 ? amount : undefined;
}
