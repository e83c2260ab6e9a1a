import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import {
  httpRequest,
  proxyYaml,
  startServer,
  startTestProxy,
  type TestServer,
} from '../support/proxy-harness.ts';

const closers: Array<() => Promise<void>> = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

async function upstream(): Promise<TestServer> {
  const server = await startServer((_req, res) => res.end('ok'));
  closers.push(() => server.close());
  return server;
}

/** Reads `GET /api/events` until `done` says so (5 s at most); returns the events seen. */
async function events(
  url: string,
  headers: Record<string, string>,
  done: (seen: { event: string; data: unknown }[]) => boolean,
): Promise<{ event: string; data: unknown }[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 5_000);
  const response = await fetch(`${url}/api/events`, { headers, signal: controller.signal });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const seen: { event: string; data: unknown }[] = [];
  let buffer = '';
  try {
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += value;
      let end = buffer.indexOf('\n\n');
      while (end !== -1) {
        const [eventLine = '', dataLine = ''] = buffer.slice(0, end).split('\n');
        seen.push({ event: eventLine.slice(7), data: JSON.parse(dataLine.slice(6)) });
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
      }
      if (done(seen)) break;
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return seen;
}

test('serves the page without the token but its event stream only with it', async () => {
  const target = await upstream();
  const proxy = await startTestProxy(
    proxyYaml([target.url], 'admin:\n  listen: 127.0.0.1:0\n  token: t0ken-for-tests'),
  );
  closers.push(() => proxy.close());

  let size = 0;
  for (const [path, type] of [
    ['/', 'text/html'],
    ['/dashboard.js', 'text/javascript'],
    ['/dashboard.css', 'text/css'],
  ] as const) {
    const response = await httpRequest(`${proxy.adminUrl}${path}`);
    assert.equal(response.status, 200, path);
    assert.match(String(response.headers['content-type']), new RegExp(`^${type}`));
    assert.match(String(response.headers['content-security-policy']), /script-src 'self'/);
    assert.doesNotMatch(response.body, new RegExp(target.url), 'the page files hold no data');
    size += Buffer.byteLength(response.body);
  }
  assert.ok(size < 24_000, `the page is small: ${size} bytes`);

  assert.equal((await httpRequest(`${proxy.adminUrl}/api/events`)).status, 401);
  const seen = await events(proxy.adminUrl!, { authorization: 'Bearer t0ken-for-tests' }, (so) =>
    so.some(({ event }) => event === 'view'),
  );
  const view = seen.find(({ event }) => event === 'view')!.data as {
    full: boolean;
    upstreams: { name: string; targets: { url: string; state: string }[] }[];
  };
  assert.equal(view.full, true);
  assert.deepEqual(
    view.upstreams[0]!.targets.map(({ url, state }) => [url, state]),
    [[target.url, 'closed']],
  );
});

test('puts every reload on the timeline with what changed, and refusals with why', async () => {
  const [a, b] = [await upstream(), await upstream()];
  const admin = 'admin:\n  listen: 127.0.0.1:0';
  const proxy = await startTestProxy(proxyYaml([a.url], admin));
  closers.push(() => proxy.close());

  let reloading: ReturnType<typeof proxy.reload> | undefined;
  const seen = await events(proxy.adminUrl!, {}, (so) => {
    // Reload once the stream is open, then read until the new target shows.
    reloading ??= proxy.reload(loadConfig(proxyYaml([a.url, b.url], admin), {}));
    return so.some(({ event, data }) => event === 'view' && JSON.stringify(data).includes(b.url));
  });
  assert.equal((await reloading)?.status, 'applied');
  const timeline = seen.filter(({ event }) => event === 'timeline').map(({ data }) => data);
  assert.deepEqual(
    timeline.map((entry) => (entry as { kind: string; text: string }).text),
    ['Config reloaded: app changed (1 target(s) added)'],
  );
});

test('puts health-check failures and drains on the timeline and in the view', async () => {
  const [healthy, failing] = [await upstream(), await upstream()];
  const proxy = await startTestProxy(`
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
upstreams:
  app:
    targets:
      - url: ${healthy.url}
      - url: ${failing.url}
    healthCheck: { type: tcp, interval: 100ms, timeout: 100ms, unhealthyThreshold: 1 }
routes:
  - upstream: app
`);
  closers.push(() => proxy.close());
  let acted = false;
  const seen = await events(proxy.adminUrl!, {}, (so) => {
    if (!acted) {
      acted = true;
      void failing.close();
      void httpRequest(`${proxy.adminUrl}/api/upstreams/app/targets/0/drain`, { method: 'POST' });
    }
    const kinds = new Set(so.map(({ data }) => (data as { kind?: string }).kind));
    return kinds.has('health-down') && kinds.has('drained') && states(so) === 'drained,down';
  });
  const timeline = seen
    .filter(({ event }) => event === 'timeline')
    .map(({ data }) => data as { kind: string; target: string; text: string });
  const down = timeline.find(({ kind }) => kind === 'health-down')!;
  assert.equal(down.target, failing.url);
  assert.match(down.text, /fails its health checks/);
  assert.equal(timeline.find(({ kind }) => kind === 'drained')?.target, healthy.url);
  assert.equal(states(seen), 'drained,down');
});

/** The targets' states in the latest view seen. */
function states(seen: { event: string; data: unknown }[]): string {
  const last = seen.findLast(({ event }) => event === 'view')?.data as
    | { upstreams: { targets: { state: string }[] }[] }
    | undefined;
  return last?.upstreams[0]?.targets.map(({ state }) => state).join(',') ?? '';
}

test("shows each target's adaptive concurrency limit in the view, null without one", async () => {
  const [limited, plain] = [await upstream(), await upstream()];
  const proxy = await startTestProxy(`
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
upstreams:
  limited:
    targets: [ { url: ${limited.url} } ]
    adaptiveConcurrency: { initialLimit: 7 }
  plain:
    targets: [ { url: ${plain.url} } ]
routes:
  - { match: { pathPrefix: /plain }, upstream: plain }
  - upstream: limited
`);
  closers.push(() => proxy.close());
  const seen = await events(proxy.adminUrl!, {}, (so) => so.some(({ event }) => event === 'view'));
  const view = seen.find(({ event }) => event === 'view')?.data as {
    upstreams: { name: string; targets: { concurrencyLimit: number | null }[] }[];
  };
  const limit = (name: string) =>
    view.upstreams.find((entry) => entry.name === name)?.targets[0]?.concurrencyLimit;
  assert.equal(limit('limited'), 7);
  assert.equal(limit('plain'), null);
});
