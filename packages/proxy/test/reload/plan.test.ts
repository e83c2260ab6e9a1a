import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { isEmptyPlan, planReload } from '../../src/reload/plan.ts';

/** The listener and the `api` upstream every config here starts with. */
const LISTEN_AND_API = `
listen: 127.0.0.1:8080
upstreams:
  api:
    targets:
      - url: http://127.0.0.1:8001
      - url: http://127.0.0.1:8002
      - url: http://127.0.0.1:8003
`;

const BASE = `${LISTEN_AND_API}  web:
    targets: [ { url: "http://127.0.0.1:9001" } ]
routes:
  - { match: { pathPrefix: /api }, upstream: api }
  - upstream: web
`;

const base = () => loadConfig(BASE);
/** Plans the reload from BASE to the config `nextYaml` describes. */
const planTo = (nextYaml: string) => planReload(base(), loadConfig(nextYaml));

describe('planReload', () => {
  test('the same config plans nothing', () => {
    const plan = planTo(BASE);
    assert.equal(isEmptyPlan(plan), true);
    assert.deepEqual(
      plan.upstreams.map((upstream) => [upstream.name, upstream.change]),
      [
        ['api', 'unchanged'],
        ['web', 'unchanged'],
      ],
    );
    assert.equal(plan.upstreams[0]?.kept.length, 3);
  });

  test('matches targets by URL: kept ones carry both indexes, others are added or removed', () => {
    const next = BASE.replace('      - url: http://127.0.0.1:8001\n', '').replace(
      '      - url: http://127.0.0.1:8003',
      '      - url: http://127.0.0.1:8003\n      - url: http://127.0.0.1:8004',
    );
    const api = planTo(next).upstreams.find((upstream) => upstream.name === 'api');
    assert.equal(api?.change, 'changed');
    assert.deepEqual(api?.settingsChanged, []);
    assert.deepEqual(api?.kept, [
      { url: 'http://127.0.0.1:8002', previousIndex: 1, index: 0, changed: [] },
      { url: 'http://127.0.0.1:8003', previousIndex: 2, index: 1, changed: [] },
    ]);
    assert.deepEqual(api?.added, [{ url: 'http://127.0.0.1:8004', index: 2 }]);
    assert.deepEqual(api?.removed, [{ url: 'http://127.0.0.1:8001', previousIndex: 0 }]);
  });

  test('a changed weight is a per-target change of a kept target', () => {
    const next = BASE.replace(
      '- url: http://127.0.0.1:8002',
      '- { url: "http://127.0.0.1:8002", weight: 5 }',
    );
    const api = planTo(next).upstreams[0];
    assert.equal(api?.change, 'changed');
    assert.deepEqual(
      api?.kept.map((target) => target.changed),
      [[], ['weight'], []],
    );
    assert.deepEqual(api?.added, []);
    assert.deepEqual(api?.removed, []);
  });

  test('changed upstream timeouts mark every kept target as needing new timeouts', () => {
    const next = BASE.replace('  web:\n', '    timeouts: { connect: 1s }\n  web:\n');
    const api = planTo(next).upstreams[0];
    assert.deepEqual(api?.settingsChanged, ['timeouts']);
    assert.deepEqual(
      api?.kept.map((target) => target.changed),
      [['timeouts'], ['timeouts'], ['timeouts']],
    );
  });

  test('names changed upstream settings such as the balancer', () => {
    const next = BASE.replace('  web:\n', '    balance: peak-ewma\n  web:\n');
    const api = planTo(next).upstreams[0];
    assert.equal(api?.change, 'changed');
    assert.deepEqual(api?.settingsChanged, ['balance']);
  });

  test('lists new upstreams in config order and removed ones after them', () => {
    const next = `${LISTEN_AND_API}  admin-ui:
    targets: [ { url: "http://127.0.0.1:7001" } ]
routes:
  - { match: { pathPrefix: /ui }, upstream: admin-ui }
  - upstream: api
`;
    const plan = planTo(next);
    assert.deepEqual(
      plan.upstreams.map((upstream) => [upstream.name, upstream.change]),
      [
        ['api', 'unchanged'],
        ['admin-ui', 'added'],
        ['web', 'removed'],
      ],
    );
    assert.deepEqual(plan.upstreams[1]?.added, [{ url: 'http://127.0.0.1:7001', index: 0 }]);
    assert.deepEqual(plan.upstreams[2]?.removed, [
      { url: 'http://127.0.0.1:9001', previousIndex: 0 },
    ]);
    assert.equal(plan.routesChanged, true);
  });

  test('a target moved to another upstream is removed from one and added to the other', () => {
    const next = BASE.replace('      - url: http://127.0.0.1:8003\n', '').replace(
      '"http://127.0.0.1:9001" }',
      '"http://127.0.0.1:9001" }, { url: "http://127.0.0.1:8003" }',
    );
    const [api, web] = planTo(next).upstreams;
    assert.deepEqual(api?.removed, [{ url: 'http://127.0.0.1:8003', previousIndex: 2 }]);
    assert.deepEqual(web?.added, [{ url: 'http://127.0.0.1:8003', index: 1 }]);
  });

  test('warns that changed listen addresses need a restart instead of ignoring them', () => {
    const next = BASE.replace('127.0.0.1:8080', '"[::1]:9090"');
    const plan = planTo(next);
    assert.deepEqual(
      plan.warnings.map((warning) => warning.path),
      ['listen'],
    );
    assert.match(plan.warnings[0]?.message ?? '', /still 127\.0\.0\.1:8080.*\[::1\]:9090/);
    assert.equal(isEmptyPlan(plan), false);
  });

  test('applies changed TLS certificates live and warns about anything else of a TLS listener', () => {
    const tls = (cert: string, extra = '') =>
      BASE.replace(
        'listen: 127.0.0.1:8080',
        `listen:\n  - address: 127.0.0.1:8443\n    tls: { certificates: [{ cert: ${cert}, key: a.key }]${extra} }`,
      );
    const previous = loadConfig(tls('a.pem'));
    const renewed = planReload(previous, loadConfig(tls('b.pem', ', minVersion: TLSv1.3')));
    assert.deepEqual(renewed.liveChanges, ['listen.tls']);
    assert.deepEqual(renewed.warnings, []);
    const realpn = planReload(previous, loadConfig(tls('a.pem', ', alpn: [http/1.1]')));
    assert.deepEqual(
      realpn.warnings.map((warning) => warning.path),
      ['listen'],
    );
  });

  test('warns per setting for limits and the admin listener, applies log level and shutdownTimeout', () => {
    const next = `${BASE}
admin: { listen: 127.0.0.1:9901 }
limits: { maxHeaderSize: 8192, keepAliveTimeout: 2s }
log: { level: debug, access: false }
shutdownTimeout: 3s
`;
    const plan = planTo(next);
    assert.deepEqual(plan.warnings.map((warning) => warning.path).sort(), [
      'admin',
      'limits.keepAliveTimeout',
      'limits.maxHeaderSize',
      'log.access',
    ]);
    assert.deepEqual([...plan.liveChanges].sort(), ['log.level', 'shutdownTimeout']);
    assert.equal(plan.routesChanged, false);
  });
});
