/**
 * Black-box: who the upstream is told the client is. `X-Forwarded-*` and `Forwarded` from a
 * client are overwritten unless the connection comes from `trustedProxies`, in which case the
 * proxy appends itself to the chain.
 */
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  httpRequest,
  proxyYaml,
  startServer,
  startTestProxy,
  type TestProxy,
  type TestServer,
} from '../support/proxy-harness.ts';

const SPOOFED = {
  'x-forwarded-for': '203.0.113.7',
  'x-forwarded-proto': 'https',
  'x-forwarded-host': 'spoofed.test',
  forwarded: 'for=203.0.113.7;proto=https',
};

describe('forwarding headers and trusted proxies', () => {
  let upstream: TestServer;
  let untrusting: TestProxy;
  let trusting: TestProxy;
  let seen: IncomingHttpHeaders = {};

  before(async () => {
    upstream = await startServer((req, res) => {
      seen = req.headers;
      res.end();
    });
    untrusting = await startTestProxy(proxyYaml([upstream.url], 'log:\n  level: silent\n'));
    trusting = await startTestProxy(
      proxyYaml([upstream.url], 'log:\n  level: silent\ntrustedProxies: [127.0.0.0/8, "::1"]\n'),
    );
  });
  after(async () => {
    await untrusting.close();
    await trusting.close();
    await upstream.close();
  });

  test('from an untrusted client, X-Forwarded-* and Forwarded are overwritten', async () => {
    await httpRequest(`${untrusting.url}/`, { headers: { ...SPOOFED, host: 'api.test' } });
    assert.equal(seen['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.equal(seen['x-forwarded-host'], 'api.test');
    assert.equal(seen.forwarded, 'for=127.0.0.1;proto=http;host=api.test');
  });

  test('from a trusted proxy, the chain is kept and this hop appended', async () => {
    await httpRequest(`${trusting.url}/`, { headers: { ...SPOOFED, host: 'api.test' } });
    assert.equal(seen['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'https');
    assert.equal(seen['x-forwarded-host'], 'spoofed.test');
    assert.equal(
      seen.forwarded,
      'for=203.0.113.7;proto=https, for=127.0.0.1;proto=http;host=api.test',
    );
  });

  test('a trusted chain sent on two header lines is kept whole', async () => {
    await httpRequest(`${trusting.url}/`, {
      headers: { host: 'api.test', 'x-forwarded-for': ['203.0.113.9, 198.51.100.2', '192.0.2.1'] },
    });
    assert.equal(seen['x-forwarded-for'], '203.0.113.9, 198.51.100.2, 192.0.2.1, 127.0.0.1');
  });

  test('a client that sent none gets only the X-Forwarded-* fields', async () => {
    await httpRequest(`${untrusting.url}/`, { headers: { host: 'api.test' } });
    assert.equal(seen['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.forwarded, undefined);
  });
});
