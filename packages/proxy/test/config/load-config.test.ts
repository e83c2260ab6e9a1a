import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/config/config-error.ts';
import { loadConfig } from '../../src/config/load-config.ts';

const VALID = `
listen: 127.0.0.1:8080
admin:
  listen: 127.0.0.1:9901
upstreams:
  api:
    balance: consistent-hash
    hashOn: header:x-user-id
    targets:
      - { url: http://127.0.0.1:8001, weight: 5 }
      - { url: http://127.0.0.1:8002 }
    timeouts: { connect: 2s, response: 30s, idle: 60s }
routes:
  - match: { host: api.example.com, pathPrefix: /v1 }
    upstream: api
`;

function issuesOf(text: string, env: Record<string, string> = {}): string[] {
  try {
    loadConfig(text, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.code, 'ERR_CONFIG');
    return error.issues.map((issue) => `${issue.path}: ${issue.message}`);
  }
  assert.fail('expected a ConfigError');
}

function replace(from: string, to: string): string {
  assert.ok(VALID.includes(from), from);
  return VALID.replace(from, to);
}

describe('loadConfig', () => {
  test('parses a valid config, converting durations and filling defaults', () => {
    const config = loadConfig(VALID, {});
    assert.deepEqual(config.listen, [{ host: '127.0.0.1', port: 8080 }]);
    const api = config.upstreams.api!;
    assert.deepEqual(api.timeouts, { connect: 2000, response: 30000, idle: 60000 });
    assert.deepEqual(
      api.targets.map((target) => [target.url, target.weight]),
      [
        ['http://127.0.0.1:8001', 5],
        ['http://127.0.0.1:8002', 1],
      ],
    );
    assert.equal(config.preserveHost, true);
    assert.equal(config.shutdownTimeout, 10_000);
    assert.deepEqual(config.limits, {
      maxHeaderSize: 16384,
      headersTimeout: 10000,
      requestTimeout: 120000,
      keepAliveTimeout: 5000,
      minResponseRate: { bytesPerSecond: 240, gracePeriod: 5000 },
      sendTimeout: 60000,
      responseBuffer: 65536,
      responseSpill: { maxFileSize: 1024 ** 3, maxTotalSize: 4 * 1024 ** 3, directory: tmpdir() },
      requestBuffer: 65536,
    });
    assert.deepEqual(api.limits, {
      maxConnections: 256,
      maxPending: 1024,
      maxRequests: 1024,
      maxRetries: 64,
    });
    assert.deepEqual(config.log, { level: 'info', access: true });
  });

  test('accepts a list of listen addresses, including IPv6', () => {
    const config = loadConfig(
      replace('listen: 127.0.0.1:8080', 'listen: [127.0.0.1:0, "[::1]:8081"]'),
      {},
    );
    assert.deepEqual(config.listen, [
      { host: '127.0.0.1', port: 0 },
      { host: '::1', port: 8081 },
    ]);
  });

  test('names the path of a bad target URL', () => {
    assert.deepEqual(issuesOf(replace('{ url: http://127.0.0.1:8002 }', '{ url: ftp://x }')), [
      'upstreams.api.targets[1].url: expected an http:// URL such as http://127.0.0.1:8001, received "ftp://x"',
    ]);
  });

  test('rejects unknown keys instead of ignoring them', () => {
    assert.deepEqual(issuesOf(replace('weight: 5', 'weight: 5, wieght: 2')), [
      'upstreams.api.targets[0].wieght: unknown key',
    ]);
    assert.deepEqual(issuesOf(`${VALID}\nretries: 3\n`), ['retries: unknown key']);
  });

  test('explains bad durations, weights and balance kinds', () => {
    const issues = issuesOf(
      replace('weight: 5', 'weight: -1')
        .replace('connect: 2s', 'connect: soon')
        .replace('consistent-hash', 'fastest'),
    );
    assert.ok(
      issues.includes('upstreams.api.targets[0].weight: expected a positive whole number'),
      issues.join('\n'),
    );
    assert.ok(
      issues.some((issue) =>
        issue.startsWith('upstreams.api.timeouts.connect: expected a duration'),
      ),
    );
    assert.ok(
      issues.some((issue) =>
        issue.startsWith('upstreams.api.balance: expected one of round-robin'),
      ),
    );
  });

  test('reports a route naming an unknown upstream', () => {
    assert.deepEqual(issuesOf(replace('upstream: api', 'upstream: apx')), [
      'routes[0].upstream: unknown upstream "apx" (defined: api)',
    ]);
  });

  test('refuses hashOn without consistent-hash', () => {
    assert.deepEqual(issuesOf(replace('balance: consistent-hash', 'balance: random')), [
      'upstreams.api.hashOn: hashOn applies only to balance: consistent-hash (this upstream uses random)',
    ]);
  });

  test('takes a decay for peak-ewma and refuses it with any other balancer', () => {
    const text = replace(
      'balance: consistent-hash\n    hashOn: header:x-user-id',
      'balance: peak-ewma\n    decay: 5s',
    );
    assert.equal(loadConfig(text, {}).upstreams.api!.decay, 5_000);
    assert.deepEqual(issuesOf(replace('hashOn: header:x-user-id', 'decay: 5s')), [
      'upstreams.api.decay: decay applies only to balance: peak-ewma (this upstream uses consistent-hash)',
    ]);
  });

  test('takes adaptiveConcurrency per upstream, durations in config units', () => {
    const text = replace(
      'timeouts: { connect: 2s, response: 30s, idle: 60s }',
      'timeouts: { connect: 2s, response: 30s, idle: 60s }\n    adaptiveConcurrency: { algorithm: aimd, maxLimit: 300, aimd: { latencyThreshold: 250ms } }',
    );
    assert.deepEqual(loadConfig(text, {}).upstreams.api!.adaptiveConcurrency, {
      algorithm: 'aimd',
      maxLimit: 300,
      aimd: { latencyThreshold: 250 },
    });
  });

  test('refuses adaptiveConcurrency settings that do not fit together, at their path', () => {
    const settings = (block: string) =>
      issuesOf(
        replace(
          'timeouts: { connect: 2s, response: 30s, idle: 60s }',
          `timeouts: { connect: 2s, response: 30s, idle: 60s }\n    adaptiveConcurrency: ${block}`,
        ),
      );
    const [mixed] = settings('{ algorithm: aimd, gradient: { tolerance: 2 } }');
    assert.match(
      mixed!,
      /^upstreams\.api\.adaptiveConcurrency\.gradient: .*no gradient settings with algorithm "aimd"/,
    );
    const [bounds] = settings('{ minLimit: 10, maxLimit: 5 }');
    assert.match(bounds!, /^upstreams\.api\.adaptiveConcurrency\.maxLimit: /);
    assert.deepEqual(settings('{ maxLimt: 5 }').length, 1);
  });

  test('requires a token for a non-loopback admin listener', () => {
    assert.deepEqual(issuesOf(replace('listen: 127.0.0.1:9901', 'listen: 0.0.0.0:9901')), [
      'admin.token: required when admin.listen is not a loopback address (0.0.0.0)',
    ]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's ${VAR} syntax, not a template
    const withToken = replace('listen: 127.0.0.1:9901', 'listen: 0.0.0.0:9901\n  token: ${TOKEN}');
    assert.equal(loadConfig(withToken, { TOKEN: 'abc' }).admin?.token, 'abc');
  });

  test('names an unset environment variable and where it is used', () => {
    const text = replace(
      'listen: 127.0.0.1:9901',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's ${VAR} syntax, not a template
      'listen: 127.0.0.1:9901\n  token: ${BREAKWATER_ADMIN_TOKEN}',
    );
    const issues = issuesOf(text);
    assert.ok(
      issues.includes('admin.token: environment variable BREAKWATER_ADMIN_TOKEN is not set'),
      issues.join('\n'),
    );
  });

  test('lists every problem at once, shape and cross-field alike', () => {
    const issues = issuesOf(
      replace('weight: 5', 'weight: 0').replace('upstream: api', 'upstream: nope'),
    );
    assert.equal(issues.length, 2, issues.join('\n'));
  });

  test('reports missing sections and YAML syntax errors', () => {
    assert.deepEqual(issuesOf('listen: 127.0.0.1:1\n'), [
      'upstreams: required: expected a mapping of upstream name to upstream',
      'routes: required: expected a list of routes',
    ]);
    assert.match(issuesOf('listen: [\n')[0] ?? '', /^: YAML: /);
    assert.match(issuesOf('- a\n- b\n')[0] ?? '', /top level/);
  });

  test('refuses headersTimeout longer than requestTimeout', () => {
    assert.deepEqual(issuesOf(`${VALID}\nlimits: { headersTimeout: 1m, requestTimeout: 30s }\n`), [
      'limits.headersTimeout: must not exceed limits.requestTimeout (30000 ms)',
    ]);
  });

  test('reads limits.responseSpill: sizes, a directory, or false', () => {
    const spill = loadConfig(
      `${VALID}\nlimits: { responseSpill: { maxFileSize: 256mb, maxTotalSize: 2gb, directory: /var/tmp } }\n`,
      {},
    ).limits.responseSpill;
    assert.deepEqual(spill, {
      maxFileSize: 256 * 1024 ** 2,
      maxTotalSize: 2 * 1024 ** 3,
      directory: '/var/tmp',
    });
    assert.equal(
      loadConfig(`${VALID}\nlimits: { responseSpill: false }\n`, {}).limits.responseSpill,
      false,
    );
  });

  test('refuses a bad limits.responseSpill, naming the key', () => {
    assert.deepEqual(issuesOf(`${VALID}\nlimits: { responseSpill: true }\n`), [
      'limits.responseSpill: expected false or a mapping such as { maxFileSize: 1gb, maxTotalSize: 4gb, directory: /var/tmp }, received true',
    ]);
    assert.deepEqual(
      issuesOf(
        `${VALID}\nlimits: { responseSpill: { maxFileSize: lots, maxTotalSize: 0, directory: tmp, size: 1 } }\n`,
      ),
      [
        'limits.responseSpill.maxFileSize: expected a size like 64kb, 1mb or a number of bytes, received "lots"',
        'limits.responseSpill.maxTotalSize: expected a size greater than 0',
        'limits.responseSpill.directory: expected an absolute directory path',
        'limits.responseSpill.size: unknown key',
      ],
    );
    assert.deepEqual(issuesOf(`${VALID}\nlimits: { responseSpill: { maxFileSize: 2048gb } }\n`), [
      'limits.responseSpill.maxFileSize: expected at most 1tb (1099511627776 bytes), received "2048gb"',
    ]);
    assert.deepEqual(
      issuesOf(`${VALID}\nlimits: { responseSpill: { maxFileSize: 8gb, maxTotalSize: 4gb } }\n`),
      ['limits.responseSpill.maxFileSize: must not exceed maxTotalSize (4gb)'],
    );
  });

  test('refuses the same target twice in one upstream', () => {
    assert.deepEqual(issuesOf(replace('http://127.0.0.1:8002', 'http://127.0.0.1:8001')), [
      'upstreams.api.targets[1].url: duplicate target http://127.0.0.1:8001 (also targets[0])',
    ]);
  });
});

describe('health and failover keys', () => {
  const HEALTH = `
    healthCheck:
      type: http
      path: /healthz
      expectStatus: 200-399
      interval: 5s
      jitter: 10%
      timeout: 1s
      healthyThreshold: 2
      unhealthyThreshold: 3
    outlierDetection:
      policy: { failureRate: { threshold: 0.5, minimumCalls: 20, window: 10s } }
      failOn: [connect-error, timeout, gateway-errors]
      ejection: { base: 30s, max: 5m }
      maxEjectedPercent: 50
    retry:
      attempts: 3
      on: [connect-error, reset, 502, '503', 504]
      methods: [GET, HEAD, OPTIONS, PUT, DELETE, POST]
      perTryTimeout: 2s
      backoff: { initial: 25ms, max: 250ms }
      budget: { ratio: 0.2, minPerSecond: 10 }
      replayBodyUpTo: 64kb
    panicThreshold: 0%
routes:`;

  test('parses the issue example: durations, percentages, sizes, status ranges', () => {
    const api = loadConfig(replace('\nroutes:', HEALTH), {}).upstreams.api!;
    assert.deepEqual(api.healthCheck, {
      type: 'http',
      path: '/healthz',
      expectStatus: [[200, 399]],
      interval: 5000,
      jitter: 0.1,
      timeout: 1000,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
    });
    assert.deepEqual(api.outlierDetection, {
      policy: { failureRate: { threshold: 0.5, minimumCalls: 20, window: 10_000 } },
      failOn: ['connect-error', 'timeout', 'gateway-errors'],
      ejection: { base: 30_000, max: 300_000 },
      maxEjectedPercent: 50,
    });
    assert.deepEqual(api.retry, {
      attempts: 3,
      on: ['connect-error', 'reset', 502, 503, 504],
      methods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'POST'],
      perTryTimeout: 2000,
      backoff: { initial: 25, max: 250 },
      budget: { ratio: 0.2, minPerSecond: 10 },
      replayBodyUpTo: 65_536,
    });
    assert.equal(api.panicThreshold, 0);
  });

  test('keeps every rule of a policy that combines several', () => {
    const combined = HEALTH.replace(
      'policy: { failureRate: { threshold: 0.5, minimumCalls: 20, window: 10s } }',
      'policy: { consecutiveFailures: 5, slowCallRate: { threshold: 50%, slowerThan: 1s } }',
    );
    const api = loadConfig(replace('\nroutes:', combined), {}).upstreams.api!;
    assert.ok(api.outlierDetection);
    assert.deepEqual(api.outlierDetection.policy, {
      consecutiveFailures: 5,
      slowCallRate: { threshold: 0.5, slowerThan: 1000, minimumCalls: 20, window: 10_000 },
    });
  });

  test('fills documented defaults: outlier detection and retries on, no active checks', () => {
    const api = loadConfig(VALID, {}).upstreams.api!;
    assert.equal(api.healthCheck, undefined);
    assert.deepEqual(api.outlierDetection, {
      policy: { consecutiveFailures: 5 },
      failOn: ['connect-error', 'timeout', '5xx'],
      ejection: { base: 30_000, max: 300_000 },
      maxEjectedPercent: 50,
    });
    assert.deepEqual(api.retry, {
      attempts: 2,
      on: ['connect-error', 'reset'],
      methods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'],
      backoff: { initial: 25, max: 250 },
      budget: { ratio: 0.2, minPerSecond: 10 },
      replayBodyUpTo: 65_536,
    });
    assert.equal(api.panicThreshold, 0);
    const minimal = loadConfig(replace('\nroutes:', '\n    healthCheck: { type: tcp }\nroutes:'));
    assert.equal(minimal.upstreams.api!.healthCheck?.interval, 5000);
  });

  test('turns outlier detection and retries off with false', () => {
    const api = loadConfig(
      replace('\nroutes:', '\n    outlierDetection: false\n    retry: false\nroutes:'),
    ).upstreams.api!;
    assert.equal(api.outlierDetection, false);
    assert.equal(api.retry, false);
  });

  test('refuses HTTP-only health-check settings beside type: tcp instead of ignoring them', () => {
    const issues = issuesOf(
      replace(
        '\nroutes:',
        '\n    healthCheck: { type: tcp, path: /live, expectStatus: 200 }\nroutes:',
      ),
    );
    assert.deepEqual(issues, [
      'upstreams.api.healthCheck.path: applies to type: http only; a tcp check only connects',
      'upstreams.api.healthCheck.expectStatus: applies to type: http only; a tcp check only connects',
    ]);
  });

  test('names the path of every bad health, outlier and retry value', () => {
    const issues = issuesOf(
      replace(
        '\nroutes:',
        `
    healthCheck: { type: udp, expectStatus: 200-99, jitter: 2, interval: soon, extra: 1 }
    outlierDetection:
      policy: {}
      failOn: [4xx]
      ejection: { base: 5m, max: 30s }
      maxEjectedPercent: 150%
    retry: { attempts: 0, on: [teapot], methods: [post], replayBodyUpTo: 64zb, budget: { ratio: -1 } }
    panicThreshold: lots
routes:`,
      ),
    );
    const paths = issues.map((issue) => issue.split(':')[0]);
    assert.deepEqual(paths, [
      'upstreams.api.healthCheck.type',
      'upstreams.api.healthCheck.expectStatus',
      'upstreams.api.healthCheck.interval',
      'upstreams.api.healthCheck.jitter',
      'upstreams.api.healthCheck.extra',
      'upstreams.api.outlierDetection.policy',
      'upstreams.api.outlierDetection.failOn[0]',
      'upstreams.api.outlierDetection.ejection.max',
      'upstreams.api.outlierDetection.maxEjectedPercent',
      'upstreams.api.retry.attempts',
      'upstreams.api.retry.on[0]',
      'upstreams.api.retry.methods[0]',
      'upstreams.api.retry.budget.ratio',
      'upstreams.api.retry.replayBodyUpTo',
      'upstreams.api.panicThreshold',
    ]);
    assert.match(issues.join('\n'), /at least one/);
    assert.match(issues.join('\n'), /received "64zb"/);
  });

  test('rejects true for outlierDetection instead of guessing what it means', () => {
    assert.deepEqual(issuesOf(replace('\nroutes:', '\n    outlierDetection: true\nroutes:')), [
      'upstreams.api.outlierDetection: expected false or a mapping with policy, failOn, ejection, received true',
    ]);
  });
});
