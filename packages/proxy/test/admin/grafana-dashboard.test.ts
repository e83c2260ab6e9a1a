/**
 * `docs/grafana/breakwater.json` queries only metrics the proxy exports: every `breakwater_*`
 * name in its panels' and variables' queries has samples on a real proxy's `/metrics` after some
 * traffic (a success, a retried connect failure, an error the proxy made).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import {
  closedPort,
  httpRequest,
  startServer,
  startTestProxy,
  type TestProxy,
  type TestServer,
} from '../support/proxy-harness.ts';

const closers: Array<() => Promise<void>> = [];
after(() => Promise.all(closers.map((close) => close())));

interface GrafanaNode {
  readonly expr?: unknown;
  readonly query?: unknown;
  readonly definition?: unknown;
  readonly [key: string]: unknown;
}

/** Every query string anywhere in the dashboard (panel targets, template variables). */
function queries(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) queries(item, out);
  else if (typeof node === 'object' && node !== null) {
    const { expr, query, definition } = node as GrafanaNode;
    for (const text of [expr, query, definition]) if (typeof text === 'string') out.push(text);
    for (const value of Object.values(node)) queries(value, out);
  }
  return out;
}

test('every metric the Grafana dashboard queries has samples on the proxy /metrics', async () => {
  const dashboard: unknown = JSON.parse(
    readFileSync(new URL('../../../../docs/grafana/breakwater.json', import.meta.url), 'utf8'),
  );
  const names = new Set(
    queries(dashboard).flatMap((text) => text.match(/\bbreakwater_\w+/g) ?? []),
  );
  assert.ok(names.size >= 10, `the dashboard queries ${names.size} metrics`);

  const upstream: TestServer = await startServer((_req, res) => res.end('ok'));
  closers.push(() => upstream.close());
  const down = await closedPort();
  const proxy: TestProxy = await startTestProxy(`
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
upstreams:
  app:
    targets:
      - url: http://127.0.0.1:${down}
      - url: ${upstream.url}
    balance: round-robin
    outlierDetection:
      policy: { consecutiveFailures: 5 }
      failOn: [connect-error, 5xx]
  gone:
    targets:
      - url: http://127.0.0.1:${down}
routes:
  - match: { pathPrefix: /gone }
    upstream: gone
  - upstream: app
`);
  closers.push(() => proxy.close());
  for (let i = 0; i < 4; i++) assert.equal((await httpRequest(`${proxy.url}/`)).status, 200);
  assert.equal((await httpRequest(`${proxy.url}/gone`)).status, 502);

  const text = (await httpRequest(`${proxy.adminUrl}/metrics`)).body;
  const sampled = new Set(
    text.split('\n').flatMap((line) => /^(breakwater_\w+)[{ ]/.exec(line)?.[1] ?? []),
  );
  const missing = [...names].filter((name) => !sampled.has(name));
  assert.deepEqual(
    missing,
    [],
    `queried by the dashboard but not on /metrics: ${missing.join(', ')}`,
  );
});
