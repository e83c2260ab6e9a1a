/**
 * The proxy suite: the same load against the upstream directly and through every proxy, rounds
 * interleaved (A B C A B C) so drift and noise show up as spread between a proxy's own runs rather
 * than as a difference between proxies; then the same load while one of three targets refuses
 * connections or answers slowly.
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import {
  describeMachine,
  type MachineInfo,
  machineInfo,
  packageVersion,
  toolVersion,
  which,
} from '../lib/machine.ts';
import {
  formatBytes,
  formatCount,
  formatMilliseconds,
  formatRatio,
  markdownTable,
  median,
  verdict,
} from '../lib/markdown.ts';
import {
  cpuSeconds,
  freePort,
  ProcessGroup,
  reapedChildrenCpuSeconds,
  type Started,
  treeCpuSeconds,
  treeResidentBytes,
} from '../lib/processes.ts';
import { resultsDirectory, writeResults } from '../lib/results.ts';
import {
  renderBalancerSweep,
  runBalancerSweep,
  type SweepResult,
  type SweepRun,
} from './balancer-sweep.ts';
import {
  type LoadOptions,
  type LoadResult,
  loadTool,
  runLoad,
  trackLoadGenerators,
} from './load.ts';
import {
  type FixedRateRun,
  fixedRate,
  fixedRateSubjectIds,
  renderManyCores,
} from './many-cores.ts';
import {
  type OverloadCase,
  openLoop,
  overloadSettleSeconds,
  renderOverload,
  runOverload,
} from './overload-scenario.ts';
import {
  breakwater,
  breakwaterBaseline,
  breakwaterDefaultBalancer,
  breakwaterFeatures,
  breakwaterSlowCalls,
  breakwaterSubject,
  breakwaterTwoWorkers,
  breakwaterTwoWorkersReusePort,
  coresSubjectIds,
  fastifyProxy,
  haproxy,
  haproxyTwoThreads,
  httpProxy,
  minimalForwarder,
  nginxProxy,
  nginxTwoWorkers,
  type ProxySubject,
  type StartContext,
} from './subjects.ts';
import {
  type ControllableTarget,
  startControllableTarget,
  startUpstream,
  type Upstream,
  verifyHello,
} from './upstream.ts';

/** Knobs for one run of the suite. */
export interface ProxySuiteOptions {
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly rounds: number;
  readonly connections: number;
  readonly threads: number;
  /** Subject ids to run (all when empty); `cores` stands for the many-cores subjects. */
  readonly only: readonly string[];
  /** Skip the failure scenarios. */
  readonly skipFailures: boolean;
  /** Skip the healthy throughput table. */
  readonly skipHealthy: boolean;
  /** Failure scenarios to run: `refuse`, `slow`, `overload`, `balancers` (the sweep). */
  readonly scenarios: readonly string[];
  /** The balancers the sweep runs (all when empty). */
  readonly sweep: readonly string[];
  /** How much slower the slow target answers. */
  readonly slowDelayMs: number;
  /** Write a V8 CPU profile of every Node proxy to bench/results/profiles/ (slows them down). */
  readonly profile: boolean;
  /** The many-cores fixed-rate runs' req/s (many-cores.ts's `fixedRate.rate` when absent). */
  readonly fixedRate?: number;
  /** Another checkout whose proxy runs beside this one's, as `breakwater-baseline`. */
  readonly baseline?: string;
}

/** One measured run. */
export interface MeasuredRun extends LoadResult {
  readonly round: number;
  /** The proxy's resident set size at the end of the run (all its processes), in bytes. */
  readonly rssBytes: number | undefined;
  /**
   * The proxy's CPU time (user + system) per request served during the run, in µs: every
   * process of it together (a cluster primary and its workers, an nginx master and its workers).
   */
  readonly cpuMicrosPerRequest: number | undefined;
  /** The proxy's CPU time over the run, in seconds (all its processes). */
  readonly proxyCpuSeconds: number | undefined;
  /** The load generator's (wrk's) CPU time over the run, in seconds. */
  readonly loadGeneratorCpuSeconds: number | undefined;
  /** The upstream's CPU time over the run, in seconds. */
  readonly upstreamCpuSeconds: number | undefined;
  /**
   * The proxy's first process alone (Breakwater's cluster primary, nginx's master), in seconds:
   * under round-robin the primary accepts every connection and hands it to a worker.
   */
  readonly primaryCpuSeconds: number | undefined;
  /** Breakwater failure runs: how its admin API saw the failing target when the run ended. */
  readonly failingTarget?: string;
}

/** All runs of one subject. */
export interface SubjectResult {
  readonly id: string;
  readonly label: string;
  readonly runs: MeasuredRun[];
  /** Subjects with `newConnections`: the same load with a new connection per request. */
  readonly newConnectionRuns?: MeasuredRun[];
  /** The many-cores subjects at a fixed rate below saturation (many-cores.ts). */
  readonly fixedRateRuns?: FixedRateRun[];
  /** One worker at half the fixed rate (Breakwater only): each worker's share at two workers. */
  readonly halfRateRuns?: FixedRateRun[];
  readonly skipped?: string;
}

/** One failure scenario for one subject. */
export interface FailureResult extends SubjectResult {
  readonly scenario: 'refuse' | 'slow';
  readonly detection: string;
}

/** What the suite returns to run.ts. */
export interface ProxySuiteResult {
  readonly markdown: string;
  readonly data: unknown;
}

const direct: ProxySubject = {
  id: 'direct',
  label: 'upstream directly (the limit)',
  unavailable: () => undefined,
  start: () => Promise.reject(new Error('direct has no process')),
};

const allSubjects: readonly ProxySubject[] = [
  direct,
  breakwater,
  breakwaterTwoWorkers,
  breakwaterTwoWorkersReusePort,
  minimalForwarder,
  fastifyProxy,
  httpProxy,
  nginxProxy,
  nginxTwoWorkers,
  haproxy,
  haproxyTwoThreads,
];

const failureSubjects: readonly ProxySubject[] = [
  breakwaterDefaultBalancer,
  breakwaterSlowCalls,
  nginxProxy,
  haproxy,
];

/** The subjects with the baseline checkout's proxy right after ours, when one is given. */
function withBaseline(
  subjects: readonly ProxySubject[],
  baseline: string | undefined,
): ProxySubject[] {
  if (baseline === undefined) return [...subjects];
  const root = resolve(baseline);
  let revision = basename(root);
  try {
    revision = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    // Not a git checkout: the folder's name labels the row.
  }
  const index = subjects.indexOf(breakwater);
  const result = [...subjects];
  result.splice(index + 1, 0, breakwaterBaseline(root, `Breakwater baseline (${revision})`));
  return result;
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

function cores(seconds: number | undefined, run: MeasuredRun): string {
  return seconds === undefined ? 'n/a' : (seconds / run.durationSeconds).toFixed(2);
}

function formatMicros(micros: number | undefined): string {
  return micros === undefined || !Number.isFinite(micros) ? 'n/a' : `${micros.toFixed(1)} µs`;
}

/** Median of one field over a subject's runs. */
function medianOf(
  runs: readonly MeasuredRun[],
  pick: (run: MeasuredRun) => number | undefined,
): number | undefined {
  const values = runs
    .map(pick)
    .filter((value): value is number => value !== undefined && Number.isFinite(value));
  return median(values);
}

/** CPU seconds `read` says were spent while `work` ran, or `undefined` if unreadable. */
async function cpuOver<T>(
  read: () => number | undefined,
  work: () => Promise<T>,
): Promise<{ value: T; seconds: number | undefined }> {
  const before = read();
  const value = await work();
  const after = read();
  return {
    value,
    seconds: before === undefined || after === undefined ? undefined : after - before,
  };
}

async function measure(
  url: string,
  pid: number | undefined,
  round: number,
  options: ProxySuiteOptions,
  upstreamPid?: number,
  headers?: readonly string[],
): Promise<MeasuredRun> {
  const load: LoadOptions = {
    durationSeconds: options.durationSeconds,
    connections: options.connections,
    threads: options.threads,
    ...(headers === undefined ? {} : { headers }),
  };
  const primaryBefore = pid === undefined ? undefined : cpuSeconds(pid);
  const proxyBefore = pid === undefined ? undefined : treeCpuSeconds(pid);
  const upstreamBefore = upstreamPid === undefined ? undefined : treeCpuSeconds(upstreamPid);
  const { value: result, seconds: loadGeneratorCpuSeconds } = await cpuOver(
    reapedChildrenCpuSeconds,
    () => runLoad(url, load),
  );
  const proxyAfter = pid === undefined ? undefined : treeCpuSeconds(pid);
  const primaryAfter = pid === undefined ? undefined : cpuSeconds(pid);
  const upstreamAfter = upstreamPid === undefined ? undefined : treeCpuSeconds(upstreamPid);
  const proxyCpuSeconds =
    proxyBefore === undefined || proxyAfter === undefined ? undefined : proxyAfter - proxyBefore;
  const upstreamCpuSeconds =
    upstreamBefore === undefined || upstreamAfter === undefined
      ? undefined
      : upstreamAfter - upstreamBefore;
  return {
    ...result,
    round,
    rssBytes: pid === undefined ? undefined : treeResidentBytes(pid),
    cpuMicrosPerRequest:
      proxyCpuSeconds === undefined || result.requests <= 0
        ? undefined
        : (proxyCpuSeconds / result.requests) * 1e6,
    proxyCpuSeconds,
    // autocannon runs in a Node child too, so this is the generator's CPU either way.
    loadGeneratorCpuSeconds,
    upstreamCpuSeconds,
    primaryCpuSeconds:
      primaryBefore === undefined || primaryAfter === undefined
        ? undefined
        : primaryAfter - primaryBefore,
  };
}

/**
 * One fixed-rate run: open-loop.ts warms up at the rate, then measures; the proxy's CPU is read
 * when it says the measured window opens and closes.
 */
async function measureFixedRate(
  group: ProcessGroup,
  url: string,
  pid: number | undefined,
  round: number,
  rate: number,
): Promise<FixedRateRun> {
  interface Mark {
    readonly cpu: number | undefined;
    readonly primary: number | undefined;
    readonly at: number;
  }
  const marks: { start?: Mark; end?: Mark } = {};
  const result = await openLoop(group, url, rate, {
    measureSeconds: fixedRate.seconds,
    settleSeconds: fixedRate.warmupSeconds,
    maxOutstanding: fixedRate.maxOutstanding,
    onMark: (mark) => {
      marks[mark] = {
        cpu: pid === undefined ? undefined : treeCpuSeconds(pid),
        primary: pid === undefined ? undefined : cpuSeconds(pid),
        at: performance.now(),
      };
    },
  });
  const { start, end } = marks;
  const durationSeconds =
    start === undefined || end === undefined ? fixedRate.seconds : (end.at - start.at) / 1_000;
  return {
    round,
    rate,
    achievedRate: result.goodput,
    requests: result.sent,
    p50Ms: result.p50Ms ?? undefined,
    p99Ms: result.p99Ms ?? undefined,
    durationSeconds,
    proxyCpuSeconds:
      start?.cpu === undefined || end?.cpu === undefined ? undefined : end.cpu - start.cpu,
    primaryCpuSeconds:
      start?.primary === undefined || end?.primary === undefined
        ? undefined
        : end.primary - start.primary,
    errors: result.non2xx + result.errors + result.timeouts + result.notSent,
  };
}

async function warmUp(url: string, options: ProxySuiteOptions): Promise<void> {
  if (options.warmupSeconds <= 0) return;
  await runLoad(url, {
    durationSeconds: options.warmupSeconds,
    connections: options.connections,
    threads: options.threads,
  });
}

async function startSubject(
  subject: ProxySubject,
  group: ProcessGroup,
  directory: string,
  targets: readonly string[],
  options: ProxySuiteOptions,
): Promise<{ started: Started; url: string; adminPort: number }> {
  const context: StartContext = {
    group,
    directory,
    port: await freePort(),
    adminPort: await freePort(),
    targets,
    nodeFlags: options.profile
      ? ['--cpu-prof', `--cpu-prof-dir=${join(resultsDirectory, 'profiles', subject.id)}`]
      : [],
  };
  const started = await subject.start(context);
  const url = `http://127.0.0.1:${context.port}/`;
  await verifyHello([url.slice(0, -1)]);
  return { started, url, adminPort: context.adminPort };
}

/** Runs the suite, prints its tables and writes JSON under bench/results/. */
export async function runProxySuite(options: ProxySuiteOptions): Promise<ProxySuiteResult> {
  const machine = machineInfo();
  const group = new ProcessGroup();
  const directory = mkdtempSync(join(tmpdir(), 'breakwater-bench-'));
  group.addCleanup(() => rmSync(directory, { recursive: true, force: true }));
  trackLoadGenerators((name, child) => group.track(name, child));
  const missing = ['wrk', 'nginx', 'haproxy'].filter((tool) => which(tool) === undefined);
  const notes: string[] = [];
  if (missing.length > 0) {
    notes.push(
      `Not installed here: ${missing.join(', ')} — rows that need them are skipped` +
        (missing.includes('wrk') ? ', and autocannon generates the load instead of wrk' : '') +
        `. To add them: \`apt-get install nginx haproxy wrk\`.`,
    );
    log(`bench: ${notes[0]}`);
  }
  const only = options.only.flatMap((id) => (id === 'cores' ? coresSubjectIds : [id]));
  const selected = (subjects: readonly ProxySubject[]): ProxySubject[] =>
    subjects.filter((subject) => only.length === 0 || only.includes(subject.id));

  try {
    const upstream = await startUpstream(group, directory);
    log(`bench: upstream ${upstream.kind} on ${upstream.origins.join(' ')}`);
    if (upstream.kind === 'node') {
      notes.push(
        'The upstream is three Node servers in one process (nginx is not installed): it may be the bottleneck, which compresses the differences between proxies.',
      );
    }

    const healthy = options.skipHealthy
      ? []
      : await runHealthy(
          selected(withBaseline(allSubjects, options.baseline)),
          upstream,
          group,
          directory,
          options,
        );
    let failures: FailureResult[] = [];
    let sweep: SweepResult[] = [];
    let overload: OverloadCase[] = [];
    if (!options.skipFailures) {
      const target = await startControllableTarget(group, directory);
      const targets = [upstream.origins[0]!, upstream.origins[1]!, target.origin];
      failures = await runFailures(
        selected(failureSubjects),
        targets,
        target,
        group,
        directory,
        options,
      );
      if (options.scenarios.includes('balancers')) {
        sweep = await runBalancerSweep(
          (balance, scenario) =>
            sweepCase(balance, scenario, targets, target, group, directory, options),
          options.rounds,
          log,
          ...(options.sweep.length > 0 ? [options.sweep] : []),
        );
      }
      if (options.scenarios.includes('overload')) {
        overload = await runOverload(
          group,
          directory,
          async (overloadTargets, overrides, id) => {
            const subject = breakwaterSubject(id, 'Breakwater', overrides, {
              balance: 'default',
            });
            const running = await startSubject(subject, group, directory, overloadTargets, options);
            return { url: running.url, stop: () => group.stop(running.started) };
          },
          { measureSeconds: options.durationSeconds, settleSeconds: overloadSettleSeconds },
          log,
        );
      }
    }

    const features = await breakwaterFeatures({
      group,
      directory,
      port: 0,
      adminPort: 0,
      targets: upstream.origins,
    });
    const versions = collectVersions();
    const defaultBalance = (
      await breakwaterFeatures(
        { group, directory, port: 0, adminPort: 0, targets: upstream.origins },
        {},
        'default',
      )
    ).detection.match(/^balance: ([\w-]+)/)?.[1];
    const extra = [
      renderManyCores(healthy, machine),
      sweep.length > 0 ? renderBalancerSweep(sweep, options.slowDelayMs, defaultBalance) : '',
      overload.length > 0
        ? renderOverload(overload, {
            measureSeconds: options.durationSeconds,
            settleSeconds: overloadSettleSeconds,
          })
        : '',
    ].filter((section) => section !== '');
    const markdown = [
      renderProxyMarkdown({
        machine,
        versions,
        options,
        upstreamKind: upstream.kind,
        tool: loadTool(),
        healthy,
        failures,
        breakwaterFeatures: features.features,
        notes,
      }),
      ...extra,
    ].join('\n\n');
    const data = {
      suite: 'proxy',
      machine,
      versions,
      settings: { ...options, tool: loadTool(), upstream: upstream.kind },
      breakwaterFeatures: features.features,
      healthy,
      failures,
      balancerSweep: sweep,
      overload,
      notes,
    };
    const jsonPath = writeResults('proxy', data, markdown);
    log(`bench: proxy results written to ${jsonPath}`);
    return { markdown, data };
  } finally {
    await group.stopAll();
    rmSync(directory, { recursive: true, force: true });
  }
}

async function runHealthy(
  subjects: readonly ProxySubject[],
  upstream: Upstream,
  group: ProcessGroup,
  directory: string,
  options: ProxySuiteOptions,
): Promise<SubjectResult[]> {
  const origins = upstream.origins;
  const running = new Map<string, { started: Started | undefined; url: string }>();
  const results: SubjectResult[] = [];
  for (const subject of subjects) {
    const reason = subject.unavailable();
    if (reason !== undefined) {
      log(`bench: skipping ${subject.label}: ${reason}`);
      results.push({ id: subject.id, label: subject.label, runs: [], skipped: reason });
      continue;
    }
    if (subject === direct) {
      running.set(subject.id, { started: undefined, url: `${origins[0]}/` });
    } else {
      try {
        running.set(subject.id, await startSubject(subject, group, directory, origins, options));
      } catch (error: unknown) {
        const message = error instanceof Error ? error.message : String(error);
        log(`bench: ${subject.label} failed to start: ${message}`);
        results.push({
          id: subject.id,
          label: subject.label,
          runs: [],
          skipped: `failed to start: ${message.split('\n')[0]}`,
        });
        continue;
      }
    }
    results.push({
      id: subject.id,
      label: subject.label,
      runs: [],
      ...(subject.newConnections === true ? { newConnectionRuns: [] } : {}),
      ...(fixedRateSubjectIds.includes(subject.id) ? { fixedRateRuns: [] } : {}),
      ...(subject.id === 'breakwater' ? { halfRateRuns: [] } : {}),
    });
  }

  for (let round = 1; round <= options.rounds; round++) {
    for (const result of results) {
      const subject = running.get(result.id);
      if (subject === undefined || group.interrupted) continue;
      try {
        await warmUp(subject.url, options);
        const run = await measure(
          subject.url,
          subject.started?.pid,
          round,
          options,
          upstream.process.pid,
        );
        result.runs.push(run);
        log(
          `bench: round ${round} ${result.label}: ${formatCount(run.requestsPerSecond)} req/s, ` +
            `p50 ${formatMilliseconds(run.p50Ms)}, p99 ${formatMilliseconds(run.p99Ms)}, ` +
            `errors ${run.non2xx + run.socketErrors}, RSS ${formatBytes(run.rssBytes)}, ` +
            `CPU ${run.cpuMicrosPerRequest?.toFixed(1) ?? 'n/a'} µs/req ` +
            `(cores busy: proxy ${cores(run.proxyCpuSeconds, run)}, wrk ${cores(run.loadGeneratorCpuSeconds, run)}, ` +
            `upstream ${cores(run.upstreamCpuSeconds, run)})`,
        );
        if (result.newConnectionRuns !== undefined) {
          const fresh = await measure(
            subject.url,
            subject.started?.pid,
            round,
            options,
            upstream.process.pid,
            ['Connection: close'],
          );
          result.newConnectionRuns.push(fresh);
          log(
            `bench: round ${round} ${result.label}, new connection per request: ` +
              `${formatCount(fresh.requestsPerSecond)} req/s, p99 ${formatMilliseconds(fresh.p99Ms)}, ` +
              `errors ${fresh.non2xx + fresh.socketErrors}, CPU ${fresh.cpuMicrosPerRequest?.toFixed(1) ?? 'n/a'} µs/req ` +
              `(primary ${cores(fresh.primaryCpuSeconds, fresh)} cores)`,
          );
        }
        if (result.fixedRateRuns !== undefined) {
          const fixed = await measureFixedRate(
            group,
            subject.url,
            subject.started?.pid,
            round,
            options.fixedRate ?? fixedRate.rate,
          );
          result.fixedRateRuns.push(fixed);
          // One worker at half the rate carries what each of two workers carries at the full
          // rate: the comparison that isolates what cluster mode costs per request from the
          // cost of each process batching fewer requests per wake-up.
          if (result.halfRateRuns !== undefined) {
            const half = await measureFixedRate(
              group,
              subject.url,
              subject.started?.pid,
              round,
              Math.round((options.fixedRate ?? fixedRate.rate) / 2),
            );
            result.halfRateRuns.push(half);
            log(
              `bench: round ${round} ${result.label}, fixed ${half.rate} req/s: achieved ${formatCount(half.achievedRate)} req/s, ` +
                `CPU ${half.proxyCpuSeconds === undefined ? 'n/a' : ((half.proxyCpuSeconds / half.requests) * 1e6).toFixed(1)} µs/req`,
            );
          }
          log(
            `bench: round ${round} ${result.label}, fixed ${fixed.rate} req/s: achieved ${formatCount(fixed.achievedRate)} req/s, ` +
              `p50 ${formatMilliseconds(fixed.p50Ms)}, p99 ${formatMilliseconds(fixed.p99Ms)}, errors ${fixed.errors}, ` +
              `CPU ${fixed.proxyCpuSeconds === undefined ? 'n/a' : ((fixed.proxyCpuSeconds / fixed.requests) * 1e6).toFixed(1)} µs/req ` +
              `(proxy ${fixed.proxyCpuSeconds === undefined ? 'n/a' : (fixed.proxyCpuSeconds / fixed.durationSeconds).toFixed(2)} cores, ` +
              `first process ${fixed.primaryCpuSeconds === undefined ? 'n/a' : (fixed.primaryCpuSeconds / fixed.durationSeconds).toFixed(3)} cores)`,
          );
        }
      } catch (error: unknown) {
        log(
          `bench: round ${round} ${result.label} failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
  }
  for (const subject of running.values()) if (subject.started) await group.stop(subject.started);
  return results;
}

/** One case of the balancer sweep: a fresh Breakwater with `balance`, warmed up, measured. */
async function sweepCase(
  balance: string,
  scenario: 'healthy' | 'slow',
  targets: readonly string[],
  failing: ControllableTarget,
  group: ProcessGroup,
  directory: string,
  options: ProxySuiteOptions,
): Promise<SweepRun> {
  const subject = breakwaterSubject(`sweep-${balance}`, `Breakwater ${balance}`, {}, { balance });
  let started: Started | undefined;
  try {
    await failing.setMode('ok');
    const running = await startSubject(subject, group, directory, targets, options);
    started = running.started;
    await warmUp(running.url, options);
    if (scenario === 'slow') await failing.setMode('slow', options.slowDelayMs);
    const run = await measure(running.url, started.pid, 1, options);
    return {
      requestsPerSecond: run.requestsPerSecond,
      p99Ms: run.p99Ms,
      errors: run.non2xx + run.socketErrors,
    };
  } finally {
    if (started) await group.stop(started);
    await failing.setMode('ok').catch(() => undefined);
  }
}

async function runFailures(
  subjects: readonly ProxySubject[],
  targets: readonly string[],
  failing: ControllableTarget,
  group: ProcessGroup,
  directory: string,
  options: ProxySuiteOptions,
): Promise<FailureResult[]> {
  const context = { group, directory, port: 0, adminPort: 0, targets };
  const results: FailureResult[] = [];
  const scenarios = (['refuse', 'slow'] as const).filter((scenario) =>
    options.scenarios.includes(scenario),
  );
  for (const scenario of scenarios) {
    for (const subject of subjects) {
      if (subject.scenarios !== undefined && !subject.scenarios.includes(scenario)) continue;
      let detection = subject.detection ?? '';
      let label = subject.label;
      if (subject.upstreamOverrides !== undefined) {
        const features = await breakwaterFeatures(
          context,
          subject.upstreamOverrides,
          subject.balance,
        );
        detection = features.detection;
        if (!features.outlierDetection) label = `${subject.label} (without outlier detection)`;
      }
      const reason = subject.unavailable();
      results.push({
        id: subject.id,
        label,
        scenario,
        detection,
        runs: [],
        ...(reason ? { skipped: reason } : {}),
      });
    }
  }
  for (let round = 1; round <= options.rounds; round++) {
    for (const result of results) {
      if (result.skipped !== undefined || group.interrupted) continue;
      const subject = subjects.find((candidate) => candidate.id === result.id)!;
      let started: Started | undefined;
      try {
        await failing.setMode('ok');
        const running = await startSubject(subject, group, directory, targets, options);
        started = running.started;
        // Warm up with every target healthy, then fail one: the proxy meets the failure under load.
        await warmUp(running.url, options);
        await failing.setMode(result.scenario, options.slowDelayMs);
        const watch =
          subject.upstreamOverrides === undefined
            ? undefined
            : watchEjection(running.adminPort, failing.origin);
        const measured = await measure(running.url, started.pid, round, options);
        const ejectedAfterMs = watch?.stop();
        const run =
          subject.upstreamOverrides === undefined
            ? measured
            : {
                ...measured,
                failingTarget:
                  (await describeTarget(running.adminPort, failing.origin)) +
                  (ejectedAfterMs === undefined
                    ? ''
                    : `; seen out of rotation ${formatMilliseconds(ejectedAfterMs)} after the failure began`),
              };
        result.runs.push(run);
        log(
          `bench: round ${round} ${result.scenario} ${result.label}: ${formatCount(run.requestsPerSecond)} req/s, ` +
            `errors ${run.non2xx + run.socketErrors}, p99 ${formatMilliseconds(run.p99Ms)}`,
        );
      } catch (error: unknown) {
        log(
          `bench: round ${round} ${result.scenario} ${result.label} failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      } finally {
        if (started) await group.stop(started);
        await failing.setMode('ok').catch(() => undefined);
      }
    }
  }
  return results;
}

/**
 * What Breakwater's admin API says about one target: its breaker state, active-check health and
 * how many times it was ejected, e.g. "breaker open, 1 ejection".
 */
interface AdminTarget {
  url: string;
  healthy?: boolean;
  eligible?: boolean;
  breaker?: { state?: string };
  ejections?: number;
}

async function adminTarget(adminPort: number, origin: string): Promise<AdminTarget | undefined> {
  const response = await fetch(`http://127.0.0.1:${adminPort}/api/upstreams`, {
    signal: AbortSignal.timeout(2_000),
  });
  const view = (await response.json()) as { upstreams?: { targets?: AdminTarget[] }[] };
  return view.upstreams
    ?.flatMap((upstream) => upstream.targets ?? [])
    .find((candidate) => candidate.url === origin);
}

/**
 * Polls the admin API every 100 ms until the target leaves rotation (not eligible: breaker open
 * or health check down); `stop()` returns how long that took, or `undefined` if it never did.
 */
function watchEjection(adminPort: number, origin: string): { stop(): number | undefined } {
  const start = performance.now();
  let ejectedAfter: number | undefined;
  let polling = false;
  const timer = setInterval(() => {
    if (polling || ejectedAfter !== undefined) return;
    polling = true;
    adminTarget(adminPort, origin)
      .then((target) => {
        if (target !== undefined && target.eligible === false && ejectedAfter === undefined) {
          ejectedAfter = performance.now() - start;
        }
      })
      .catch(() => undefined)
      .finally(() => {
        polling = false;
      });
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      return ejectedAfter;
    },
  };
}

async function describeTarget(adminPort: number, origin: string): Promise<string> {
  try {
    const target = await adminTarget(adminPort, origin);
    if (target === undefined) return 'not in the admin view';
    const parts = [`breaker ${target.breaker?.state ?? 'unknown'}`];
    if (target.ejections !== undefined)
      parts.push(`${target.ejections} ejection${target.ejections === 1 ? '' : 's'}`);
    if (target.healthy === false) parts.push('health check down');
    return parts.join(', ');
  } catch (error: unknown) {
    return `admin API unavailable (${error instanceof Error ? error.message : String(error)})`;
  }
}

function collectVersions(): Record<string, string | undefined> {
  return {
    '@breakwater/proxy': packageVersion('@breakwater/proxy'),
    undici: packageVersion('undici'),
    'http-proxy': packageVersion('http-proxy'),
    '@fastify/http-proxy': packageVersion('@fastify/http-proxy'),
    fastify: packageVersion('fastify'),
    autocannon: packageVersion('autocannon'),
    nginx: toolVersion('nginx', ['-v'])?.replace(/^nginx version: /, ''),
    haproxy: toolVersion('haproxy', ['-v'])?.replace(/ - https:.*$/, ''),
    wrk: toolVersion('wrk', ['-v'])?.replace(/ Copyright.*$/, ''),
  };
}

interface RenderInput {
  readonly machine: MachineInfo;
  readonly versions: Record<string, string | undefined>;
  readonly options: ProxySuiteOptions;
  readonly upstreamKind: 'nginx' | 'node';
  readonly tool: 'wrk' | 'autocannon';
  readonly healthy: readonly SubjectResult[];
  readonly failures: readonly FailureResult[];
  readonly breakwaterFeatures: readonly string[];
  readonly notes: readonly string[];
}

/** The suite's markdown: settings, the healthy table, the failure table, the targets. */
export function renderProxyMarkdown(input: RenderInput): string {
  const { options, healthy } = input;
  const rps = (id: string): number | undefined => {
    const result = healthy.find((candidate) => candidate.id === id);
    return result ? medianOf(result.runs, (run) => run.requestsPerSecond) : undefined;
  };
  const p99 = (id: string): number | undefined => {
    const result = healthy.find((candidate) => candidate.id === id);
    return result ? medianOf(result.runs, (run) => run.p99Ms) : undefined;
  };
  const cpu = (id: string): number | undefined => {
    const result = healthy.find((candidate) => candidate.id === id);
    return result ? medianOf(result.runs, (run) => run.cpuMicrosPerRequest) : undefined;
  };
  const ours = rps('breakwater');
  const limit = rps('direct');

  const rows = healthy.map((result) => {
    if (result.runs.length === 0) {
      return [result.label, `skipped: ${result.skipped ?? 'no runs'}`, '', '', '', '', '', '', ''];
    }
    const median = medianOf(result.runs, (run) => run.requestsPerSecond);
    return [
      result.id === 'breakwater' ? `**${result.label}**` : result.label,
      result.runs.map((run) => formatCount(run.requestsPerSecond)).join(' / '),
      formatCount(median),
      formatMilliseconds(medianOf(result.runs, (run) => run.p50Ms)),
      formatMilliseconds(medianOf(result.runs, (run) => run.p99Ms)),
      result.id === 'direct' ? '—' : formatBytes(medianOf(result.runs, (run) => run.rssBytes)),
      result.id === 'direct'
        ? '—'
        : formatMicros(medianOf(result.runs, (run) => run.cpuMicrosPerRequest)),
      limit === undefined || median === undefined
        ? 'n/a'
        : `${((median / limit) * 100).toFixed(0)} %`,
      result.id === 'breakwater' || result.id === 'direct' ? '—' : formatRatio(ours, median),
    ];
  });

  const lines: string[] = [];
  lines.push('## Proxy throughput (healthy upstreams)');
  lines.push('');
  lines.push(describeMachine(input.machine));
  lines.push('');
  lines.push(
    `Load: ${input.tool === 'wrk' ? `wrk ${options.threads} thread` : 'autocannon (wrk not installed)'} × ` +
      `${options.connections} connections, ${options.durationSeconds} s per run after a ${options.warmupSeconds} s warm-up, ` +
      `${options.rounds} rounds interleaved. Upstream: ${input.upstreamKind === 'nginx' ? 'nginx (1 worker), three server blocks' : 'three Node servers'} answering \`hello\\n\`. ` +
      `Every proxy round-robins over the three. Breakwater config: examples/breakwater.yaml's settings for one upstream, ` +
      `access log off; as validated: ${input.breakwaterFeatures.join('; ')}.`,
  );
  lines.push('');
  lines.push(
    markdownTable(
      [
        'proxy',
        'req/s per run',
        'req/s (median)',
        'p50',
        'p99',
        'RSS',
        'CPU per request',
        'of direct',
        'Breakwater ÷ this',
      ],
      rows,
    ),
  );
  lines.push('');

  const failureRows = input.failures.map((result) => {
    if (result.runs.length === 0) {
      return [
        result.scenario,
        result.label,
        result.detection,
        `skipped: ${result.skipped ?? 'no runs'}`,
        '',
        '',
        '',
        '',
      ];
    }
    const errors = result.runs.map((run) => run.non2xx + run.socketErrors);
    return [
      result.scenario === 'refuse'
        ? 'one target refuses connections'
        : `one target +${options.slowDelayMs} ms`,
      result.id === 'breakwater' ? `**${result.label}**` : result.label,
      result.detection,
      result.runs.map((run) => formatCount(run.requestsPerSecond)).join(' / '),
      errors.map((count) => formatCount(count)).join(' / '),
      result.runs
        .map(
          (run) =>
            `${(((run.non2xx + run.socketErrors) / Math.max(1, run.requests)) * 100).toFixed(2)} %`,
        )
        .join(' / '),
      formatMilliseconds(medianOf(result.runs, (run) => run.p99Ms)),
      result.runs.some((run) => run.failingTarget !== undefined)
        ? result.runs.map((run) => run.failingTarget ?? 'n/a').join(' / ')
        : '—',
    ];
  });
  if (failureRows.length > 0) {
    lines.push('## Proxy under failure (one of three targets failing)');
    lines.push('');
    lines.push(
      'Each run starts the proxy fresh, warms it up with all three targets healthy, then makes the third ' +
        'target (a Node server) refuse connections or answer slowly and measures. Errors are non-2xx responses plus socket errors seen by the load generator.',
    );
    lines.push('');
    lines.push(
      markdownTable(
        [
          'scenario',
          'proxy',
          'detection',
          'req/s per run',
          'errors per run',
          'error rate',
          'p99 (median)',
          'failing target at the end (Breakwater admin API)',
        ],
        failureRows,
        [1, 2, 7],
      ),
    );
    lines.push('');
  }

  const fastify = rps('fastify');
  const nodeHttpProxy = rps('http-proxy');
  const minimal = rps('minimal');
  const nginx = rps('nginx');
  const ourP99 = p99('breakwater');
  const minimalP99 = p99('minimal');
  const check = (
    value: number | undefined,
    other: number | undefined,
    factor: number,
  ): boolean | undefined =>
    value === undefined || other === undefined ? undefined : value >= factor * other;
  lines.push('## Proxy targets');
  lines.push('');
  lines.push(
    "Judged on median req/s. CPU per request (the proxy's user + system time over the run, all its processes together, ÷ requests served) is shown beside it: " +
      'it moves less than req/s when other work shares the machine (though not zero: a proxy that waits more batches less), so it helps tell noise from a real gap. "The floor\'s ratio" is what the minimal forwarder itself reaches.',
  );
  lines.push('');
  // For CPU a ratio is inverted: a proxy that needs half the CPU per request is "2×".
  const cpuRatio = (peer: string): string => formatRatio(cpu(peer), cpu('breakwater'));
  const floorCpuRatio = (peer: string): string => formatRatio(cpu(peer), cpu('minimal'));
  lines.push(
    markdownTable(
      ['target', 'by req/s', 'by CPU per request', "the floor's ratio (req/s; CPU)", 'verdict'],
      [
        [
          '≥ 2× @fastify/http-proxy',
          formatRatio(ours, fastify),
          cpuRatio('fastify'),
          `${formatRatio(minimal, fastify)}; ${floorCpuRatio('fastify')}`,
          verdict(check(ours, fastify, 2)),
        ],
        [
          '≥ 2.5× http-proxy',
          formatRatio(ours, nodeHttpProxy),
          cpuRatio('http-proxy'),
          `${formatRatio(minimal, nodeHttpProxy)}; ${floorCpuRatio('http-proxy')}`,
          verdict(check(ours, nodeHttpProxy, 2.5)),
        ],
        [
          '≥ 0.9× the minimal forwarder',
          formatRatio(ours, minimal),
          cpuRatio('minimal'),
          '—',
          verdict(check(ours, minimal, 0.9)),
        ],
        [
          "p99 no worse than the forwarder's",
          `${formatMilliseconds(ourP99)} vs ${formatMilliseconds(minimalP99)}`,
          '—',
          '—',
          verdict(
            ourP99 === undefined || minimalP99 === undefined ? undefined : ourP99 <= minimalP99,
          ),
        ],
        [
          'ratio to nginx (reported, no target)',
          formatRatio(ours, nginx),
          cpuRatio('nginx'),
          `${formatRatio(minimal, nginx)}; ${floorCpuRatio('nginx')}`,
          '—',
        ],
        [
          'ratio to HAProxy (reported, no target)',
          formatRatio(ours, rps('haproxy')),
          cpuRatio('haproxy'),
          `${formatRatio(minimal, rps('haproxy'))}; ${floorCpuRatio('haproxy')}`,
          '—',
        ],
      ],
      [4],
    ),
  );
  lines.push('');
  lines.push(
    `Versions: ${Object.entries(input.versions)
      .map(([name, version]) => `${name} ${version ?? 'not installed'}`)
      .join(' · ')}`,
  );
  for (const note of input.notes) {
    lines.push('');
    lines.push(`Note: ${note}`);
  }
  return lines.join('\n');
}
