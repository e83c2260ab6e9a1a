import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { forwardedElement } from '../../src/http/forwarded.ts';

describe('forwardedElement', () => {
  test('plain tokens stay bare', () => {
    assert.equal(
      forwardedElement({ for: '192.0.2.60', proto: 'http', host: 'example.com' }),
      'for=192.0.2.60;proto=http;host=example.com',
    );
  });

  test('an IPv6 address is bracketed and quoted, a host with a port quoted', () => {
    assert.equal(
      forwardedElement({ for: '2001:db8::1', proto: 'https', host: 'api.test:8443' }),
      'for="[2001:db8::1]";proto=https;host="api.test:8443"',
    );
  });

  test('an unknown peer is "unknown" and a missing host is left out', () => {
    assert.equal(
      forwardedElement({ for: undefined, proto: 'http', host: undefined }),
      'for=unknown;proto=http',
    );
  });

  test('quotes and backslashes in a host are escaped', () => {
    assert.equal(
      forwardedElement({ for: '10.0.0.1', proto: 'http', host: 'a"b\\c' }),
      'for=10.0.0.1;proto=http;host="a\\"b\\\\c"',
    );
  });
});
