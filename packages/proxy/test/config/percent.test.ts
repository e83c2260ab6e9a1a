import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePercent } from '../../src/config/percent.ts';

test('reads "N%" strings and bare numbers as percent', () => {
  assert.equal(parsePercent('10%'), 10);
  assert.equal(parsePercent('0%'), 0);
  assert.equal(parsePercent(' 12.5 % '), 12.5);
  assert.equal(parsePercent(50), 50);
  assert.equal(parsePercent('100%'), 100);
});

test('refuses values outside 0-100 and text without a percent sign', () => {
  for (const bad of ['150%', '10', '-5%', 'half', ''])
    assert.equal(parsePercent(bad), undefined, bad);
  assert.equal(parsePercent(101), undefined);
  assert.equal(parsePercent(-1), undefined);
  assert.equal(parsePercent(Number.NaN), undefined);
});
