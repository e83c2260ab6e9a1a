import assert from 'node:assert/strict';
import { test } from 'node:test';
import { breakerStateRank } from '../../src/upstream/breaker-state-rank.ts';

test('ranks a trial above an ejection above a forced open above closed, unknown states last', () => {
  const order = ['half-open', 'open', 'forced-open', 'closed', 'disabled'];
  const ranks = order.map(breakerStateRank);
  assert.deepEqual(
    ranks,
    [...ranks].sort((a, b) => b - a),
  );
  assert.equal(new Set(ranks).size, order.length, 'every state has its own rank');
  assert.equal(breakerStateRank('something new'), breakerStateRank('disabled'));
});
