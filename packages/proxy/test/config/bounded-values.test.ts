/**
 * The config parser never accepts what the proxy cannot honour: for every duration and size key,
 * random values (bare numbers, every unit, hundreds of digits) are either refused with an issue
 * at that key's path naming the maximum, or accepted as a whole number within bounds, and a value
 * within bounds is never refused. Durations end in Node timers, which hold at most 2^31-1 ms and
 * fire a longer one after 1 ms; nothing is clamped silently. Through the public `loadConfig`.
 *
 * `npm test` runs a fixed seed; more runs with `FC_RUNS=…`, another seed with `FC_SEED=…`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '@breakwater/proxy';
import fc from 'fast-check';
import { stringify } from 'yaml';

const RUNS = positiveIntegerFromEnv('FC_RUNS', 100);
const SEED = positiveIntegerFromEnv('FC_SEED', 20_261_201);

function positiveIntegerFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Every duration key, and keys that must move with it (a `max` never below its `base`), with
 * the extra config the key needs to be allowed at all.
 */
const DURATIONS: readonly { path: string; together?: string[]; needs?: string }[] = [
  { path: 'shutdownTimeout' },
  // headersTimeout may not exceed requestTimeout: the two move together.
  { path: 'limits.headersTimeout', together: ['limits.requestTimeout'] },
  { path: 'limits.requestTimeout', together: ['limits.headersTimeout'] },
  { path: 'limits.keepAliveTimeout' },
  { path: 'upstreams.app.timeouts.connect' },
  { path: 'upstreams.app.timeouts.response' },
  { path: 'upstreams.app.timeouts.idle' },
  { path: 'upstreams.app.healthCheck.interval' },
  { path: 'upstreams.app.healthCheck.timeout' },
  {
    path: 'upstreams.app.outlierDetection.ejection.base',
    together: ['upstreams.app.outlierDetection.ejection.max'],
  },
  {
    path: 'upstreams.app.outlierDetection.policy.failureRate.window',
    needs: 'upstreams.app.outlierDetection.policy.failureRate.threshold',
  },
  {
    path: 'upstreams.app.outlierDetection.policy.slowCallRate.slowerThan',
    needs: 'upstreams.app.outlierDetection.policy.slowCallRate.threshold',
  },
  { path: 'upstreams.app.retry.perTryTimeout' },
  {
    path: 'upstreams.app.retry.backoff.initial',
    together: ['upstreams.app.retry.backoff.max'],
  },
];

/** Every size key and its largest sensible value (see the config reference in the README). */
const SIZES: readonly { path: string; max: number }[] = [
  { path: 'limits.maxHeaderSize', max: 1024 ** 2 },
  { path: 'limits.maxBodySize', max: 1024 ** 4 },
  { path: 'upstreams.app.retry.replayBodyUpTo', max: 1024 ** 3 },
];

const DURATION_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** A number written as text: small, around the limits, or hundreds of digits. */
const digits = fc.oneof(
  fc.integer({ min: 1, max: 5_000 }).map(String),
  fc.integer({ min: 1, max: 2 ** 31 }).map(String),
  fc.bigInt({ min: 1n, max: 10n ** 30n }).map(String),
  fc.integer({ min: 300, max: 420 }).map((n) => '9'.repeat(n)),
);

function valueArbitrary(units: Record<string, number>) {
  return fc.oneof(
    fc.tuple(digits, fc.constantFrom(...Object.keys(units))).map(([n, unit]) => ({
      written: `${n}${unit}` as string | number,
      // Exact in BigInt, so a 400-digit value is "too large", not Infinity or NaN.
      amount: BigInt(n) * BigInt(units[unit]!),
    })),
    fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }).map((n) => ({
      written: n as string | number,
      amount: BigInt(n),
    })),
  );
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    node[key] ??= {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys.at(-1)!] = value;
}

function getPath(target: unknown, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>((node, key) => (node as Record<string, unknown>)?.[key], target);
}

function configWith(settings: Record<string, unknown>): string {
  const config: Record<string, unknown> = {
    listen: '127.0.0.1:0',
    upstreams: { app: { targets: [{ url: 'http://127.0.0.1:8001' }] } },
    routes: [{ upstream: 'app' }],
  };
  for (const [path, value] of Object.entries(settings)) setPath(config, path, value);
  return stringify(config);
}

/** The issues at `path`, or undefined when the config was accepted (returning it). */
function load(
  text: string,
): { config: unknown } | { issues: readonly { path: string; message: string }[] } {
  try {
    return { config: loadConfig(text, {}) };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { issues: error.issues };
  }
}

describe('config values the proxy could not honour', () => {
  it(`refuses every duration beyond ${MAX_TIMER_MS} ms at its path, and accepts every other`, () => {
    fc.assert(
      fc.property(fc.constantFrom(...DURATIONS), valueArbitrary(DURATION_UNITS), (key, value) => {
        const settings: Record<string, unknown> = { [key.path]: value.written };
        for (const other of key.together ?? []) settings[other] = value.written;
        if (key.needs !== undefined) settings[key.needs] = 0.5;
        const result = load(configWith(settings));
        if (value.amount > BigInt(MAX_TIMER_MS)) {
          assert.ok('issues' in result, `${key.path}: ${value.written} was accepted`);
          const issue = result.issues.find((i) => i.path === key.path);
          assert.ok(issue, `no issue at ${key.path}: ${JSON.stringify(result.issues)}`);
          assert.match(issue.message, /2147483647 ms|24\.8 days|at most/);
        } else {
          assert.ok(
            'config' in result,
            `${key.path}: ${value.written} refused: ${JSON.stringify(result)}`,
          );
          const parsed = getPath(result.config, key.path);
          assert.equal(parsed, Number(value.amount));
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('refuses every size beyond its maximum at its path, and accepts every other', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SIZES), valueArbitrary(SIZE_UNITS), (key, value) => {
        const result = load(configWith({ [key.path]: value.written }));
        if (value.amount > BigInt(key.max)) {
          assert.ok('issues' in result, `${key.path}: ${value.written} was accepted`);
          const issue = result.issues.find((i) => i.path === key.path);
          assert.ok(issue, `no issue at ${key.path}: ${JSON.stringify(result.issues)}`);
          assert.match(issue.message, /at most/);
        } else {
          assert.ok(
            'config' in result,
            `${key.path}: ${value.written} refused: ${JSON.stringify(result)}`,
          );
          assert.equal(getPath(result.config, key.path), Number(value.amount));
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });
});

describe('config values from the abuse report', () => {
  const issueAt = (settings: Record<string, unknown>, path: string) => {
    const result = load(configWith(settings));
    assert.ok('issues' in result, `accepted ${JSON.stringify(settings)}`);
    const issue = result.issues.find((i) => i.path === path);
    assert.ok(issue, `no issue at ${path}: ${JSON.stringify(result.issues)}`);
    return issue.message;
  };

  it('refuses shutdownTimeout: 1000h, naming the maximum, instead of a timer that fires at once', () => {
    assert.match(issueAt({ shutdownTimeout: '1000h' }, 'shutdownTimeout'), /at most 2147483647 ms/);
  });

  it('refuses healthCheck.interval: 1000h, which would run no probe at all', () => {
    const message = issueAt(
      { 'upstreams.app.healthCheck.interval': '1000h' },
      'upstreams.app.healthCheck.interval',
    );
    assert.match(message, /at most 2147483647 ms/);
  });

  it('refuses a 400-digit duration instead of reading it as Infinity', () => {
    assert.match(
      issueAt({ 'limits.keepAliveTimeout': '9'.repeat(400) }, 'limits.keepAliveTimeout'),
      /at most/,
    );
  });

  it('refuses limits.maxHeaderSize: 99999999999999, naming 1mb as the maximum', () => {
    assert.match(
      issueAt({ 'limits.maxHeaderSize': 99_999_999_999_999 }, 'limits.maxHeaderSize'),
      /at most 1mb/,
    );
  });

  it('reads limits.maxBodySize: 1mb with the same units as replayBodyUpTo', () => {
    const result = load(
      configWith({ 'limits.maxBodySize': '1mb', 'upstreams.app.retry.replayBodyUpTo': '64kb' }),
    );
    assert.ok('config' in result, JSON.stringify(result));
    assert.equal(getPath(result.config, 'limits.maxBodySize'), 1_048_576);
    assert.equal(getPath(result.config, 'upstreams.app.retry.replayBodyUpTo'), 65_536);
  });
});
