import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { loadConfigFile } from '../../src/config/load-config.ts';
import { startProxy } from '../../src/proxy.ts';
import {
  httpRequest,
  type SimpleResponse,
  startServer,
  startTestProxy,
  type TestServer,
} from '../support/proxy-harness.ts';
import { until } from '../support/servers.ts';
import { useTempDir } from '../support/temp-dir.ts';

async function named(name: string): Promise<TestServer> {
  return startServer((_req, res) => res.end(name));
}

function yaml(urls: readonly string[], admin = '{ listen: 127.0.0.1:0 }'): string {
  return `
listen: 127.0.0.1:0
admin: ${admin}
log: { access: false }
upstreams:
  api:
    # Round robin: the tests count each target's share of sequential requests, which
    # least-request (the default) splits at random (all six to one target 1 time in 32).
    balance: round-robin
    targets:
${urls.map((url) => `      - url: ${url}`).join('\n')}
routes: [ { upstream: api } ]`;
}

function post(url: string, headers: Record<string, string> = {}): Promise<SimpleResponse> {
  return httpRequest(url, { method: 'POST', headers });
}

async function bodiesOf(url: string, count: number): Promise<string[]> {
  const bodies: string[] = [];
  for (let i = 0; i < count; i++) bodies.push((await httpRequest(url)).body);
  return bodies;
}

describe('admin write endpoints', () => {
  const inTempDir = useTempDir('breakwater-admin-');

  test('a drained target gets no new requests until it is enabled again', async () => {
    const a = await named('a');
    const b = await named('b');
    const proxy = await startTestProxy(yaml([a.url, b.url]));
    try {
      const drained = await post(`${proxy.adminUrl}/api/upstreams/api/targets/1/drain`);
      assert.equal(drained.status, 200);
      assert.match(String(drained.headers['content-type']), /application\/json/);
      assert.deepEqual(JSON.parse(drained.body), {
        upstream: 'api',
        index: 1,
        url: b.url,
        drained: true,
        activeRequests: 0,
      });
      assert.deepEqual(new Set(await bodiesOf(`${proxy.url}/`, 6)), new Set(['a']));
      const view = JSON.parse((await httpRequest(`${proxy.adminUrl}/api/upstreams`)).body);
      assert.equal(view.upstreams[0].targets[1].drained, true);

      const enabled = await post(`${proxy.adminUrl}/api/upstreams/api/targets/1/enable`);
      assert.equal(enabled.status, 200);
      assert.equal(JSON.parse(enabled.body).drained, false);
      assert.deepEqual(new Set(await bodiesOf(`${proxy.url}/`, 6)), new Set(['a', 'b']));
    } finally {
      await proxy.close();
      await a.close();
      await b.close();
    }
  });

  test('draining lets a request already in flight to the target finish', async () => {
    let release: (() => void) | undefined;
    const slow = await startServer((_req, res) => {
      release = () => res.end('done');
    });
    const proxy = await startTestProxy(yaml([slow.url]));
    try {
      const pending = httpRequest(`${proxy.url}/slow`);
      const target = proxy.upstreams.get('api')?.targets[0];
      await until(() => target?.activeRequests === 1, 'the request to reach the target');
      const drained = await post(`${proxy.adminUrl}/api/upstreams/api/targets/0/drain`);
      assert.equal(JSON.parse(drained.body).activeRequests, 1);
      assert.equal((await httpRequest(`${proxy.url}/next`)).status, 503);
      release?.();
      const answer = await pending;
      assert.equal(answer.status, 200);
      assert.equal(answer.body, 'done');
    } finally {
      await proxy.close();
      await slow.close();
    }
  });

  test('answers 404 with a code for an unknown upstream or index, 405 for a wrong method', async () => {
    const a = await named('a');
    const proxy = await startTestProxy(yaml([a.url]));
    try {
      const upstream = await post(`${proxy.adminUrl}/api/upstreams/web/targets/0/drain`);
      assert.equal(upstream.status, 404);
      assert.equal(JSON.parse(upstream.body).error.code, 'UNKNOWN_UPSTREAM');
      for (const index of ['1', 'x', '-1']) {
        const target = await post(`${proxy.adminUrl}/api/upstreams/api/targets/${index}/enable`);
        assert.equal(target.status, 404, index);
        assert.equal(JSON.parse(target.body).error.code, 'UNKNOWN_TARGET');
      }
      for (const path of ['/api/upstreams/api/targets/0/drain', '/api/reload']) {
        const wrong = await httpRequest(`${proxy.adminUrl}${path}`);
        assert.equal(wrong.status, 405, path);
        assert.equal(wrong.headers.allow, 'POST');
        assert.equal(JSON.parse(wrong.body).error.code, 'METHOD_NOT_ALLOWED');
      }
      assert.equal(proxy.upstreams.get('api')?.targets[0]?.drained, false);
    } finally {
      await proxy.close();
      await a.close();
    }
  });

  test('needs the bearer token for drain, enable and reload when a token is set', async () => {
    const a = await named('a');
    const proxy = await startTestProxy(yaml([a.url], '{ listen: 127.0.0.1:0, token: t0ken }'));
    try {
      for (const path of [
        '/api/upstreams/api/targets/0/drain',
        '/api/upstreams/api/targets/0/enable',
        '/api/reload',
      ]) {
        const anonymous = await post(`${proxy.adminUrl}${path}`);
        assert.equal(anonymous.status, 401, path);
        assert.equal(JSON.parse(anonymous.body).error.code, 'UNAUTHORIZED');
        const wrong = await post(`${proxy.adminUrl}${path}`, { authorization: 'Bearer nope' });
        assert.equal(wrong.status, 401, path);
      }
      assert.equal(proxy.upstreams.get('api')?.targets[0]?.drained, false);
      const right = await post(`${proxy.adminUrl}/api/upstreams/api/targets/0/drain`, {
        authorization: 'Bearer t0ken',
      });
      assert.equal(right.status, 200);
      assert.equal(proxy.upstreams.get('api')?.targets[0]?.drained, true);
    } finally {
      await proxy.close();
      await a.close();
    }
  });

  test('POST /api/reload applies a valid file and answers 422 with paths for an invalid one', async () => {
    const a = await named('a');
    const b = await named('b');
    const file = inTempDir('proxy.yaml');
    await writeFile(file, yaml([a.url]));
    const proxy = await startProxy(await loadConfigFile(file), {
      logger: pino({ level: 'silent' }),
      configFile: file,
    });
    const proxyUrl = `http://127.0.0.1:${proxy.proxyAddresses[0]?.port}`;
    const adminUrl = `http://127.0.0.1:${proxy.adminAddress?.port}`;
    try {
      await writeFile(file, yaml([a.url]).replace('upstream: api', 'upstream: nope'));
      const invalid = await post(`${adminUrl}/api/reload`);
      assert.equal(invalid.status, 422);
      const error = JSON.parse(invalid.body).error;
      assert.equal(error.code, 'INVALID_CONFIG');
      assert.deepEqual(
        error.issues.map((issue: { path: string }) => issue.path),
        ['routes[0].upstream'],
      );
      assert.equal((await httpRequest(`${proxyUrl}/`)).body, 'a');

      await writeFile(file, yaml([b.url]));
      const valid = await post(`${adminUrl}/api/reload`);
      assert.equal(valid.status, 200);
      const applied = JSON.parse(valid.body);
      assert.equal(applied.status, 'applied');
      assert.deepEqual(applied.upstreams[0].targets, {
        kept: [],
        added: [b.url],
        removed: [a.url],
      });
      assert.deepEqual(applied.warnings, []);
      assert.equal((await httpRequest(`${proxyUrl}/`)).body, 'b');
    } finally {
      await proxy.close();
      await a.close();
      await b.close();
    }
  });

  test('POST /api/reload answers 409 when the proxy was started without a config file', async () => {
    const a = await named('a');
    const proxy = await startTestProxy(yaml([a.url]));
    try {
      const response = await post(`${proxy.adminUrl}/api/reload`);
      assert.equal(response.status, 409);
      assert.equal(JSON.parse(response.body).error.code, 'RELOAD_UNAVAILABLE');
    } finally {
      await proxy.close();
      await a.close();
    }
  });
});
