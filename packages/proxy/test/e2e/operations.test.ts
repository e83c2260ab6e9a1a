/**
 * Black-box: the admin token rule, config errors that name their paths, and the access log.
 * (Graceful shutdown is tested with startProxy in test/proxy.test.ts and through the CLI in
 * e2e/cli.test.ts.)
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/config/config-error.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { httpRequest, proxyYaml, startServer, startTestProxy } from '../support/proxy-harness.ts';

const BASE = `
listen: 127.0.0.1:0
upstreams:
  app:
    targets: [{ url: http://127.0.0.1:8001 }]
routes:
  - upstream: app
`;

/** The issues a config raises, as `path: message` lines. */
function issuesOf(text: string, env: Record<string, string> = {}): string[] {
  try {
    loadConfig(text, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    assert.equal(error.code, 'ERR_CONFIG');
    return error.issues.map((issue) => `${issue.path}: ${issue.message}`);
  }
  return [];
}

function assertIssue(issues: string[], path: string, message?: RegExp): void {
  const found = issues.find((line) => line.startsWith(`${path}: `));
  assert.ok(found !== undefined, `no issue at ${path}; got:\n${issues.join('\n')}`);
  if (message !== undefined) assert.match(found, message);
}

describe('admin token rule', () => {
  for (const listen of ['0.0.0.0:9901', ':9901', '[::]:9901', '192.0.2.10:9901']) {
    test(`a non-loopback admin listen (${listen}) without a token is a config error`, () => {
      assertIssue(issuesOf(`${BASE}admin:\n  listen: "${listen}"\n`), 'admin.token', /required/);
    });
  }

  test('a loopback admin listen needs no token', () => {
    assert.deepEqual(issuesOf(`${BASE}admin:\n  listen: 127.0.0.1:9901\n`), []);
    assert.deepEqual(issuesOf(`${BASE}admin:\n  listen: "[::1]:9901"\n`), []);
  });

  test('a token from an unset environment variable is an error naming admin.token and the variable', () => {
    const issues = issuesOf(`${BASE}admin:\n  listen: 0.0.0.0:9901\n  token: \${BW_TOKEN}\n`);
    assertIssue(issues, 'admin.token', /BW_TOKEN/);
  });

  test('a token that expands to empty is refused, not treated as "no token"', () => {
    const issues = issuesOf(`${BASE}admin:\n  listen: 0.0.0.0:9901\n  token: \${BW_TOKEN:-}\n`);
    assertIssue(issues, 'admin.token');
  });

  test('with a token, admin endpoints answer 401 JSON without it and 200 with it; /healthz stays open', async () => {
    const upstream = await startServer((_req, res) => res.end('ok'));
    const proxy = await startTestProxy(
      proxyYaml(
        [upstream.url],
        `admin:\n  listen: 127.0.0.1:0\n  token: \${BW_REVIEW_TOKEN}\nlog:\n  level: silent\n`,
      ),
      { BW_REVIEW_TOKEN: 'correct-horse' },
    );
    try {
      const admin = proxy.adminUrl ?? '';
      const missing = await httpRequest(`${admin}/api/upstreams`);
      assert.equal(missing.status, 401);
      assert.equal(JSON.parse(missing.body).error.code, 'UNAUTHORIZED');
      const wrong = await httpRequest(`${admin}/api/upstreams`, {
        headers: { authorization: 'Bearer correct-horsf' },
      });
      assert.equal(wrong.status, 401);
      const prefixOnly = await httpRequest(`${admin}/api/upstreams`, {
        headers: { authorization: 'Bearer correct' },
      });
      assert.equal(prefixOnly.status, 401);
      const metrics = await httpRequest(`${admin}/metrics`);
      assert.equal(metrics.status, 401, 'metrics are behind the token too');
      const ok = await httpRequest(`${admin}/api/upstreams`, {
        headers: { authorization: 'Bearer correct-horse' },
      });
      assert.equal(ok.status, 200);
      const view = JSON.parse(ok.body) as {
        upstreams: {
          name: string;
          targets: { url: string; healthy: boolean; activeRequests: number }[];
        }[];
      };
      assert.equal(view.upstreams[0]?.name, 'app');
      assert.equal(view.upstreams[0]?.targets[0]?.url, upstream.url);
      assert.equal(view.upstreams[0]?.targets[0]?.healthy, true);
      assert.equal((await httpRequest(`${admin}/healthz`)).status, 200);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});

describe('config errors name their paths', () => {
  test('an unknown key deep in a target', () => {
    const text = BASE.replace(
      '{ url: http://127.0.0.1:8001 }',
      '{ url: http://127.0.0.1:8001, wieght: 2 }',
    );
    assertIssue(issuesOf(text), 'upstreams.app.targets[0].wieght', /unknown key/);
  });

  test('an unknown top-level key', () => {
    assertIssue(issuesOf(`${BASE}preserve_host: false\n`), 'preserve_host', /unknown key/);
  });

  test('a non-http target URL, a URL with a path, and a bad duration, all reported at once', () => {
    const issues = issuesOf(`
listen: 127.0.0.1:0
upstreams:
  app:
    targets:
      - url: http://127.0.0.1:8001
      - url: https://127.0.0.1:8002
      - url: http://127.0.0.1:8003/api
    timeouts: { response: 30 seconds }
routes:
  - upstream: app
`);
    assertIssue(issues, 'upstreams.app.targets[1].url', /http:\/\//);
    assertIssue(issues, 'upstreams.app.targets[2].url', /path/);
    assertIssue(issues, 'upstreams.app.timeouts.response', /duration/);
  });

  test('a route to an undefined upstream and an unknown balance', () => {
    const issues = issuesOf(`
listen: 127.0.0.1:0
upstreams:
  app:
    balance: fastest
    targets: [{ url: http://127.0.0.1:8001 }]
routes:
  - upstream: app
  - match: { pathPrefix: /v2 }
    upstream: api
`);
    assertIssue(issues, 'routes[1].upstream', /api/);
    assertIssue(issues, 'upstreams.app.balance', /round-robin/);
  });

  test('hashOn without consistent-hash, and a malformed listen address', () => {
    const issues = issuesOf(
      BASE.replace('127.0.0.1:0', '127.0.0.1:99999').replace(
        '    targets:',
        '    hashOn: header:x-user\n    targets:',
      ),
    );
    assertIssue(issues, 'upstreams.app.hashOn', /consistent-hash/);
    assertIssue(issues, 'listen', /host:port/);
  });

  test('an unset environment variable in a target URL names that target', () => {
    const issues = issuesOf(BASE.replace('http://127.0.0.1:8001', `"\${BW_BACKEND_URL}"`));
    assertIssue(issues, 'upstreams.app.targets[0].url', /BW_BACKEND_URL/);
  });

  test('an environment variable value cannot inject YAML structure', () => {
    const config = loadConfig(`${BASE}admin:\n  listen: 127.0.0.1:9901\n  token: \${T}\n`, {
      T: 'abc\nlisten: 0.0.0.0:80',
    });
    assert.equal(config.admin?.token, 'abc\nlisten: 0.0.0.0:80');
    assert.equal(config.listen[0]?.host, '127.0.0.1');
  });

  test('a duplicate upstream name is an error, not last-one-wins', () => {
    const issues = issuesOf(`
listen: 127.0.0.1:0
upstreams:
  app:
    targets: [{ url: http://127.0.0.1:8001 }]
  app:
    targets: [{ url: http://127.0.0.1:9009 }]
routes:
  - upstream: app
`);
    assert.ok(issues.length > 0, 'duplicate keys must be reported');
  });
});

describe('access log', () => {
  test('one line per request with method, path, status, upstream, target, duration and request id', async () => {
    const upstream = await startServer((_req, res) => {
      res.statusCode = 201;
      res.end('ok');
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url]));
    try {
      await httpRequest(`${proxy.url}/logged?q=1`, {
        method: 'PUT',
        body: 'x',
        headers: { 'x-request-id': 'log-1' },
      });
      await httpRequest(`${proxy.url}/again`);
      const lines = proxy.logs.lines.filter((line) => line.requestId === 'log-1');
      assert.equal(lines.length, 1, JSON.stringify(proxy.logs.lines));
      const line = lines[0] ?? {};
      assert.equal(line.method, 'PUT');
      assert.equal(line.path, '/logged?q=1');
      assert.equal(line.status, 201);
      assert.equal(line.upstream, 'app');
      assert.equal(line.target, upstream.url);
      assert.equal(typeof line.durationMs, 'number');
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});
