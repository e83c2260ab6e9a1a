import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UpstreamPool } from '../../src/upstream/upstream-pool.ts';
import { eject, guardedPool } from '../support/ejections.ts';

const request = { method: 'GET', path: '/', headers: {}, remoteAddress: '127.0.0.1' };

function pool(): UpstreamPool {
  return UpstreamPool.fromConfig('api', {
    balance: 'round-robin',
    targets: [
      { url: 'http://127.0.0.1:8001', weight: 1 },
      { url: 'http://127.0.0.1:8002', weight: 2 },
    ],
    timeouts: { connect: 1000, response: 1000, idle: 1000 },
  });
}

test('offers only healthy, undrained targets whose breaker is not open', async () => {
  const upstream = pool();
  const [a, b] = upstream.targets;
  assert.deepEqual(
    upstream.eligible().map((t) => t.id),
    [a!.id, b!.id],
  );
  a!.healthy = false;
  assert.deepEqual(
    upstream.eligible().map((t) => t.id),
    [b!.id],
  );
  b!.drained = true;
  assert.equal(upstream.pick(request), undefined);
  a!.healthy = true;
  b!.drained = false;
  b!.breaker = { state: 'open', retryAfter: 1_000, tryAcquire: () => undefined };
  assert.deepEqual(
    upstream.eligible().map((t) => t.id),
    [a!.id],
  );
  b!.breaker = { state: 'half-open', retryAfter: 0, tryAcquire: () => undefined };
  assert.equal(upstream.eligible().length, 2);
  await upstream.close();
});

test('picks among eligible targets with the configured balancer', async () => {
  const upstream = pool();
  const picks = [1, 2, 3, 4].map(() => upstream.pick(request)?.id);
  assert.deepEqual(picks, [
    'http://127.0.0.1:8001',
    'http://127.0.0.1:8002',
    'http://127.0.0.1:8001',
    'http://127.0.0.1:8002',
  ]);
  assert.equal(upstream.balance, 'round-robin');
  await upstream.close();
});

describe('admission', () => {
  test('gives a recovering target its one half-open trial and sends the rest elsewhere', async () => {
    const { upstream, clock } = guardedPool(2);
    eject(upstream, 1);
    clock.advance(10_000);
    const admissions = [1, 2, 3, 4].map(() => upstream.admit(request));
    const toRecovering = admissions.filter((a) => a?.target === upstream.targets[1]);
    assert.equal(toRecovering.length, 1, 'one trial while half-open');
    assert.ok(toRecovering[0]?.permit, 'the trial carries a permit');
    toRecovering[0]!.permit!.success();
    assert.equal(upstream.targets[1]!.breaker!.state, 'closed');
    for (const admission of admissions) admission?.permit?.ignore();
    await upstream.close();
  });

  test('answers undefined when every target is ejected, with the soonest breaker as retryAfter', async () => {
    const { upstream, clock } = guardedPool(2);
    eject(upstream, 0);
    clock.advance(4_000);
    eject(upstream, 1);
    assert.equal(upstream.admit(request), undefined);
    assert.equal(upstream.retryAfter(), 6_000);
    await upstream.close();
  });

  test('does not honour ejections beyond maxEjectedPercent; those targets go without a permit', async () => {
    const { upstream, clock } = guardedPool(4, { maxEjectedPercent: 25 });
    eject(upstream, 0);
    clock.advance(1_000);
    eject(upstream, 1);
    // One of four may be out: the longest ejection (target 1) is honoured, target 0 is readmitted.
    const picked = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const admission = upstream.admit(request);
      assert.ok(admission);
      picked.add(admission.target.id);
      if (admission.target === upstream.targets[0]) assert.equal(admission.permit, undefined);
      else admission.permit?.ignore();
    }
    assert.ok(picked.has(upstream.targets[0]!.id));
    assert.ok(!picked.has(upstream.targets[1]!.id));
    await upstream.close();
  });

  test('balances over every target below the panic threshold', async () => {
    const { upstream } = guardedPool(4, { panicThreshold: 50 });
    eject(upstream, 0);
    assert.equal(upstream.inPanic(), false);
    eject(upstream, 1);
    eject(upstream, 2);
    assert.equal(upstream.inPanic(), true, '1 of 4 eligible is below 50 %');
    const picked = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const admission = upstream.admit(request);
      assert.ok(admission);
      picked.add(admission.target.id);
      admission.permit?.ignore();
    }
    assert.equal(picked.size, 4);
    await upstream.close();
  });

  test('avoids targets already tried while another exists', async () => {
    const { upstream } = guardedPool(3);
    const tried = new Set([upstream.targets[0]!, upstream.targets[1]!]);
    for (let i = 0; i < 3; i++) {
      const admission = upstream.admit(request, tried);
      assert.equal(admission?.target, upstream.targets[2]);
      admission?.permit?.ignore();
    }
    upstream.targets[2]!.drained = true;
    assert.ok(upstream.admit(request, tried), 'falls back to a tried target');
    await upstream.close();
  });
});
