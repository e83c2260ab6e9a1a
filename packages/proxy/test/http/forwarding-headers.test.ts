import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, test } from 'node:test';
import {
  requestHeadersForUpstream,
  responseHeadersForClient,
  viaEntry,
  viaIncludes,
} from '../../src/http/forwarding-headers.ts';
import { httpRequest, proxyYaml, startServer, startTestProxy } from '../support/proxy-harness.ts';

// A running proxy's Via entry: `1.1 breakwater (<instance id>)`.
const OWN_VIA = /^1\.1 breakwater \([0-9a-f]{8}\)$/;

const context = {
  remoteAddress: '10.0.0.7',
  protocol: 'http',
  trusted: false,
  hostOverride: undefined,
  requestId: 'req-1',
  upgrade: false,
  via: viaEntry('5f3a9c01'),
  dropUnderscoreNames: true,
};

describe('requestHeadersForUpstream', () => {
  test('drops hop-by-hop headers and every header Connection names', () => {
    const out = requestHeadersForUpstream(
      {
        host: 'example.com',
        connection: 'keep-alive, X-Secret-Hop',
        'keep-alive': 'timeout=5',
        'proxy-connection': 'keep-alive',
        'transfer-encoding': 'chunked',
        upgrade: 'h2c',
        trailer: 'x-checksum',
        te: 'gzip',
        'x-secret-hop': 'drop me',
        'x-kept': 'yes',
      },
      context,
    );
    for (const name of [
      'connection',
      'keep-alive',
      'proxy-connection',
      'transfer-encoding',
      'upgrade',
      'trailer',
      'te',
      'x-secret-hop',
    ]) {
      assert.equal(out[name], undefined, name);
    }
    assert.equal(out['x-kept'], 'yes');
  });

  test('keeps TE only as "trailers"', () => {
    assert.equal(requestHeadersForUpstream({ te: 'trailers, deflate' }, context).te, 'trailers');
  });

  test('from a trusted proxy, appends the client to X-Forwarded-For and keeps its -Proto/-Host', () => {
    const out = requestHeadersForUpstream(
      {
        host: 'a.test',
        'x-forwarded-for': '1.1.1.1',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'public.test',
        forwarded: 'for=1.1.1.1;proto=https',
        via: '1.0 edge',
      },
      { ...context, trusted: true },
    );
    assert.equal(out['x-forwarded-for'], '1.1.1.1, 10.0.0.7');
    assert.equal(out['x-forwarded-proto'], 'https');
    assert.equal(out['x-forwarded-host'], 'public.test');
    assert.equal(out.forwarded, 'for=1.1.1.1;proto=https, for=10.0.0.7;proto=http;host=a.test');
    assert.equal(out.via, '1.0 edge, 1.1 breakwater (5f3a9c01)');
    assert.equal(out['x-request-id'], 'req-1');
  });

  test('from anyone else, replaces X-Forwarded-* and Forwarded with what this hop saw', () => {
    const out = requestHeadersForUpstream(
      {
        host: 'a.test',
        'x-forwarded-for': ['1.1.1.1', '2.2.2.2'],
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'spoofed.test',
        forwarded: 'for=1.1.1.1',
      },
      { ...context, protocol: 'https' },
    );
    assert.equal(out['x-forwarded-for'], '10.0.0.7');
    assert.equal(out['x-forwarded-proto'], 'https');
    assert.equal(out['x-forwarded-host'], 'a.test');
    assert.equal(out.forwarded, 'for=10.0.0.7;proto=https;host=a.test');
  });

  test('never sends HTTP/2 pseudo-headers upstream', () => {
    const out = requestHeadersForUpstream(
      {
        ':method': 'GET',
        ':path': '/',
        ':authority': 'a.test',
        ':scheme': 'https',
        host: 'a.test',
      },
      context,
    );
    assert.deepEqual(
      Object.keys(out).filter((name) => name.startsWith(':')),
      [],
    );
    assert.equal(out.host, 'a.test');
  });

  test('sends the target host when preserveHost is off', () => {
    const out = requestHeadersForUpstream(
      { host: 'a.test' },
      { ...context, hostOverride: '127.0.0.1:9000' },
    );
    assert.equal(out.host, '127.0.0.1:9000');
    assert.equal(out['x-forwarded-host'], 'a.test');
  });
});

describe('Via', () => {
  test('names the proxy instance, so its own entry is told from another Breakwater', () => {
    assert.equal(viaEntry('5f3a9c01'), '1.1 breakwater (5f3a9c01)');
    const own = viaEntry('5f3a9c01');
    assert.equal(viaIncludes(undefined, own), false);
    assert.equal(viaIncludes('1.1 breakwater (0000aaaa)', own), false);
    assert.equal(viaIncludes('1.1 breakwater (5f3a9c011)', own), false);
    assert.equal(viaIncludes('1.0 edge,1.1 breakwater (5f3a9c01)', own), true);
    assert.equal(viaIncludes(`1.1 breakwater (0000aaaa), ${own}, 1.1 other`, own), true);
  });
});

describe('responseHeadersForClient', () => {
  test('drops hop-by-hop response headers and adds Via and the request id', () => {
    const out = responseHeadersForClient(
      {
        connection: 'x-internal',
        'x-internal': '1',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        'set-cookie': ['a=1', 'b=2'],
      },
      'req-2',
      viaEntry('5f3a9c01'),
    );
    assert.deepEqual(out, {
      'set-cookie': ['a=1', 'b=2'],
      via: '1.1 breakwater (5f3a9c01)',
      'x-request-id': 'req-2',
    });
  });
});

describe('headers through a running proxy', () => {
  async function withEcho(
    extraConfig: string,
    run: (proxyUrl: string, seen: () => IncomingHttpHeaders) => Promise<void>,
  ): Promise<void> {
    let last: IncomingHttpHeaders = {};
    const upstream = await startServer((req, res) => {
      last = req.headers;
      res.writeHead(200, {
        connection: 'x-upstream-hop',
        'x-upstream-hop': 'secret',
        'x-visible': 'yes',
      });
      res.end('ok');
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url], extraConfig));
    try {
      await run(proxy.url, () => last);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  }

  test('rewrites request and response headers end to end', async () => {
    await withEcho('', async (url, seen) => {
      const response = await httpRequest(`${url}/`, {
        headers: {
          host: 'shop.example',
          connection: 'x-hop',
          'x-hop': '1',
          'x-forwarded-for': '203.0.113.9',
          'x-request-id': 'client-chosen-id',
        },
      });
      const upstreamSaw = seen();
      assert.equal(upstreamSaw.host, 'shop.example');
      assert.equal(upstreamSaw['x-hop'], undefined);
      assert.equal(upstreamSaw['x-forwarded-for'], '127.0.0.1', 'an untrusted chain is replaced');
      assert.equal(upstreamSaw['x-forwarded-host'], 'shop.example');
      assert.match(String(upstreamSaw.via), OWN_VIA);
      assert.equal(upstreamSaw['x-request-id'], 'client-chosen-id');
      assert.equal(response.headers['x-request-id'], 'client-chosen-id');
      assert.equal(response.headers['x-upstream-hop'], undefined);
      assert.equal(response.headers['x-visible'], 'yes');
      assert.equal(response.headers.via, upstreamSaw.via, 'one Via entry per proxy, both ways');
    });
  });

  test('generates a request id when the client sends none and logs it', async () => {
    let proxyLogs: Record<string, unknown>[] = [];
    const upstream = await startServer((req, res) => res.end(String(req.headers['x-request-id'])));
    const proxy = await startTestProxy(proxyYaml([upstream.url]));
    proxyLogs = proxy.logs.lines;
    try {
      const response = await httpRequest(`${proxy.url}/id`);
      const id = response.headers['x-request-id'];
      assert.equal(typeof id, 'string');
      assert.equal(response.body, id);
      const access = proxyLogs.find((line) => line.msg === 'request');
      assert.equal(access?.requestId, id);
      assert.equal(access?.status, 200);
      assert.equal(access?.target, upstream.url);
      assert.equal(access?.path, '/id');
      assert.equal(typeof access?.durationMs, 'number');
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  test('sends the target host:port as Host with preserveHost: false', async () => {
    await withEcho('preserveHost: false', async (url, seen) => {
      await httpRequest(`${url}/`, { headers: { host: 'shop.example' } });
      assert.match(seen().host ?? '', /^127\.0\.0\.1:\d+$/);
    });
  });

  test('never passes an h2c upgrade upstream', async () => {
    await withEcho('', async (url, seen) => {
      const response = await httpRequest(`${url}/`, {
        headers: {
          connection: 'Upgrade, HTTP2-Settings',
          upgrade: 'h2c',
          'http2-settings': 'AAMAAABkAAQAAP__',
        },
      });
      assert.equal(response.status, 200);
      assert.equal(seen().upgrade, undefined);
      assert.equal(seen()['http2-settings'], undefined);
      assert.doesNotMatch(String(seen().connection ?? ''), /upgrade/i);
    });
  });
});

test('leaves out header names with underscores when told to, and keeps them otherwise', () => {
  const incoming = { host: 'a', x_user: '7', 'x-user': '8' };
  const dropped = requestHeadersForUpstream(incoming, context);
  assert.equal(dropped.x_user, undefined);
  assert.equal(dropped['x-user'], '8');
  const kept = requestHeadersForUpstream(incoming, { ...context, dropUnderscoreNames: false });
  assert.equal(kept.x_user, '7');
});
