import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ejectionAllowed, maxEjections } from '../../src/upstream/ejection-cap.ts';

function target(id: string, state = 'closed', retryAfter = 0) {
  return { id, breaker: { state, retryAfter } };
}

test('allows floor(n × percent) ejections, at least one unless the percent is 0', () => {
  assert.equal(maxEjections(10, 50), 5);
  assert.equal(maxEjections(5, 50), 2);
  assert.equal(maxEjections(3, 10), 1);
  assert.equal(maxEjections(4, 100), 4);
  assert.equal(maxEjections(4, 0), 0);
  assert.equal(maxEjections(0, 50), 0);
});

test('honours every ejection within the cap', () => {
  const targets = [target('a', 'open', 10), target('b'), target('c'), target('d')];
  assert.deepEqual([...ejectionAllowed(targets, 50)], [targets[0]]);
});

test('over the cap, keeps ejected those with the longest wait and readmits the rest', () => {
  const targets = [
    target('a', 'open', 5_000),
    target('b', 'open', 20_000),
    target('c', 'open', 10_000),
    target('d'),
  ];
  const ejected = ejectionAllowed(targets, 50);
  assert.deepEqual(
    [...ejected].map((t) => t.id),
    ['b', 'c'],
  );
});

test('breaks ties by list order, so the answer is stable across requests', () => {
  const targets = [target('a', 'open', 1), target('b', 'open', 1), target('c', 'open', 1)];
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(
      [...ejectionAllowed(targets, 34)].map((t) => t.id),
      ['a'],
    );
  }
});

test('ignores forced-open, half-open and breaker-less targets', () => {
  const targets = [
    target('a', 'forced-open', 100),
    target('b', 'half-open'),
    { id: 'c', breaker: undefined },
    target('d'),
  ];
  assert.equal(ejectionAllowed(targets, 50).size, 0);
});

test('honours no ejection at 0 percent', () => {
  const targets = [target('a', 'open', 100), target('b')];
  assert.equal(ejectionAllowed(targets, 0).size, 0);
});
