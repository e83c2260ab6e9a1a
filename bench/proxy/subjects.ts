/**
 * The proxies under test: how to start each one on a port in front of the same targets, and
 * whether this machine has it. Every proxy runs as its own process so its RSS can be read and so
 * it never shares an event loop with the load generator.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { which } from '../lib/machine.ts';
import { type ProcessGroup, type Started, waitForPort } from '../lib/processes.ts';
import { repositoryRoot } from '../lib/results.ts';
import { haproxyArguments, writeHaproxyConfig } from './haproxy.ts';
import { nginxArguments, writeNginxProxyConfig } from './nginx.ts';

/** What a subject needs to start. */
export interface StartContext {
  readonly group: ProcessGroup;
  /** The run's temporary directory (configs, logs). */
  readonly directory: string;
  /** The port the proxy must listen on (127.0.0.1). */
  readonly port: number;
  /** A second free port, for an admin listener. */
  readonly adminPort: number;
  /** Target origins, e.g. `http://127.0.0.1:41001`. */
  readonly targets: readonly string[];
  /** Extra Node flags, e.g. `--cpu-prof` when profiling. */
  readonly nodeFlags?: readonly string[];
}

/** A proxy under test. */
export interface ProxySubject {
  readonly id: string;
  readonly label: string;
  /** Why it cannot run here, or `undefined` when it can. */
  unavailable(): string | undefined;
  /** Starts it and resolves once it accepts connections. */
  start(context: StartContext): Promise<Started>;
  /** What this subject does about failing targets (for the failure table). */
  readonly detection?: string;
  /** Breakwater only: settings laid over the example's upstream. */
  readonly upstreamOverrides?: Record<string, unknown>;
  /**
   * Breakwater only: the balancer it runs with; `'default'` leaves `balance` out so the proxy's
   * own default applies. Default: round robin, as every other proxy here.
   */
  readonly balance?: string;
  /** The failure scenarios this subject runs in (all when absent). */
  readonly scenarios?: readonly ('refuse' | 'slow')[];
  /**
   * Also measured with a new connection per request (`Connection: close`), where how workers
   * get connections (cluster.accept) costs the most: the many-cores table compares them.
   */
  readonly newConnections?: boolean;
}

const benchProxyDirectory = join(repositoryRoot, 'bench', 'proxy');

function nodeSubject(id: string, label: string, script: string): ProxySubject {
  return {
    id,
    label,
    unavailable: () => undefined,
    async start(context) {
      const started = context.group.start(
        label,
        process.execPath,
        [
          '--conditions=@breakwater/source',
          ...(context.nodeFlags ?? []),
          join(benchProxyDirectory, script),
          String(context.port),
          ...context.targets,
        ],
        join(context.directory, `${id}.log`),
      );
      await waitForPort(started, context.port);
      return started;
    },
  };
}

/** The Node floor kept in bench/proxy/minimal-forwarder.ts. */
export const minimalForwarder: ProxySubject = nodeSubject(
  'minimal',
  'node:http + undici Pool (minimal forwarder)',
  'minimal-forwarder.ts',
);

/** node-http-proxy. */
export const httpProxy: ProxySubject = nodeSubject(
  'http-proxy',
  'http-proxy',
  'http-proxy-server.ts',
);

/** @fastify/http-proxy. */
export const fastifyProxy: ProxySubject = nodeSubject(
  'fastify',
  '@fastify/http-proxy',
  'fastify-proxy-server.ts',
);

/** nginx as a reverse proxy with `workers` worker processes (`worker_processes`). */
export function nginxSubject(id: string, workers: number): ProxySubject {
  return {
    id,
    label: `nginx (${workers} worker${workers === 1 ? '' : 's'})`,
    detection: 'max_fails=3 fail_timeout=10s, proxy_next_upstream error timeout 502/503/504',
    unavailable: () => (which('nginx') === undefined ? 'nginx is not installed' : undefined),
    async start(context) {
      const targets = context.targets.map((url) => new URL(url).host);
      const name = `${id}-proxy`;
      const config = writeNginxProxyConfig(context.directory, context.port, targets, workers, name);
      const started = context.group.start(
        `nginx proxy (${id})`,
        which('nginx')!,
        nginxArguments(context.directory, config, name),
        join(context.directory, `${name}.log`),
      );
      await waitForPort(started, context.port);
      return started;
    },
  };
}

/** HAProxy with `threads` threads (`nbthread`). */
export function haproxySubject(id: string, threads: number): ProxySubject {
  return {
    id,
    label: `HAProxy (${threads} thread${threads === 1 ? '' : 's'})`,
    detection: 'check + observe layer7, error-limit 10, on-error mark-down, redispatch',
    unavailable: () => (which('haproxy') === undefined ? 'haproxy is not installed' : undefined),
    async start(context) {
      const targets = context.targets.map((url) => new URL(url).host);
      const config = writeHaproxyConfig(context.directory, context.port, targets, threads, id);
      const started = context.group.start(
        `haproxy (${id})`,
        which('haproxy')!,
        haproxyArguments(config),
        join(context.directory, `${id}.log`),
      );
      await waitForPort(started, context.port);
      return started;
    },
  };
}

/** nginx as a reverse proxy (one worker). */
export const nginxProxy: ProxySubject = nginxSubject('nginx', 1);

/** nginx with two workers. */
export const nginxTwoWorkers: ProxySubject = nginxSubject('nginx-w2', 2);

/** HAProxy (one thread). */
export const haproxy: ProxySubject = haproxySubject('haproxy', 1);

/** HAProxy with two threads. */
export const haproxyTwoThreads: ProxySubject = haproxySubject('haproxy-w2', 2);

const exampleConfigPath = join(repositoryRoot, 'examples', 'breakwater.yaml');

type YamlMap = Record<string, unknown>;

function isMap(value: unknown): value is YamlMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The Breakwater config used by the benchmark: examples/breakwater.yaml with its listeners, targets
 * and routes replaced by ours (one upstream, one catch-all route), so every feature the example
 * turns on for an upstream (outlier detection, health checks, retries, timeouts) is on here too.
 * Access logs are off, as they are for nginx and HAProxy. Without the example, a bare config.
 */
export function breakwaterBenchConfig(
  context: StartContext,
  upstreamOverrides: YamlMap = {},
  balance = 'round-robin',
  cluster: BreakwaterCluster = { workers: 1 },
): {
  config: YamlMap;
  features: string[];
} {
  let upstreamTemplate: YamlMap = {};
  let topLevel: YamlMap = {};
  if (existsSync(exampleConfigPath)) {
    const example: unknown = parse(readFileSync(exampleConfigPath, 'utf8'));
    if (isMap(example)) {
      topLevel = example;
      const upstreams = example.upstreams;
      if (isMap(upstreams)) {
        // The upstream the example protects most: outlier detection first, then the most settings.
        // A hashing upstream is not a fair pick: its key would pin wrk's requests to one target.
        const candidates = Object.values(upstreams)
          .filter(isMap)
          .filter((candidate) => candidate.hashOn === undefined);
        const weight = (candidate: YamlMap): number =>
          Object.keys(candidate).length +
          (Object.keys(candidate).some((key) => /outlier/i.test(key)) ? 100 : 0);
        candidates.sort((a, b) => weight(b) - weight(a));
        upstreamTemplate = candidates[0] ?? {};
      }
    }
  }
  // BENCH_BREAKWATER_UPSTREAM='{"retry":{"backoff":{"initial":0,"max":0}}}' tries a change
  // without editing the example.
  const fromEnvironment: unknown = parse(process.env.BENCH_BREAKWATER_UPSTREAM ?? '{}');
  const upstream: YamlMap = {
    ...upstreamTemplate,
    ...(isMap(fromEnvironment) ? fromEnvironment : {}),
    ...upstreamOverrides,
    balance,
    targets: context.targets.map((url) => ({ url })),
  };
  delete upstream.hashOn;
  if (balance === 'default') delete upstream.balance;
  const config: YamlMap = {};
  // Keep top-level sections the example sets (limits, retries, …) except those we must own.
  for (const [key, value] of Object.entries(topLevel)) {
    if (!['listen', 'admin', 'upstreams', 'routes', 'log', 'cluster', 'workers'].includes(key)) {
      config[key] = value;
    }
  }
  config.listen = `127.0.0.1:${context.port}`;
  config.admin = { listen: `127.0.0.1:${context.adminPort}` };
  config.upstreams = { bench: upstream };
  config.routes = [{ match: { pathPrefix: '/' }, upstream: 'bench' }];
  config.log = { level: 'warn', access: false };
  // Always written out: the proxy's default (one worker per core) would make "Breakwater" mean
  // a different process count on every machine.
  config.workers = cluster.workers;
  if (cluster.accept !== undefined) config.cluster = { accept: cluster.accept };
  const features = Object.keys(upstream)
    .filter((key) => !['balance', 'targets'].includes(key))
    .sort();
  return { config, features };
}

/** How many Breakwater processes serve, and how its workers get connections. */
export interface BreakwaterCluster {
  readonly workers: number;
  /** `cluster.accept`; left out (the proxy's default) when undefined. */
  readonly accept?: 'round-robin' | 'reuse-port';
}

/** What the validated Breakwater bench config turns on, for the tables. */
export interface BreakwaterFeatures {
  /** Human-readable settings, e.g. "outlier detection (consecutiveFailures 5, …)". */
  readonly features: string[];
  readonly outlierDetection: boolean;
  /** One line for the failure table: the outlier policy and retry in short. */
  readonly detection: string;
}

function summarise(value: unknown): string {
  return JSON.stringify(value)
    .replace(/"([^"]+)":/g, '$1: ')
    .replace(/"/g, '')
    .replace(/,/g, ', ');
}

/**
 * Validates the bench config with the proxy's own loader (so defaults count: outlier detection
 * and retry are on unless turned off) and says which features are on.
 */
export async function breakwaterFeatures(
  context: StartContext,
  upstreamOverrides: YamlMap = {},
  balance?: string,
): Promise<BreakwaterFeatures> {
  const { config } = breakwaterBenchConfig(context, upstreamOverrides, balance);
  try {
    const { loadConfig } = await import('@breakwater/proxy');
    const validated = loadConfig(stringify(config), {}) as unknown as {
      upstreams: Record<string, Record<string, unknown>>;
    };
    const upstream = validated.upstreams.bench ?? {};
    const features: string[] = [];
    const outlier = upstream.outlierDetection;
    if (outlier !== undefined && outlier !== false) {
      features.push(`outlier detection ${summarise(outlier)}`);
    } else {
      features.push('outlier detection off');
    }
    const health = upstream.healthCheck;
    features.push(
      health === undefined || health === false
        ? 'no active health checks'
        : `health checks ${summarise(health)}`,
    );
    const retry = upstream.retry;
    if (retry !== undefined && retry !== false) features.push(`retry ${summarise(retry)}`);
    if (upstream.timeouts !== undefined) features.push(`timeouts ${summarise(upstream.timeouts)}`);
    const on = outlier !== undefined && outlier !== false;
    const detection = [
      `balance: ${String(upstream.balance)}`,
      on && isMap(outlier)
        ? `outlier detection: ${summarise(outlier.policy)} on ${summarise(outlier.failOn)}`
        : 'no outlier detection',
      health === undefined || health === false ? undefined : 'active health checks',
      retry !== undefined && retry !== false && isMap(retry)
        ? `retry: ${String(retry.attempts)} attempts on ${summarise(retry.on)}`
        : undefined,
    ]
      .filter((part) => part !== undefined)
      .join('; ');
    return { features, outlierDetection: on, detection };
  } catch (error: unknown) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return {
      features: [`config not validated (${message})`],
      outlierDetection: false,
      detection: 'unknown (config not validated)',
    };
  }
}

/** A Breakwater process with `upstreamOverrides` laid over the example's upstream settings. */
export function breakwaterSubject(
  id: string,
  label: string,
  upstreamOverrides: YamlMap,
  variant: {
    readonly scenarios?: readonly ('refuse' | 'slow')[];
    /** A checkout to run the proxy from (the baseline). Default: this one. */
    readonly root?: string;
    /** See {@link ProxySubject.balance}. */
    readonly balance?: string;
    /** Workers and accept mode. Default: one process. */
    readonly cluster?: BreakwaterCluster;
    /** See {@link ProxySubject.newConnections}. */
    readonly newConnections?: boolean;
  } = {},
): ProxySubject {
  const { scenarios, root = repositoryRoot, balance, cluster, newConnections } = variant;
  const cliPath = join(root, 'packages', 'proxy', 'src', 'cli.ts');
  return {
    id,
    label,
    upstreamOverrides,
    ...(newConnections === true ? { newConnections } : {}),
    ...(scenarios ? { scenarios } : {}),
    ...(balance ? { balance } : {}),
    unavailable: () => (existsSync(cliPath) ? undefined : `${cliPath} does not exist`),
    async start(context) {
      const { config } = breakwaterBenchConfig(context, upstreamOverrides, balance, cluster);
      const configPath = join(context.directory, `${id}.yaml`);
      writeFileSync(configPath, stringify(config));
      const started = context.group.start(
        label,
        process.execPath,
        [
          '--conditions=@breakwater/source',
          // A baseline checkout from before the condition was renamed resolves through `source`.
          ...(root === repositoryRoot ? [] : ['--conditions=source']),
          ...(context.nodeFlags ?? []),
          cliPath,
          'start',
          '--config',
          configPath,
        ],
        join(context.directory, `${id}.log`),
        { cwd: root },
      );
      await waitForPort(started, context.port, 30_000);
      return started;
    },
  };
}

/**
 * The same proxy from another checkout (with its own `node_modules`), configured the same way:
 * `--baseline DIR` runs it beside this checkout's in one run, so a refactor shows before and after
 * under the same load and noise.
 */
export function breakwaterBaseline(root: string, label: string): ProxySubject {
  return breakwaterSubject('breakwater-baseline', label, {}, { root });
}

/** @breakwater/proxy, started through its CLI, single process, configured as the example. */
export const breakwater: ProxySubject = breakwaterSubject(
  'breakwater',
  'Breakwater',
  {},
  { newConnections: true },
);

/** The same with two workers taking connections from the primary's round-robin hand-off. */
export const breakwaterTwoWorkers: ProxySubject = breakwaterSubject(
  'breakwater-w2',
  'Breakwater (2 workers, round-robin)',
  {},
  { cluster: { workers: 2, accept: 'round-robin' }, newConnections: true },
);

/** Two workers, each with its own `SO_REUSEPORT` listening socket. */
export const breakwaterTwoWorkersReusePort: ProxySubject = breakwaterSubject(
  'breakwater-w2-reuseport',
  'Breakwater (2 workers, reuse-port)',
  {},
  { cluster: { workers: 2, accept: 'reuse-port' }, newConnections: true },
);

/** The subjects of the "many cores" table, in its order: `--only cores` selects them. */
export const coresSubjectIds: readonly string[] = [
  'breakwater',
  'breakwater-w2',
  'breakwater-w2-reuseport',
  'nginx',
  'nginx-w2',
  'haproxy',
  'haproxy-w2',
];

/**
 * The same, with the proxy's default balancer instead of round robin: what a user who names no
 * balancer gets, for the failure runs (nginx and HAProxy run with their usual round robin).
 */
export const breakwaterDefaultBalancer: ProxySubject = breakwaterSubject(
  'breakwater',
  'Breakwater (its default balancer)',
  {},
  { balance: 'default' },
);

/**
 * A bench-only variant for the slow-target scenario: the same config with outlier detection
 * judging targets by their share of slow calls (> 100 ms) over 2 s instead of consecutive
 * failures. The window is short because a rate over a window that still holds the warm-up's
 * thousands of fast calls cannot reach its threshold within a 5 s run. Not what the example
 * ships; shown to say what the policy does when asked. It counts slow calls only, so it is not
 * run against the refusing target.
 */
export const breakwaterSlowCalls: ProxySubject = breakwaterSubject(
  'breakwater-slow-calls',
  'Breakwater, slowCallRate outlier policy (bench variant)',
  {
    outlierDetection: {
      policy: {
        slowCallRate: { threshold: 0.5, slowerThan: '100ms', minimumCalls: 20, window: '2s' },
      },
    },
  },
  { scenarios: ['slow'] },
);
