import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/config/config-error.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import {
  acceptIssues,
  assertAcceptSupported,
  reusePortCaveat,
} from '../../src/workers/accept-mode.ts';

const config = (cluster: string, listen = '127.0.0.1:8080') =>
  loadConfig(`
listen: ${listen}
workers: 2
${cluster}
upstreams: { api: { targets: [{ url: http://127.0.0.1:8001 }] } }
routes: [{ upstream: api }]
`);

const linux = { platform: 'linux', nodeVersion: '24.21.0' } as const;

test('cluster.accept defaults to round-robin, which works everywhere', () => {
  const plain = config('');
  assert.equal(plain.cluster.accept, 'round-robin');
  assert.equal(plain.cluster.redis, undefined);
  assert.deepEqual(acceptIssues(plain, { platform: 'darwin', nodeVersion: '20.0.0' }), []);
});

test('reuse-port is accepted on Linux with Node 23.1 or later and a fixed port', () => {
  const reuse = config('cluster: { accept: reuse-port }');
  assert.deepEqual(acceptIssues(reuse, linux), []);
  assert.deepEqual(acceptIssues(reuse, { platform: 'linux', nodeVersion: '23.1.0' }), []);
});

test('reuse-port is refused off Linux and on an older Node, naming cluster.accept', () => {
  const reuse = config('cluster: { accept: reuse-port }');
  const issues = acceptIssues(reuse, { platform: 'darwin', nodeVersion: '23.0.9' });
  assert.deepEqual(
    issues.map((issue) => issue.path),
    ['cluster.accept', 'cluster.accept'],
  );
  assert.match(issues[0]!.message, /needs Linux.*this is darwin/);
  assert.match(issues[1]!.message, /needs Node 23\.1 or later; this is 23\.0\.9/);
  assert.throws(
    () => assertAcceptSupported(reuse, { platform: 'win32', nodeVersion: '24.0.0' }),
    (error: unknown) => error instanceof ConfigError && error.code === 'ERR_CONFIG',
  );
});

test('reuse-port refuses port 0, which each worker would resolve to a different port', () => {
  const reuse = config('cluster: { accept: reuse-port }', '[127.0.0.1:8080, 127.0.0.1:0]');
  const issues = acceptIssues(reuse, linux);
  assert.deepEqual(
    issues.map((issue) => issue.path),
    ['listen[1]'],
  );
  assert.match(issues[0]!.message, /port 0 cannot be shared/);
});

test('an unknown accept mode is a config error naming the path', () => {
  assert.throws(
    () => config('cluster: { accept: hash }'),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.issues.some(
        (issue) => issue.path === 'cluster.accept' && /round-robin, reuse-port/.test(issue.message),
      ),
  );
});

test('reuse-port warns of reset queued connections unless tcp_migrate_req is 1', () => {
  const reuse = config('cluster: { accept: reuse-port }');
  assert.match(reusePortCaveat(reuse, () => '0\n') ?? '', /tcp_migrate_req is not 1/);
  assert.match(reusePortCaveat(reuse, () => undefined) ?? '', /connections .* are reset/);
  assert.equal(
    reusePortCaveat(reuse, () => '1\n'),
    undefined,
  );
  assert.equal(
    reusePortCaveat(config(''), () => '0\n'),
    undefined,
    'round-robin has no window',
  );
});
