/**
 * Runs the README's "Metrics for library users" snippet. The block between the markers is the
 * README's, verbatim: change both together.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
// README: prometheus
import { instrument } from '@breakwater/prometheus';
import { BreakerRegistry, consecutiveFailures } from 'breakwater';
import { register } from 'prom-client';

const breakers = new BreakerRegistry({ defaults: { policy: consecutiveFailures(5) } });
const metrics = instrument(breakers, { register }); // breakers made later are counted too
// …and to stop: metrics.dispose()
// README end

test("the README's instrument() snippet exports a registry's breakers to the default register", async () => {
  await breakers.get('payments').execute(() => Promise.resolve('paid'));
  const text = await register.metrics();
  assert.match(text, /breakwater_breaker_calls_total\{breaker="payments",outcome="success"\} 1/);
  assert.match(text, /breakwater_breaker_state\{breaker="payments",state="closed"\} 1/);
  metrics.dispose();
  assert.equal(register.getSingleMetric('breakwater_breaker_state'), undefined);
});
