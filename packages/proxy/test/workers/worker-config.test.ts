import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { workerConfig } from '../../src/workers/worker-config.ts';
import { workerCount } from '../../src/workers/worker-count.ts';

const config = loadConfig(`
listen: 127.0.0.1:0
workers: 2
admin: { listen: 127.0.0.1:0 }
upstreams:
  api:
    targets: [{ url: http://127.0.0.1:8001 }]
    healthCheck: { path: /healthz }
routes:
  - upstream: api
`);

test('a worker gets no admin listener and no health checks, and everything else', () => {
  const worker = workerConfig(config);
  assert.equal(worker.admin, undefined);
  assert.equal(worker.upstreams.api?.healthCheck, undefined);
  assert.deepEqual(worker.upstreams.api?.targets, config.upstreams.api?.targets);
  assert.deepEqual(worker.routes, config.routes);
  assert.ok(config.upstreams.api?.healthCheck !== undefined, 'the original is left alone');
});

test('workers defaults to one per core, and auto means one per core', () => {
  const plain = loadConfig(`
listen: 127.0.0.1:0
upstreams: { api: { targets: [{ url: http://127.0.0.1:8001 }] } }
routes: [{ upstream: api }]
`);
  assert.equal(plain.workers, 'auto');
  assert.equal(workerCount(1), 1);
  assert.equal(workerCount('auto'), availableParallelism());
  assert.equal(workerCount(3), 3);
});

test('refuses a workers value that is not auto or a positive whole number, naming it', () => {
  for (const bad of ['0', '1.5', 'many', '-2']) {
    assert.throws(
      () =>
        loadConfig(`
listen: 127.0.0.1:0
workers: ${bad}
upstreams: { api: { targets: [{ url: http://127.0.0.1:8001 }] } }
routes: [{ upstream: api }]
`),
      (error: Error) => /workers/.test(error.message),
      `workers: ${bad}`,
    );
  }
});
