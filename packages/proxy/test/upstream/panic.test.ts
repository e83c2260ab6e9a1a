import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inPanic, panicCandidates } from '../../src/upstream/panic.ts';

test('panics when the healthy share is below the threshold', () => {
  assert.equal(inPanic(1, 4, 50), true);
  assert.equal(inPanic(2, 4, 50), false, 'exactly at the threshold is not below it');
  assert.equal(inPanic(0, 3, 1), true);
});

test('never panics with a 0 % threshold or an empty upstream', () => {
  assert.equal(inPanic(0, 4, 0), false);
  assert.equal(inPanic(0, 0, 50), false);
});

test('balances over every target in panic, over the eligible ones otherwise', () => {
  const all = ['a', 'b', 'c', 'd'];
  assert.equal(panicCandidates(all, ['a'], 50), all);
  const eligible = ['a', 'b', 'c'];
  assert.equal(panicCandidates(all, eligible, 50), eligible);
  assert.deepEqual(panicCandidates(all, [], 0), []);
});
