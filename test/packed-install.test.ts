/**
 * The packages as users get them: every library package is built and packed, the tarballs are
 * installed into a fresh temporary application (npm, from the tarball files; express, fastify
 * and undici not installed; `redis`, the peer of `@breakwater/redis`, installed from npm's cache
 * as npm installs peers; `prom-client`, the optional peer of `@breakwater/prometheus`, installed
 * as its README says), and there:
 * - an ES module program and a CommonJS `require` program run on every Node.js found — the one
 *   running this test, Node 22 (`BREAKWATER_NODE22`, or `~/.cache/node22` where `.ci/run` puts
 *   it) and the system's Node 20 when it is 20.19 or newer. CommonJS support is Node's own
 *   `require(esm)` (unflagged since 20.19 and 22.12): the packages ship ES modules only;
 * - a strict TypeScript program (`skipLibCheck: false`) type-checks under `moduleResolution`
 *   node16, nodenext and bundler.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { npm, packPackages } from '../scripts/pack-packages.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

const esmProgram = `
import {
  CircuitBreaker,
  CircuitOpenError,
  InvalidOptionError,
  ManualClock,
  consecutiveFailures,
} from 'breakwater';
import { classifyHttpOutcome, protectedFetch } from '@breakwater/http';
import { protectHandler } from '@breakwater/http/node';
import { expressBreaker } from '@breakwater/http/express';
import { redisSync } from '@breakwater/redis';
import { instrument } from '@breakwater/prometheus';
import { Registry } from 'prom-client';

const clock = new ManualClock();
const breaker = new CircuitBreaker({ policy: consecutiveFailures(2), openDuration: 1_000, clock });
for (let i = 0; i < 2; i++) await breaker.execute(() => { throw new Error('down'); }).catch(() => {});
const rejected = await breaker.execute(() => 'ran').catch((error) => error);
clock.advance(1_000);
const recovered = await breaker.execute(() => 'ran');
// A client-shaped object with a prefix Redis Cluster would misroute: refused before any I/O, with
// the application's own InvalidOptionError class (one breakwater copy, through the peer range).
const fakeClient = { evalSha() {}, eval() {}, on() {}, duplicate() {}, isReady: false };
let refused;
try {
  redisSync({ client: fakeClient, prefix: '{app}:' });
} catch (error) {
  refused = error;
}
const register = new Registry();
const metrics = instrument(breaker, { register, name: 'payments' });
await breaker.execute(() => 'counted');
const scraped = await register.metrics();
metrics.dispose();
console.log(JSON.stringify({
  open: CircuitOpenError.is(rejected) && rejected instanceof CircuitOpenError,
  recovered,
  classified: classifyHttpOutcome({ status: 503 }),
  fetch: typeof protectedFetch({ fetch: async () => new Response('ok') }),
  node: typeof protectHandler((_req, res) => res.end()),
  express: typeof expressBreaker(),
  redis: refused instanceof InvalidOptionError && refused.option === 'prefix',
  prometheus: /^breakwater_breaker_calls_total{breaker="payments",outcome="success"} 1$/m.test(scraped),
}));
`;

const cjsProgram = `
const { CircuitBreaker, CircuitOpenError, consecutiveFailures } = require('breakwater');
const { protectedFetch } = require('@breakwater/http');
const { redisSync } = require('@breakwater/redis');
const breaker = new CircuitBreaker({ policy: consecutiveFailures(1) });
breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {
  breaker.execute(() => 'ran').catch((error) => {
    console.log(JSON.stringify({
      open: CircuitOpenError.is(error),
      fetch: typeof protectedFetch(),
      redis: typeof redisSync,
    }));
  });
});
`;

const tsProgram = `
import {
  CircuitBreaker,
  CircuitOpenError,
  type CallContext,
  consecutiveFailures,
  exponential,
  pipeline,
  retry,
  timeout,
} from 'breakwater';
import { protectedFetch, type ProtectedFetchOptions } from '@breakwater/http';
import { classifyHttpOutcome } from '@breakwater/http/fetch';
import { protectHandler } from '@breakwater/http/node';
import { expressBreaker } from '@breakwater/http/express';
import { type RedisSync, type RedisSyncClient, redisSync } from '@breakwater/redis';
import { type Instrumentation, instrument } from '@breakwater/prometheus';
import { register } from 'prom-client';

const options: ProtectedFetchOptions = { timeout: 2_000, retry: { maxAttempts: 2 } };
const http = protectedFetch(options);
const policy = pipeline(
  retry({ maxAttempts: 3, backoff: exponential({ initial: 100 }) }),
  new CircuitBreaker({ policy: consecutiveFailures(3) }),
  timeout(1_000),
);
export async function load(url: string): Promise<number> {
  try {
    return await policy.execute(async ({ signal, attempt }: CallContext) => {
      const response = await http(url, { signal });
      return response.status + attempt;
    });
  } catch (error) {
    if (CircuitOpenError.is(error)) return error.retryAfter;
    throw error;
  }
}
export const outcome: 'success' | 'failure' | 'ignored' = classifyHttpOutcome({ status: 200 });
export const handler = protectHandler((_req, res) => {
  res.end();
});
export const middleware = expressBreaker();
// Not node-redis's createClient here: its types alone double this test's compile time, and the
// workspace's typecheck already checks that its client is a RedisSyncClient.
export function share(client: RedisSyncClient): RedisSync {
  return redisSync({ client, prefix: 'app:', flushInterval: 100 });
}
export const metrics: Instrumentation = instrument(policy, { register, name: 'load' });
`;

/** Every distinct Node.js binary to run the programs on, with its version. */
async function nodes(): Promise<Array<{ path: string; version: string }>> {
  const candidates = [
    process.execPath,
    process.env.BREAKWATER_NODE22 ??
      join(homedir(), '.cache', 'node22', 'node_modules', '.bin', 'node'),
    '/usr/bin/node',
    '/usr/local/bin/node',
  ];
  const found = new Map<string, string>();
  for (const path of candidates) {
    if (!existsSync(path)) continue;
    const { stdout } = await run(path, ['--version']);
    const version = stdout.trim();
    const [major = 0, minor = 0] = version.slice(1).split('.').map(Number);
    // Versions the packages support (engines: ^20.19.0 || >=22.12.0).
    const supported = major >= 23 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19);
    if (supported && ![...found.values()].includes(version)) found.set(path, version);
  }
  return [...found].map(([path, version]) => ({ path, version }));
}

// Packing five packages and installing them from the registry takes well over the suite-wide
// 60 s on a busy 2-core machine; the suite's own bound is five minutes.
describe('the packed packages installed into a fresh application', { timeout: 300_000 }, () => {
  let app = '';

  before(async () => {
    app = await mkdtemp(join(tmpdir(), 'breakwater-packed-'));
    const tarballs = await packPackages(join(app, 'tarballs'));
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({ name: 'packed-app', private: true, version: '1.0.0' }),
    );
    await npm(
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
        '--loglevel=error',
        ...tarballs.map((t) => t.tarball),
        'prom-client@^15',
        '@types/node@24',
      ],
      app,
    );
    await writeFile(join(app, 'esm.mjs'), esmProgram);
    await writeFile(join(app, 'cjs.cjs'), cjsProgram);
    await writeFile(join(app, 'program.ts'), tsProgram);
  });

  after(() => rm(app, { recursive: true, force: true }));

  it('installs without express, fastify or undici, with the redis peer', () => {
    for (const name of ['express', 'fastify', 'undici']) {
      assert.equal(existsSync(join(app, 'node_modules', name)), false, name);
    }
    assert.ok(existsSync(join(app, 'node_modules', 'breakwater', 'LICENSE')));
    assert.ok(existsSync(join(app, 'node_modules', '@breakwater', 'http', 'README.md')));
    assert.ok(existsSync(join(app, 'node_modules', '@breakwater', 'redis', 'README.md')));
    assert.ok(existsSync(join(app, 'node_modules', 'redis', 'package.json')), 'redis peer');
    // One breakwater for the application and every package: no nested copy.
    for (const name of ['http', 'redis']) {
      const nested = join(app, 'node_modules', '@breakwater', name, 'node_modules', 'breakwater');
      assert.equal(existsSync(nested), false, nested);
    }
  });

  it('runs an ES module and a CommonJS program on every supported Node found', async (t) => {
    const found = await nodes();
    const majors = new Set(found.map((n) => n.version.split('.')[0]));
    if (process.env.BREAKWATER_NODE22 !== undefined) assert.ok(majors.has('v22'), 'Node 22 found');
    if (!majors.has('v22')) t.diagnostic('no Node 22 found: install it with .ci/run');
    for (const { path, version } of found) {
      const esm = await run(path, ['esm.mjs'], { cwd: app });
      assert.deepEqual(
        JSON.parse(esm.stdout),
        {
          open: true,
          recovered: 'ran',
          classified: 'failure',
          fetch: 'function',
          node: 'function',
          express: 'function',
          redis: true,
          prometheus: true,
        },
        `ESM on ${version}`,
      );
      const cjs = await run(path, ['cjs.cjs'], { cwd: app });
      assert.deepEqual(
        JSON.parse(cjs.stdout),
        { open: true, fetch: 'function', redis: 'function' },
        `CJS on ${version}`,
      );
      t.diagnostic(`ESM and CommonJS programs ran on Node ${version}`);
    }
  });

  it('type-checks a strict program with moduleResolution node16, nodenext and bundler', async () => {
    await writeFile(join(app, 'program.mts'), tsProgram);
    const settings = [
      ['node16', 'node16'],
      ['nodenext', 'nodenext'],
      ['esnext', 'bundler'],
    ] as const;
    // Three compilers at once: each spends most of its time on the same lib files.
    const reports = await Promise.all(
      settings.map(async ([module, moduleResolution]) => {
        const config = join(app, `tsconfig.${moduleResolution}.json`);
        await writeFile(
          config,
          JSON.stringify({
            compilerOptions: {
              strict: true,
              skipLibCheck: false,
              noEmit: true,
              target: 'es2022',
              lib: ['es2022', 'dom'],
              module,
              moduleResolution,
              types: ['node'],
            },
            // node16/nodenext take a file's format from its extension or package.json: .mts is ESM.
            files: [moduleResolution === 'bundler' ? 'program.ts' : 'program.mts'],
          }),
        );
        const errors = await run(process.execPath, [tsc, '-p', config], { cwd: app }).then(
          () => '',
          (error: { stdout?: string }) => error.stdout ?? String(error),
        );
        return { moduleResolution, errors };
      }),
    );
    for (const { moduleResolution, errors } of reports) {
      assert.equal(errors, '', `tsc (moduleResolution ${moduleResolution}) reported errors`);
    }
  });
});
