import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { normalizeServerName, SniIndex } from '../../src/tls/sni-index.ts';

describe('SniIndex', () => {
  const index = new SniIndex([
    { names: ['api.test', 'www.test'], value: 'api' },
    { names: ['*.apps.test'], value: 'wild' },
    { names: ['exact.apps.test', 'api.test'], value: 'exact' },
    { names: ['*.apps.test', 'a*.test'], value: 'later-wild' },
  ]);

  test('finds a certificate by any of its exact names', () => {
    assert.equal(index.lookup('api.test'), 'api');
    assert.equal(index.lookup('www.test'), 'api');
  });

  test('a wildcard covers exactly one more label on the left', () => {
    assert.equal(index.lookup('shop.apps.test'), 'wild');
    assert.equal(index.lookup('apps.test'), undefined);
    assert.equal(index.lookup('a.b.apps.test'), undefined);
  });

  test('an exact name beats a wildcard that also covers it', () => {
    assert.equal(index.lookup('exact.apps.test'), 'exact');
  });

  test('the certificate listed first wins a name both carry', () => {
    assert.equal(index.lookup('api.test'), 'api');
    assert.equal(index.lookup('other.apps.test'), 'wild');
  });

  test('a partial wildcard matches nothing, as in browsers', () => {
    assert.equal(index.lookup('ab.test'), undefined);
    assert.equal(index.lookup('a*.test'), undefined);
  });

  test('server names are compared case-insensitively and without a trailing dot', () => {
    assert.equal(index.lookup('API.Test.'), 'api');
    assert.equal(normalizeServerName('Shop.APPS.test.'), 'shop.apps.test');
  });

  test('an unknown or single-label name finds nothing', () => {
    assert.equal(index.lookup('nothing.test'), undefined);
    assert.equal(index.lookup('localhost'), undefined);
  });
});
