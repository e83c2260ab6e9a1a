import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashString, mix32 } from '../../../src/upstream/balancers/hash.ts';

test('is deterministic and unsigned 32-bit', () => {
  for (const text of ['', 'a', 'user-42', 'ünïcødé', 'x'.repeat(1000)]) {
    const h = hashString(text);
    assert.equal(h, hashString(text));
    assert.ok(Number.isInteger(h) && h >= 0 && h < 2 ** 32);
  }
  assert.notEqual(hashString('ab'), hashString('ba'));
});

test('spreads similar keys evenly over the 32-bit range', () => {
  const buckets = new Array<number>(16).fill(0);
  for (let i = 0; i < 16_000; i++) {
    const h = hashString(`10.0.${i >> 8}.${i & 255}`);
    buckets[h >>> 28] = (buckets[h >>> 28] ?? 0) + 1;
  }
  for (const count of buckets) assert.ok(count > 800 && count < 1200, `bucket ${count}`);
});

test('mix32 changes about half the output bits for a one-bit change', () => {
  let flipped = 0;
  for (let i = 0; i < 1000; i++) {
    let diff = mix32(i) ^ mix32(i ^ 1);
    while (diff) {
      flipped += diff & 1;
      diff >>>= 1;
    }
  }
  const average = flipped / 1000;
  assert.ok(average > 14 && average < 18, `average ${average}`);
});
