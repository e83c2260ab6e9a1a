/**
 * Building blocks of the config schema shared by its files: error messages that say what was
 * expected and what was found, durations, positive whole numbers, listen addresses.
 */
import { z } from 'zod';
import { MAX_DURATION_MS, parseDuration } from './duration.ts';
import { parseListenAddress } from './listen-address.ts';

/**
 * A zod error callback that says what was expected and what was found, or that the key is
 * missing.
 */
export function expected(what: string) {
  return (issue: { input?: unknown }): string =>
    issue.input === undefined
      ? `required: ${what}`
      : `${what}, received ${describeInput(issue.input)}`;
}

export function describeInput(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  if (typeof input === 'string') return JSON.stringify(input);
  return String(input);
}

export const DURATION = 'expected a duration like 250ms, 5s, 1m or a number of milliseconds';

export const duration = z
  .union([z.number(), z.string()], { error: expected(DURATION) })
  .transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `${DURATION}, received ${describeInput(value)}` });
      return z.NEVER;
    }
    if (ms > MAX_DURATION_MS) {
      // Node's timers truncate a longer delay to 1 ms: refused, never shortened.
      ctx.addIssue({
        code: 'custom',
        message: `expected at most ${MAX_DURATION_MS} ms (about 24.8 days, the longest a timer can wait), received ${describeInput(value)}`,
      });
      return z.NEVER;
    }
    return ms;
  });

export const positiveDuration = duration.refine(
  (ms) => ms > 0,
  'expected a duration greater than 0',
);

export const positiveInt = z
  .number({ error: expected('expected a positive whole number') })
  .int('expected a positive whole number')
  .positive('expected a positive whole number');

export const LISTEN = 'expected "host:port" such as 127.0.0.1:8080';

export const listenAddress = z.string({ error: expected(LISTEN) }).transform((text, ctx) => {
  const parsed = parseListenAddress(text);
  if (parsed === undefined) {
    ctx.addIssue({ code: 'custom', message: `${LISTEN}, received ${describeInput(text)}` });
    return z.NEVER;
  }
  return parsed;
});
