import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCidr } from '../../src/config/cidr.ts';
import { TrustedProxies } from '../../src/http/trusted-proxies.ts';

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
