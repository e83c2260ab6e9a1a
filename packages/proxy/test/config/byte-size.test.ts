import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseByteSize } from '../../src/config/byte-size.ts';

test('reads binary units and bare byte counts', () => {
  assert.equal(parseByteSize('64kb'), 65_536);
  assert.equal(parseByteSize('64KB'), 65_536);
  assert.equal(parseByteSize('1.5mb'), 1_572_864);
  assert.equal(parseByteSize('1g'), 1_073_741_824);
  assert.equal(parseByteSize('512'), 512);
  assert.equal(parseByteSize('512b'), 512);
  assert.equal(parseByteSize(100), 100);
});

test('refuses what is not a size', () => {
  for (const bad of ['64zb', 'kb', '-1kb', '', '1 2kb'])
    assert.equal(parseByteSize(bad), undefined, bad);
  assert.equal(parseByteSize(-1), undefined);
  assert.equal(parseByteSize(1.5), undefined);
});
