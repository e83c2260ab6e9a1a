import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { httpsLocation } from '../../src/http/https-redirect.ts';

describe('httpsLocation', () => {
  test('keeps the host, path and query and puts in the TLS port', () => {
    assert.equal(
      httpsLocation('api.test:8080', '/v1/x?y=1', 8443),
      'https://api.test:8443/v1/x?y=1',
    );
    assert.equal(httpsLocation('127.0.0.1', '/', 8443), 'https://127.0.0.1:8443/');
    assert.equal(httpsLocation('[::1]:8080', '/a', 8443), 'https://[::1]:8443/a');
  });

  test('leaves out the default port 443', () => {
    assert.equal(httpsLocation('api.test', '/', 443), 'https://api.test/');
  });

  test('an absolute-form target keeps only its path and query', () => {
    assert.equal(httpsLocation('api.test', 'http://api.test/p?q', 443), 'https://api.test/p?q');
  });

  test('a Host header that is not a host gives no location', () => {
    for (const host of [
      undefined,
      '',
      'evil.test/path',
      'user@evil.test',
      'a b',
      'x:y:z',
      '[::1',
      'api.test:port',
    ]) {
      assert.equal(httpsLocation(host, '/', 8443), undefined, String(host));
    }
  });
});
