import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidOptionError, ManualClock } from 'breakwater';
import { PeakEwmaBalancer } from '../../../src/upstream/balancers/peak-ewma.ts';
import { request, seededRandom, type TestTarget, tally, target } from '../../support/balancing.ts';

function setup(decay = 10_000) {
  const clock = new ManualClock();
  const balancer = new PeakEwmaBalancer<TestTarget>({ clock, decay, random: seededRandom(3) });
  return { clock, balancer };
}

test('a slow response raises the latency average at once', () => {
  const { clock, balancer } = setup();
  balancer.observe(target('a'), 5);
  clock.advance(1);
  balancer.observe(target('a'), 200);
  assert.equal(balancer.latency(target('a')), 200);
});

test('with no responses the average decays over the configured time constant', () => {
  const { clock, balancer } = setup(2_000);
  balancer.observe(target('a'), 200);
  clock.advance(2_000);
  assert.ok(Math.abs(balancer.latency(target('a'))! - 200 / Math.E) < 1e-9);
  clock.advance(2_000);
  assert.ok(Math.abs(balancer.latency(target('a'))! - 200 / Math.E ** 2) < 1e-9);
});

test('fast responses pull the average down over the time constant, not at once', () => {
  const { clock, balancer } = setup(1_000);
  balancer.observe(target('a'), 200);
  clock.advance(10);
  balancer.observe(target('a'), 1);
  assert.ok(balancer.latency(target('a'))! > 190, 'one fast answer barely moves it');
  for (let t = 0; t < 1_000; t += 10) {
    clock.advance(10);
    balancer.observe(target('a'), 1);
  }
  // After about one time constant of fast answers, the distance to them has shrunk by e.
  const remaining = balancer.latency(target('a'))! - 1;
  assert.ok(remaining < 199 / Math.E && remaining > 199 / Math.E ** 1.2, `${remaining}`);
});

test('avoids a target from its first slow response', () => {
  const { clock, balancer } = setup();
  const targets = [target('a'), target('b'), target('slow')];
  for (const t of targets) balancer.observe(t, 1);
  clock.advance(5);
  balancer.observe(target('slow'), 200);
  const counts = tally(() => balancer.pick(targets, request()), 1_000);
  assert.equal(counts.get('slow') ?? 0, 0);
});

test('tries an avoided target again once its average has decayed', () => {
  const { clock, balancer } = setup(1_000);
  const targets = [target('a'), target('slow')];
  balancer.observe(target('a'), 2);
  balancer.observe(target('slow'), 200);
  assert.equal(balancer.pick(targets, request())?.id, 'a');
  // 200 ms × e^-5 ≈ 1.3 ms: cheaper than a's 2 ms, which stays fresh.
  clock.advance(5_000);
  balancer.observe(target('a'), 2);
  assert.equal(balancer.pick(targets, request())?.id, 'slow');
});

test('weighs latency by requests in flight', () => {
  const { balancer } = setup();
  const fastButBusy = target('busy', 1, 9);
  const slowerIdle = target('idle', 1, 0);
  balancer.observe(target('busy'), 10);
  balancer.observe(target('idle'), 50);
  // 10 × 10 = 100 against 50 × 1 = 50.
  assert.equal(balancer.pick([fastButBusy, slowerIdle], request()), slowerIdle);
});

test('while latencies are unknown it balances on requests in flight', () => {
  const { balancer } = setup();
  const targets = [target('a', 1, 3), target('b', 1, 0)];
  assert.equal(balancer.pick(targets, request())?.id, 'b');
});

test('respects weights: a target of weight 3 takes about three times the share', () => {
  const { balancer } = setup();
  const targets = [target('heavy', 3), target('light', 1)];
  for (const t of targets) balancer.observe(t, 10);
  // Closed-loop: each pick adds a request in flight; each pick after the 40th frees the oldest.
  const inFlight: TestTarget[] = [];
  const counts = new Map<string, number>();
  for (let i = 0; i < 4_000; i++) {
    const chosen = balancer.pick(targets, request())!;
    chosen.activeRequests++;
    inFlight.push(chosen);
    counts.set(chosen.id, (counts.get(chosen.id) ?? 0) + 1);
    if (inFlight.length > 40) inFlight.shift()!.activeRequests--;
  }
  const ratio = (counts.get('heavy') ?? 0) / (counts.get('light') ?? 1);
  assert.ok(ratio > 2.5 && ratio < 3.5, `heavy:light = ${ratio}`);
});

test('never picks a target that is not a candidate', () => {
  const { balancer } = setup();
  const eligible = [target('a'), target('b'), target('c')];
  balancer.observe(target('ejected'), 0.5); // the cheapest of all, but not eligible
  for (const t of eligible) balancer.observe(t, 100);
  const counts = tally(() => balancer.pick(eligible, request()), 500);
  assert.equal(counts.has('ejected'), false);
  assert.equal(balancer.pick([], request()), undefined);
  const only = target('only');
  assert.equal(balancer.pick([only], request()), only);
});

test('a new or readmitted target starts at the median of the others, neither flooded nor starved', () => {
  const clock = new ManualClock();
  // Each pick draws the fourth candidate, then the first.
  const draws: number[] = [];
  const balancer = new PeakEwmaBalancer<TestTarget>({ clock, random: () => draws.shift() ?? 0 });
  const [a, b, slow] = [target('a'), target('b'), target('slow')];
  balancer.observe(target('a'), 10);
  balancer.observe(target('b'), 12);
  balancer.observe(target('slow'), 500);
  draws.push(0.8, 0);
  assert.equal(balancer.pick([a, b, slow, target('fresh')], request())?.id, 'a');
  assert.equal(balancer.latency(target('fresh')), 12);

  balancer.observe(target('b'), 300);
  balancer.forget(target('b')); // ejected
  assert.equal(balancer.latency(target('b')), undefined);
  draws.push(0.8, 0);
  balancer.pick([a, slow, target('fresh'), b], request());
  assert.equal(balancer.latency(target('b')), 12, 'readmitted without its old penalty');
});

test('refuses a decay that is not a positive number of ms', () => {
  for (const decay of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(
      () => new PeakEwmaBalancer({ decay }),
      (error: unknown) => error instanceof InvalidOptionError && error.option === 'decay',
    );
  }
});
