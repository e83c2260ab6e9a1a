import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inPanic, type Selectable, selectTargets } from '../../src/upstream/selection.ts';

interface T extends Selectable {
  readonly id: string;
  healthy: boolean;
  drained: boolean;
  breaker: { state: string; retryAfter: number } | undefined;
}

function target(id: string, state?: string, retryAfter = 1_000): T {
  return {
    id,
    healthy: true,
    drained: false,
    breaker: state === undefined ? undefined : { state, retryAfter },
  };
}

const ids = (targets: readonly T[]) => targets.map((t) => t.id);
const rules = { maxEjectedPercent: 100, panicThreshold: 0 };

test('panics when the eligible share is below the threshold', () => {
  assert.equal(inPanic(1, 4, 50), true);
  assert.equal(inPanic(2, 4, 50), false, 'exactly at the threshold is not below it');
  assert.equal(inPanic(0, 3, 1), true);
});

test('never panics with a 0 % threshold or an empty upstream', () => {
  assert.equal(inPanic(0, 4, 0), false);
  assert.equal(inPanic(0, 0, 50), false);
});

test('a target is eligible when healthy, undrained, not forced open and not ejected', () => {
  const targets = [
    target('ok', 'closed'),
    target('trial', 'half-open'),
    target('down'),
    target('drained'),
    target('forced', 'forced-open'),
    target('ejected', 'open'),
    target('no-breaker'),
  ];
  targets[2]!.healthy = false;
  targets[3]!.drained = true;
  const selection = selectTargets(targets, rules);
  assert.deepEqual(ids(selection.eligible), ['ok', 'trial', 'no-breaker']);
  assert.equal(selection.panic, false);
  assert.equal(selection.candidates, selection.eligible);
});

test('a target readmitted over the ejection cap is eligible', () => {
  // Two of four open, one ejection allowed: the longest (b) stays out, a is readmitted.
  const targets = [
    target('a', 'open', 1_000),
    target('b', 'open', 9_000),
    target('c'),
    target('d'),
  ];
  const selection = selectTargets(targets, { maxEjectedPercent: 25, panicThreshold: 0 });
  assert.deepEqual(ids(selection.eligible), ['a', 'c', 'd']);
});

test('in panic every undrained target not forced open is a candidate', () => {
  const targets = [
    target('a', 'open'),
    target('b', 'open'),
    target('c', 'forced-open'),
    target('d'),
    target('e'),
  ];
  targets[3]!.healthy = false;
  targets[4]!.drained = true;
  const selection = selectTargets(targets, { maxEjectedPercent: 100, panicThreshold: 50 });
  assert.deepEqual(ids(selection.eligible), []);
  assert.equal(selection.panic, true);
  assert.deepEqual(ids(selection.candidates), ['a', 'b', 'd']);
});

test('reuses the previous selection while no target changes eligibility', () => {
  const targets = [target('a', 'closed'), target('b', 'closed')];
  const first = selectTargets(targets, rules);
  assert.equal(selectTargets(targets, rules, first), first);
  targets[0]!.healthy = false;
  const second = selectTargets(targets, rules, first);
  assert.notEqual(second, first);
  assert.deepEqual(ids(second.eligible), ['b']);
});
