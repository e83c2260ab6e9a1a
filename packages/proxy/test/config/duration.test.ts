import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration } from '../../src/config/duration.ts';

test('parses durations with units and bare milliseconds', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('5s'), 5000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('1m'), 60000);
  assert.equal(parseDuration('2h'), 7_200_000);
  assert.equal(parseDuration('40'), 40);
  assert.equal(parseDuration(30), 30);
});

test('returns undefined for text that is not a duration', () => {
  assert.equal(parseDuration('soon'), undefined);
  assert.equal(parseDuration('5 days'), undefined);
  assert.equal(parseDuration(-1), undefined);
  assert.equal(parseDuration(Number.NaN), undefined);
});
