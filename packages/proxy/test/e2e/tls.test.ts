/**
 * Black-box: HTTPS listeners. SNI picks the certificate for two names and a wildcard; HTTP/1.1
 * still works on the TLS port; a certificate file rotated under a steady load fails no request
 * and new handshakes see the new certificate; a bad key is refused with its config path, at start
 * and at rotation; a plain listener redirects to HTTPS; a silent client is cut off by the
 * handshake timeout; the admin API and metrics show listeners and certificate expiry.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFile } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { connect as connectTcp } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import WebSocketClient, { type ClientOptions, WebSocketServer } from 'ws';
import { ConfigError } from '../../src/config/config-error.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { startProxy } from '../../src/proxy.ts';
import { createTestCa, type PemFiles, type TestCa } from '../support/certificates.ts';
import {
  httpRequest,
  startServer,
  startTestProxy,
  type TestProxy,
  type TestServer,
} from '../support/proxy-harness.ts';
import { until } from '../support/servers.ts';
import { useTempDir } from '../support/temp-dir.ts';

/** One HTTPS/1.1 request; resolves with status, body and the certificate CN/fingerprint seen. */
function get(
  port: number,
  options: { servername: string; ca: string; agent?: Agent; path?: string; alpn?: string[] },
): Promise<{ status: number; body: string; cn: string; fingerprint: string; alpn: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path: options.path ?? '/',
        servername: options.servername,
        headers: { host: options.servername },
        ca: options.ca,
        ...(options.alpn && { ALPNProtocols: options.alpn }),
        agent: options.agent ?? false,
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        const peer = socket.getPeerCertificate();
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            cn: String(peer.subject?.CN),
            fingerprint: peer.fingerprint256,
            alpn: String(socket.alpnProtocol),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('HTTPS listeners', () => {
  const inTempDir = useTempDir('breakwater-tls-');
  let ca: TestCa;
  let api: PemFiles;
  let www: PemFiles;
  let wild: PemFiles;
  let upstream: TestServer;
  let proxy: TestProxy;
  let httpsPort: number;
  let redirectPort: number;

  before(async () => {
    ca = await createTestCa(inTempDir('.'));
    [api, www, wild] = await Promise.all([
      ca.issue('api', { names: ['api.test'] }),
      ca.issue('www', { names: ['www.test'] }),
      ca.issue('wild', { names: ['*.apps.test'] }),
    ]);
    upstream = await startServer((req, res) => {
      req.resume();
      res.end(`${req.headers['x-forwarded-proto']} ${req.headers.host}`);
    });
    proxy = await startTestProxy(`
listen:
  - address: 127.0.0.1:0
    tls:
      certificates:
        - { cert: ${api.cert}, key: ${api.key} }
        - { cert: ${www.cert}, key: ${www.key} }
        - { cert: ${wild.cert}, key: ${wild.key} }
      checkInterval: 50ms
      handshakeTimeout: 300ms
  - address: 127.0.0.1:0
    redirectToHttps: true
admin:
  listen: 127.0.0.1:0
upstreams:
  app:
    targets: [{ url: ${upstream.url} }]
routes:
  - upstream: app
`);
    httpsPort = proxy.proxyAddresses[0]!.port;
    redirectPort = proxy.proxyAddresses[1]!.port;
  });
  after(async () => {
    await proxy.close();
    await upstream.close();
  });

  test('SNI picks the certificate for each of two names and for the wildcard', async () => {
    for (const [servername, cn] of [
      ['api.test', 'api.test'],
      ['www.test', 'www.test'],
      ['shop.apps.test', '*.apps.test'],
    ] as const) {
      const response = await get(httpsPort, { servername, ca: ca.pem });
      assert.equal(response.status, 200);
      assert.equal(response.cn, cn, servername);
    }
  });

  test('HTTP/1.1 on the TLS port is forwarded with X-Forwarded-Proto: https', async () => {
    const negotiated = await get(httpsPort, {
      servername: 'api.test',
      ca: ca.pem,
      alpn: ['http/1.1'],
    });
    assert.equal(negotiated.alpn, 'http/1.1');
    assert.equal(negotiated.body, 'https api.test');
    const withoutAlpn = await get(httpsPort, { servername: 'api.test', ca: ca.pem });
    assert.equal(withoutAlpn.alpn, 'false', 'a client offering no ALPN gets HTTP/1.1 too');
    assert.equal(withoutAlpn.body, 'https api.test');
  });

  test('a plain listener with redirectToHttps answers 308 to the TLS port', async () => {
    const response = await httpRequest(`http://127.0.0.1:${redirectPort}/a/b?c=1`, {
      method: 'POST',
      headers: { host: 'api.test' },
    });
    assert.equal(response.status, 308);
    assert.equal(response.headers.location, `https://api.test:${httpsPort}/a/b?c=1`);
  });

  test('a client that never completes its handshake is cut off', async () => {
    const socket = connectTcp(httpsPort, '127.0.0.1');
    socket.on('error', () => {});
    const started = performance.now();
    await once(socket, 'close');
    const waited = performance.now() - started;
    assert.ok(waited >= 250 && waited < 3_000, `closed after ${Math.round(waited)} ms`);
  });

  test('the admin API and metrics show listeners, TLS versions and certificate expiry', async () => {
    await get(httpsPort, { servername: 'api.test', ca: ca.pem });
    const listeners = (await (await fetch(`${proxy.adminUrl}/api/listeners`)).json()) as {
      listeners: Array<{
        kind: string;
        protocols: string[];
        tls?: {
          handshakes: Record<string, number>;
          certificates: Array<{ names: string[]; expiresInSeconds: number }>;
        };
      }>;
    };
    const [tls, redirect] = listeners.listeners;
    assert.equal(tls!.kind, 'https');
    assert.deepEqual(tls!.protocols, ['h2', 'http/1.1']);
    assert.ok((tls!.tls!.handshakes['TLSv1.3'] ?? 0) > 0);
    assert.deepEqual(
      tls!.tls!.certificates.map((c) => c.names),
      [['api.test'], ['www.test'], ['*.apps.test']],
    );
    assert.ok(tls!.tls!.certificates.every((c) => c.expiresInSeconds > 80_000));
    assert.equal(redirect!.kind, 'redirect');

    const metrics = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
    const expiry = metrics.match(
      /breakwater_certificate_expiry_seconds\{listener="127\.0\.0\.1:0",path="listen\[0\]\.tls\.certificates\[0\]",names="api\.test"\} (\S+)/,
    );
    assert.ok(expiry, metrics);
    assert.ok(Number(expiry[1]) > 80_000 && Number(expiry[1]) <= 86_400);
    assert.match(
      metrics,
      /breakwater_tls_handshakes_total\{listener="127\.0\.0\.1:0",version="TLSv1\.3"\} \d+/,
    );
    assert.match(
      metrics,
      /breakwater_listener_connections_total\{listener="127\.0\.0\.1:0",protocol="http\/1\.1"\} \d+/,
    );
  });

  test('a rotated certificate file fails no request under load and new handshakes see it', async () => {
    const before = await get(httpsPort, { servername: 'www.test', ca: ca.pem });
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 4, ca: ca.pem });
    let failures = 0;
    let done = 0;
    let rotated = false;
    // A steady, bounded load: 4 keep-alive loops and one loop of fresh handshakes.
    const loop = async (agent: Agent | undefined) => {
      for (let i = 0; i < 400 && !(rotated && i > 20); i++) {
        try {
          const response = await get(httpsPort, {
            servername: 'www.test',
            ca: ca.pem,
            ...(agent && { agent }),
          });
          if (response.status === 200) done++;
          else failures++;
        } catch {
          failures++;
        }
      }
    };
    const load = Promise.all([
      loop(keepAlive),
      loop(keepAlive),
      loop(keepAlive),
      loop(keepAlive),
      loop(undefined),
    ]);
    await until(() => done > 20, 'load running');
    await ca.issue('www', { names: ['www.test'], days: 2 }); // certbot renews in place
    await until(() => {
      const served =
        proxy.proxyAddresses.length > 0 && proxy.listeners[0]!.certificates!.list()[1]!;
      return served !== false && served.fingerprint256 !== before.fingerprint;
    }, 'rotation');
    rotated = true;
    await load;
    keepAlive.destroy();
    assert.equal(failures, 0);
    const after = await get(httpsPort, { servername: 'www.test', ca: ca.pem });
    assert.notEqual(after.fingerprint, before.fingerprint);
    assert.equal(after.status, 200);
  });

  test('a bad key written at rotation keeps the old certificate and logs the config path', async () => {
    const before = await get(httpsPort, { servername: 'shop.apps.test', ca: ca.pem });
    await copyFile(await ca.strayKey('stray-rotation'), wild.key);
    await until(
      () =>
        proxy.logs.lines.some(
          (line) => line.msg === 'certificate not reloaded; still serving the previous one',
        ),
      'the failed reload logged',
    );
    const line = proxy.logs.lines.find(
      (l) => l.msg === 'certificate not reloaded; still serving the previous one',
    )!;
    assert.equal(line.path, 'listen[0].tls.certificates[2].key');
    assert.equal(line.code, 'ERR_CERTIFICATE_KEY_MISMATCH');
    const after = await get(httpsPort, { servername: 'shop.apps.test', ca: ca.pem });
    assert.equal(after.fingerprint, before.fingerprint);
  });
});

describe('HTTPS listener start', () => {
  const inTempDir = useTempDir('breakwater-tls-start-');

  test('a key that does not match its certificate is a config error naming its path', async () => {
    const ca = await createTestCa(inTempDir('.'));
    const api = await ca.issue('api', { names: ['api.test'] });
    const stray = await ca.strayKey('stray');
    const config = loadConfig(`
listen:
  - address: 127.0.0.1:0
    tls:
      certificates:
        - { cert: ${api.cert}, key: ${api.key} }
        - { cert: ${api.cert}, key: ${stray} }
upstreams:
  app:
    targets: [{ url: http://127.0.0.1:1 }]
routes:
  - upstream: app
log:
  level: silent
`);
    await assert.rejects(startProxy(config), (error) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(
        error.issues.map((i) => i.path),
        ['listen[0].tls.certificates[1].key'],
      );
      assert.match(error.message, /stray\.key is not the private key of the certificate/);
      return true;
    });
  });
});

describe('HTTPS certificates on config reload', () => {
  const inTempDir = useTempDir('breakwater-tls-reload-');
  let ca: TestCa;
  let upstream: TestServer;
  let proxy: TestProxy;
  let port: number;
  const yaml = (cert: string, key: string) => `
listen:
  - address: 127.0.0.1:0
    tls:
      certificates: [{ cert: ${cert}, key: ${key} }]
      checkInterval: false
upstreams:
  app:
    targets: [{ url: ${upstream.url} }]
routes:
  - upstream: app
log:
  level: silent
`;
  const fingerprint = async () =>
    (await get(port, { servername: 'api.test', ca: ca.pem })).fingerprint;

  before(async () => {
    ca = await createTestCa(inTempDir('.'));
    const api = await ca.issue('api', { names: ['api.test'] });
    upstream = await startServer((_req, res) => res.end('ok'));
    proxy = await startTestProxy(yaml(api.cert, api.key));
    port = proxy.port;
  });
  after(async () => {
    await proxy.close();
    await upstream.close();
  });

  test('a reload naming new certificate files serves them at once', async () => {
    const before = await fingerprint();
    const next = await ca.issue('api-next', { names: ['api.test'] });
    const result = await proxy.reload(loadConfig(yaml(next.cert, next.key)));
    assert.equal(result.status, 'applied');
    assert.ok(result.status === 'applied' && result.liveChanges.includes('listen.tls'));
    assert.notEqual(await fingerprint(), before);
  });

  test('a reload re-reads certificate files that changed in place', async () => {
    const before = await fingerprint();
    const files = await ca.issue('api-next', { names: ['api.test'] }); // same paths, new contents
    const result = await proxy.reload(loadConfig(yaml(files.cert, files.key)));
    assert.equal(result.status, 'unchanged');
    assert.notEqual(await fingerprint(), before);
  });

  test('a reload with a bad key is rejected with its path and the old certificate stays', async () => {
    const before = await fingerprint();
    const current = inTempDir('api-next.pem');
    const stray = await ca.strayKey('stray-reload');
    const result = await proxy.reload(loadConfig(yaml(current, stray)));
    assert.equal(result.status, 'rejected');
    assert.ok(result.status === 'rejected');
    assert.deepEqual(
      result.error.issues.map((issue) => issue.path),
      ['listen[0].tls.certificates[0].key'],
    );
    assert.equal(await fingerprint(), before);
  });
});

describe('WebSocket over an HTTPS listener', () => {
  const inTempDir = useTempDir('breakwater-wss-');
  let ca: TestCa;
  let upstream: TestServer;
  let wss: WebSocketServer;
  let proxy: TestProxy;
  let forwardedProto: string | undefined;

  before(async () => {
    ca = await createTestCa(inTempDir('.'));
    const api = await ca.issue('api', { names: ['api.test'] });
    upstream = await startServer((_req, res) => res.end('plain'));
    wss = new WebSocketServer({ server: upstream.server });
    wss.on('connection', (ws, req) => {
      forwardedProto = String(req.headers['x-forwarded-proto']);
      ws.on('message', (data) => ws.send(`echo ${data.toString()}`));
    });
    proxy = await startTestProxy(`
listen:
  - address: 127.0.0.1:0
    tls:
      certificates: [{ cert: ${api.cert}, key: ${api.key} }]
upstreams:
  app:
    targets: [{ url: ${upstream.url} }]
routes:
  - upstream: app
log:
  level: silent
`);
  });
  after(async () => {
    for (const client of wss.clients) client.terminate();
    wss.close();
    await proxy.close();
    await upstream.close();
  });

  test('a wss:// client is tunnelled to the upstream over HTTP/1.1', async () => {
    // ws hands `servername` on to tls.connect (SNI and the name the certificate is checked for).
    const options: ClientOptions & { servername: string } = { ca: ca.pem, servername: 'api.test' };
    const client = new WebSocketClient(`wss://127.0.0.1:${proxy.port}/chat`, options);
    try {
      await once(client, 'open');
      client.send('hi');
      const [message] = (await once(client, 'message')) as [Buffer];
      assert.equal(message.toString(), 'echo hi');
      assert.equal(forwardedProto, 'https');
    } finally {
      client.terminate();
    }
  });
});
