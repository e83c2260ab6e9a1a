import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, test } from 'node:test';
import { adoptAuthority } from '../../src/http/http2-request.ts';

const raw = (headers: IncomingHttpHeaders) =>
  Object.entries(headers).flatMap(([name, value]) => [name, String(value)]);

describe('adoptAuthority', () => {
  test(':authority becomes the Host', () => {
    const headers: IncomingHttpHeaders = {
      ':method': 'GET',
      ':authority': 'api.test:8443',
      ':path': '/',
    };
    assert.equal(adoptAuthority(headers, raw(headers), 16_384), undefined);
    assert.equal(headers.host, 'api.test:8443');
  });

  test('a Host equal to :authority is fine, one naming another server is a bad request', () => {
    const same: IncomingHttpHeaders = { ':authority': 'api.test', host: 'API.test' };
    assert.equal(adoptAuthority(same, raw(same), 16_384), undefined);
    const other: IncomingHttpHeaders = { ':authority': 'api.test', host: 'evil.test' };
    assert.deepEqual(adoptAuthority(other, raw(other), 16_384), {
      code: 'BAD_REQUEST',
      message: 'Host "evil.test" differs from :authority "api.test"',
    });
  });

  test('a request without :authority keeps its Host', () => {
    const headers: IncomingHttpHeaders = { ':method': 'GET', host: 'api.test' };
    assert.equal(adoptAuthority(headers, raw(headers), 16_384), undefined);
    assert.equal(headers.host, 'api.test');
  });

  test('a header list over the limit, counted as HTTP/2 counts it, is too large', () => {
    const headers: IncomingHttpHeaders = { ':authority': 'a', 'x-big': 'v'.repeat(100) };
    const list = raw(headers); // (10 + 1 + 32) + (5 + 100 + 32) = 180
    assert.equal(adoptAuthority(headers, list, 180), undefined);
    assert.deepEqual(adoptAuthority(headers, list, 179), {
      code: 'HEADERS_TOO_LARGE',
      message: 'Request header list of 180 bytes exceeds 179',
    });
  });
});
