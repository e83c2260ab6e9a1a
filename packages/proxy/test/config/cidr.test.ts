import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCidr } from '../../src/config/cidr.ts';

describe('parseCidr', () => {
  test('reads ranges and single addresses of both families', () => {
    assert.deepEqual(parseCidr('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    assert.deepEqual(parseCidr('192.0.2.7'), { address: '192.0.2.7', prefix: 32, family: 'ipv4' });
    assert.deepEqual(parseCidr('fd00::/8'), { address: 'fd00::', prefix: 8, family: 'ipv6' });
    assert.deepEqual(parseCidr('::1'), { address: '::1', prefix: 128, family: 'ipv6' });
  });

  test('refuses what is not a range', () => {
    for (const bad of [
      '',
      'localhost',
      '10.0.0.0/33',
      '::/129',
      '10.0.0.0/',
      '10.0.0.0/x',
      '10.0.0.256/8',
    ]) {
      assert.equal(parseCidr(bad), undefined, bad);
    }
  });
});
