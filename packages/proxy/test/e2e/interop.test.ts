/**
 * Black-box: real clients against a TLS listener. curl over HTTP/2 and HTTP/1.1, h2load (from
 * Debian's nghttp2-client) with several streams per connection, and Node's own http2 client each
 * complete their requests. curl and h2load are installed by `.ci/run`; without them the test says
 * so and skips.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createTestCa, type TestCa } from '../support/certificates.ts';
import { h2Request, h2Session } from '../support/h2-client.ts';
import {
  startServer,
  startTestProxy,
  type TestProxy,
  type TestServer,
} from '../support/proxy-harness.ts';
import { useTempDir } from '../support/temp-dir.ts';

const run = promisify(execFile);

async function has(command: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${command}`]);
    return true;
  } catch {
    return false;
  }
}

describe('interop with real HTTP/2 and HTTP/1.1 clients', async () => {
  const inTempDir = useTempDir('breakwater-interop-');
  const [curl, h2load] = await Promise.all([has('curl'), has('h2load')]);
  let ca: TestCa;
  let upstream: TestServer;
  let proxy: TestProxy;

  before(async () => {
    ca = await createTestCa(inTempDir('.'));
    const api = await ca.issue('api', { names: ['api.test'] });
    upstream = await startServer((req, res) => {
      req.resume();
      res.end(`hello over ${req.headers['x-forwarded-proto']}`);
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
    await proxy.close();
    await upstream.close();
  });

  const curlArgs = (version: string) => [
    '--silent',
    '--show-error',
    version,
    '--cacert',
    ca.certPath,
    '--resolve',
    `api.test:${proxy.port}:127.0.0.1`,
    '--write-out',
    ' %{http_code} %{http_version}',
    `https://api.test:${proxy.port}/`,
  ];

  test('curl --http2 negotiates h2 and completes', {
    skip: !curl && 'curl is not installed',
  }, async () => {
    const { stdout } = await run('curl', curlArgs('--http2'));
    assert.equal(stdout, 'hello over https 200 2');
  });

  test('curl --http1.1 completes on the same port', {
    skip: !curl && 'curl is not installed',
  }, async () => {
    const { stdout } = await run('curl', curlArgs('--http1.1'));
    assert.equal(stdout, 'hello over https 200 1.1');
  });

  test('h2load with several streams per connection completes every request', {
    skip: !h2load && 'h2load (nghttp2-client) is not installed',
  }, async () => {
    const { stdout } = await run('h2load', [
      '-n',
      '400',
      '-c',
      '4',
      '-m',
      '10',
      `https://127.0.0.1:${proxy.port}/`,
    ]);
    assert.match(stdout, /Application protocol: h2/);
    assert.match(
      stdout,
      /requests: 400 total, 400 started, 400 done, 400 succeeded, 0 failed, 0 errored/,
    );
    assert.match(stdout, /status codes: 400 2xx/);
  });

  test("Node's http2 client completes its requests", async () => {
    const session = await h2Session(proxy.port, ca.pem);
    try {
      const responses = await Promise.all(
        Array.from({ length: 20 }, () => h2Request(session, { ':path': '/' })),
      );
      assert.ok(
        responses.every((r) => r.status === 200 && r.body.toString() === 'hello over https'),
      );
    } finally {
      session.close();
    }
  });
});
