import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { describe, test } from 'node:test';
import { loadConfig, loadConfigFile } from '../../src/config/load-config.ts';
import { type RunningProxy, startProxy } from '../../src/proxy.ts';
import {
  capturingLogger,
  httpRequest,
  startServer,
  type TestServer,
} from '../support/proxy-harness.ts';
import { until } from '../support/servers.ts';
import { useTempDir } from '../support/temp-dir.ts';

/** An upstream that answers with its name, and holds `/slow` requests until released. */
interface NamedUpstream extends TestServer {
  readonly hits: () => number;
  readonly held: () => number;
  release(): void;
}

async function namedUpstream(name: string): Promise<NamedUpstream> {
  let hits = 0;
  const waiting: ServerResponse[] = [];
  const server = await startServer((req, res) => {
    hits++;
    if (req.url === '/slow') waiting.push(res);
    else res.end(name);
  });
  return {
    ...server,
    hits: () => hits,
    held: () => waiting.length,
    release: () => {
      for (const res of waiting.splice(0)) res.end(`${name} slow`);
    },
  };
}

interface ReloadableProxy extends RunningProxy {
  readonly url: string;
  readonly logs: Record<string, unknown>[];
}

async function startFromFile(file: string, yaml: string): Promise<ReloadableProxy> {
  await writeFile(file, yaml);
  const { logger, logs } = capturingLogger();
  const proxy = await startProxy(await loadConfigFile(file), { logger, configFile: file });
  return { ...proxy, url: `http://127.0.0.1:${proxy.proxyAddresses[0]?.port}`, logs: logs.lines };
}

function yaml(upstreams: Record<string, readonly string[]>, routes = '', extra = ''): string {
  const blocks = Object.entries(upstreams).map(
    ([name, urls]) =>
      `  ${name}:\n    targets:\n${urls.map((url) => `      - url: ${url}`).join('\n')}`,
  );
  const first = Object.keys(upstreams)[0];
  return `listen: 127.0.0.1:0
log: { access: false }
upstreams:
${blocks.join('\n')}
routes:
${routes}  - upstream: ${first}
${extra}`;
}

describe('hot reload', () => {
  const inTempDir = useTempDir('breakwater-reload-');

  test('routes to a new upstream at once while a request to the removed one completes', async () => {
    const a = await namedUpstream('a');
    const b = await namedUpstream('b');
    const proxy = await startFromFile(inTempDir('route.yaml'), yaml({ one: [a.url] }));
    try {
      const slow = httpRequest(`${proxy.url}/slow`);
      await until(() => a.held() === 1, 'the slow request to reach a');
      const result = await proxy.reload(loadConfig(yaml({ two: [b.url] })));
      assert.equal(result.status, 'applied');
      assert.deepEqual(
        result.status === 'applied' && result.upstreams.map((u) => [u.name, u.change]),
        [
          ['two', 'added'],
          ['one', 'removed'],
        ],
      );
      assert.equal((await httpRequest(`${proxy.url}/`)).body, 'b');
      assert.deepEqual([...proxy.upstreams.keys()], ['two']);
      a.release();
      const answer = await slow;
      assert.equal(answer.status, 200);
      assert.equal(answer.body, 'a slow');
      await until(
        () => proxy.logs.some((line) => String(line.msg).startsWith('removed target closed')),
        'the removed target to close',
      );
    } finally {
      await proxy.close();
      await a.close();
      await b.close();
    }
  });

  test('a removed target takes no new requests and its in-flight request completes', async () => {
    const a = await namedUpstream('a');
    const b = await namedUpstream('b');
    const proxy = await startFromFile(inTempDir('remove.yaml'), yaml({ app: [a.url, b.url] }));
    try {
      const [targetA, targetB] = proxy.upstreams.get('app')?.targets ?? [];
      assert.ok(targetA && targetB);
      targetB.drained = true; // so the slow request lands on a
      const slow = httpRequest(`${proxy.url}/slow`);
      await until(() => a.held() === 1, 'the slow request to reach a');
      targetB.drained = false;
      const result = await proxy.reload(loadConfig(yaml({ app: [b.url] })));
      assert.equal(result.status, 'applied');
      assert.equal(targetA.drained, true);
      assert.equal(targetA.activeRequests, 1);
      const hitsBefore = a.hits();
      for (let i = 0; i < 4; i++) assert.equal((await httpRequest(`${proxy.url}/`)).body, 'b');
      assert.equal(a.hits(), hitsBefore);
      a.release();
      const answer = await slow;
      assert.equal(answer.status, 200);
      assert.equal(answer.body, 'a slow');
      assert.equal(targetA.activeRequests, 0);
    } finally {
      await proxy.close();
      await a.close();
      await b.close();
    }
  });

  test('a kept target keeps its object, drained flag, breaker and in-flight count', async () => {
    const a = await namedUpstream('a');
    const b = await namedUpstream('b');
    const c = await namedUpstream('c');
    // Round robin, so that the new target and the held one (weight 3) both take requests below.
    const roundRobin = (text: string) =>
      text.replace('  app:\n', '  app:\n    balance: round-robin\n');
    const proxy = await startFromFile(
      inTempDir('keep.yaml'),
      roundRobin(yaml({ app: [a.url, b.url] })),
    );
    try {
      const [targetA, targetB] = proxy.upstreams.get('app')?.targets ?? [];
      assert.ok(targetA && targetB);
      targetA.drained = true;
      const slow = httpRequest(`${proxy.url}/slow`);
      await until(() => b.held() === 1, 'the slow request to reach b');
      const breakerB = targetB.breaker;
      assert.ok(breakerB);
      const next = roundRobin(yaml({ app: [a.url, b.url, c.url] })).replace(
        `- url: ${b.url}`,
        `- { url: "${b.url}", weight: 3 }`,
      );
      const result = await proxy.reload(loadConfig(next));
      assert.equal(result.status, 'applied');
      const targets = proxy.upstreams.get('app')?.targets ?? [];
      assert.equal(targets[0], targetA);
      assert.equal(targets[1], targetB);
      assert.equal(targetA.drained, true);
      assert.equal(targetB.breaker, breakerB);
      assert.equal(targetB.activeRequests, 1);
      assert.equal(targetB.weight, 3);
      const bodies = new Set<string>();
      for (let i = 0; i < 6; i++) bodies.add((await httpRequest(`${proxy.url}/`)).body);
      assert.deepEqual([...bodies].sort(), ['b', 'c']);
      b.release();
      assert.equal((await slow).status, 200);
      assert.equal(targetB.activeRequests, 0);
    } finally {
      await proxy.close();
      await a.close();
      await b.close();
      await c.close();
    }
  });

  test('changed timeouts give a kept target a new connection pool, not a new identity', async () => {
    const a = await namedUpstream('a');
    const proxy = await startFromFile(inTempDir('timeouts.yaml'), yaml({ app: [a.url] }));
    try {
      const target = proxy.upstreams.get('app')?.targets[0];
      assert.ok(target);
      const oldPool = target.pool;
      const next = yaml({ app: [a.url] }).replace(
        `      - url: ${a.url}`,
        `      - url: ${a.url}\n    timeouts: { response: 7s }`,
      );
      const result = await proxy.reload(loadConfig(next));
      assert.equal(
        result.status === 'applied' && result.upstreams[0]?.settingsChanged[0],
        'timeouts',
      );
      assert.equal(proxy.upstreams.get('app')?.targets[0], target);
      assert.notEqual(target.pool, oldPool);
      assert.equal(target.timeouts.response, 7_000);
      assert.equal((await httpRequest(`${proxy.url}/`)).body, 'a');
    } finally {
      await proxy.close();
      await a.close();
    }
  });

  test('an invalid file keeps the old config and returns the issues with their paths', async () => {
    const a = await namedUpstream('a');
    const file = inTempDir('invalid.yaml');
    const proxy = await startFromFile(file, yaml({ app: [a.url] }));
    try {
      await writeFile(
        file,
        yaml({ app: ['ftp://nope'] }).replace('upstream: app', 'upstream: web'),
      );
      const result = await proxy.reloadFile();
      assert.equal(result.status, 'rejected');
      assert.equal(result.status === 'rejected' && result.error.code, 'INVALID_CONFIG');
      const paths = result.status === 'rejected' ? result.error.issues.map((i) => i.path) : [];
      assert.deepEqual(paths.sort(), ['routes[0].upstream', 'upstreams.app.targets[0].url']);
      const logged = proxy.logs.find((line) =>
        String(line.msg).startsWith('config reload rejected'),
      );
      assert.equal(logged?.level, 50);
      assert.match(String(logged?.msg), /routes\[0\]\.upstream/);
      assert.equal((await httpRequest(`${proxy.url}/`)).body, 'a');
    } finally {
      await proxy.close();
      await a.close();
    }
  });

  test('reloads run one at a time, each planned against the one before', async () => {
    const a = await namedUpstream('a');
    const b = await namedUpstream('b');
    const c = await namedUpstream('c');
    const proxy = await startFromFile(inTempDir('serial.yaml'), yaml({ app: [a.url] }));
    try {
      const [first, second] = await Promise.all([
        proxy.reload(loadConfig(yaml({ app: [a.url, b.url] }))),
        proxy.reload(loadConfig(yaml({ app: [b.url, c.url] }))),
      ]);
      assert.deepEqual(first.status === 'applied' && first.upstreams[0]?.targets, {
        kept: [a.url],
        added: [b.url],
        removed: [],
      });
      assert.deepEqual(second.status === 'applied' && second.upstreams[0]?.targets, {
        kept: [b.url],
        added: [c.url],
        removed: [a.url],
      });
      assert.deepEqual(
        proxy.upstreams.get('app')?.targets.map((target) => target.id),
        [b.url, c.url],
      );
    } finally {
      await proxy.close();
      await a.close();
      await b.close();
      await c.close();
    }
  });

  test('a changed listen address is reported as a warning and the old listener keeps serving', async () => {
    const a = await namedUpstream('a');
    const proxy = await startFromFile(inTempDir('listen.yaml'), yaml({ app: [a.url] }));
    try {
      const next = yaml({ app: [a.url] }).replace('listen: 127.0.0.1:0', 'listen: 127.0.0.1:1');
      const result = await proxy.reload(loadConfig(next));
      assert.equal(result.status, 'applied');
      assert.deepEqual(
        result.status === 'applied' && result.warnings.map((warning) => warning.path),
        ['listen'],
      );
      assert.ok(proxy.logs.some((line) => line.level === 40 && line.path === 'listen'));
      assert.equal((await httpRequest(`${proxy.url}/`)).body, 'a');
      const same = await proxy.reload(loadConfig(next));
      assert.equal(same.status, 'unchanged');
    } finally {
      await proxy.close();
      await a.close();
    }
  });

  test('new targets get running health checks and removed targets have theirs stopped', async () => {
    const a = await namedUpstream('a');
    const b = await namedUpstream('b');
    const check = '    healthCheck: { path: /, interval: 50ms }\n';
    const withCheck = (urls: string[]) => yaml({ app: urls }).replace('routes:', `${check}routes:`);
    const proxy = await startFromFile(inTempDir('checks.yaml'), withCheck([a.url]));
    try {
      const targetA = proxy.upstreams.get('app')?.targets[0];
      assert.equal(targetA?.checker?.running, true);
      const result = await proxy.reload(loadConfig(withCheck([b.url])));
      assert.equal(result.status, 'applied');
      const targetB = proxy.upstreams.get('app')?.targets[0];
      assert.equal(targetB?.id, b.url);
      assert.equal(targetB?.checker?.running, true);
      assert.equal(targetA?.checker?.running, false);
      await until(() => b.hits() > 0, 'a probe to reach the new target');
    } finally {
      await proxy.close();
      await a.close();
      await b.close();
    }
  });

  test('a changed ejection rule gives kept targets a new breaker; a changed failOn keeps it', async () => {
    const a = await namedUpstream('a');
    const outlier = (rule: string) =>
      yaml({ app: [a.url] }).replace('routes:', `    outlierDetection: ${rule}\nroutes:`);
    const proxy = await startFromFile(
      inTempDir('outlier.yaml'),
      outlier('{ policy: { consecutiveFailures: 5 } }'),
    );
    try {
      const target = proxy.upstreams.get('app')?.targets[0];
      const original = target?.breaker;
      assert.ok(original);
      await proxy.reload(
        loadConfig(outlier('{ policy: { consecutiveFailures: 5 }, failOn: [5xx] }')),
      );
      assert.equal(target?.breaker, original);
      await proxy.reload(
        loadConfig(outlier('{ policy: { consecutiveFailures: 2 }, failOn: [5xx] }')),
      );
      assert.ok(target?.breaker);
      assert.notEqual(target?.breaker, original);
      await proxy.reload(loadConfig(outlier('false')));
      assert.equal(target?.breaker, undefined);
      assert.equal(proxy.upstreams.get('app')?.targets[0], target);
    } finally {
      await proxy.close();
      await a.close();
    }
  });

  test('the counts of requests an upstream turned away survive a reload that rebuilds it', async () => {
    const a = await namedUpstream('a');
    const config = (maxRequests: number) => `listen: 127.0.0.1:0
log: { access: false }
upstreams:
  app:
    targets: [ { url: ${a.url} } ]
    limits: { maxRequests: ${maxRequests} }
routes: [ { upstream: app } ]
`;
    const proxy = await startFromFile(inTempDir('overloads.yaml'), config(1));
    try {
      const slow = httpRequest(`${proxy.url}/slow`);
      await until(() => a.held() === 1, 'the slow request to reach a');
      assert.equal((await httpRequest(`${proxy.url}/`)).status, 503);
      a.release();
      await slow;
      const before = proxy.upstreams.get('app');
      assert.equal(before?.overloads.maxRequests, 1);
      const result = await proxy.reload(loadConfig(config(2)));
      assert.equal(result.status, 'applied');
      const after = proxy.upstreams.get('app');
      assert.notEqual(after, before, 'the changed upstream was rebuilt');
      assert.deepEqual(after?.overloads, {
        maxRequests: 1,
        maxPending: 0,
        maxRetries: 0,
        adaptiveConcurrency: 0,
      });
    } finally {
      a.release();
      await proxy.close();
      await a.close();
    }
  });
});
