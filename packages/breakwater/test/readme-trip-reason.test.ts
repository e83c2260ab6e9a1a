/**
 * Runs the README's "why did it open" example. The block between the markers
 * (`README: why-open` … `README end`) is the README snippet, verbatim: change both together.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

// README: why-open
import { CircuitBreaker, failureRate } from 'breakwater';

const payments = new CircuitBreaker({
  name: 'payments',
  policy: failureRate({ threshold: 0.5, minimumCalls: 10, window: { duration: 10_000 } }),
});

payments.on('open', ({ reason, openDuration }) => {
  // "payments open for 30000 ms: failure rate 60 % ≥ 50 % over 10 calls in the last 10 s"
  console.warn(`payments open for ${openDuration} ms: ${reason.text}`);
  // [{ msBeforeTrip: 0.4, error: 'ECONNRESET', message: 'socket hang up', durationMs: 0.1 }, …]
  console.warn(reason.recentFailures);
});

// The snapshot of an open breaker carries the same reason, as JSON, for a status page.
export const whyOpen = () => payments.snapshot().reason?.text ?? 'closed';
// README end

test('the README example logs why the breaker opened, and its snapshot says the same', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const hangUp = () =>
    Promise.reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
  for (let i = 0; i < 4; i++) await payments.execute(async () => 'paid');
  for (let i = 0; i < 6; i++) await payments.execute(hangUp).catch(() => {});
  assert.equal(payments.state, 'open');
  const text = 'failure rate 60 % ≥ 50 % over 10 calls in the last 10 s';
  assert.equal(warn.mock.calls[0]?.arguments[0], `payments open for 30000 ms: ${text}`);
  const failures = warn.mock.calls[1]?.arguments[0] as { error: string; durationMs: number }[];
  assert.equal(failures.length, 5);
  assert.ok(failures.every((failure) => failure.error === 'ECONNRESET'));
  assert.ok(failures.every((failure) => typeof failure.durationMs === 'number'));
  assert.equal(whyOpen(), text);
});
