import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCidr, TrustedProxies } from '../../src/http/trusted-proxies.ts';

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

describe('TrustedProxies', () => {
  const trusted = new TrustedProxies([parseCidr('10.0.0.0/8')!, parseCidr('2001:db8::/32')!]);

  test('trusts addresses inside a range and nobody else', () => {
    assert.equal(trusted.trusts('10.200.0.1'), true);
    assert.equal(trusted.trusts('2001:db8::42'), true);
    assert.equal(trusted.trusts('11.0.0.1'), false);
    assert.equal(trusted.trusts('2001:db9::1'), false);
  });

  test('an IPv4 range covers the IPv4-mapped form a dual-stack socket reports', () => {
    assert.equal(trusted.trusts('::ffff:10.0.0.5'), true);
    assert.equal(trusted.trusts('::ffff:127.0.0.1'), false);
  });

  test('trusts nobody by default, nor an unknown or malformed peer', () => {
    assert.equal(new TrustedProxies([]).trusts('127.0.0.1'), false);
    assert.equal(trusted.trusts(undefined), false);
    assert.equal(trusted.trusts('not-an-ip'), false);
  });
});
