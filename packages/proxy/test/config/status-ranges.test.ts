import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseStatusRanges, statusInRanges } from '../../src/config/status-ranges.ts';

test('parses single statuses, ranges, lists and arrays', () => {
  assert.deepEqual(parseStatusRanges(200), [[200, 200]]);
  assert.deepEqual(parseStatusRanges('200-399'), [[200, 399]]);
  assert.deepEqual(parseStatusRanges('200-299, 404'), [
    [200, 299],
    [404, 404],
  ]);
  assert.deepEqual(parseStatusRanges([204, '300 - 302']), [
    [204, 204],
    [300, 302],
  ]);
});

test('rejects malformed, reversed and out-of-range specs with a coded error', () => {
  for (const bad of ['', 'ok', '2xx', '399-200', '99', '600', '200-700', [], '200,,300']) {
    assert.throws(() => parseStatusRanges(bad), { code: 'ERR_INVALID_STATUS_RANGE' }, String(bad));
  }
});

test('matches statuses inclusively at both ends', () => {
  const ranges = parseStatusRanges('200-399, 418');
  assert.equal(statusInRanges(200, ranges), true);
  assert.equal(statusInRanges(399, ranges), true);
  assert.equal(statusInRanges(418, ranges), true);
  assert.equal(statusInRanges(400, ranges), false);
  assert.equal(statusInRanges(199, ranges), false);
});
