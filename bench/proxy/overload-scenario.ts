/**
 * The overload scenario: one upstream that works on 50 requests at once and queues the rest
 * (overload-upstream.ts), offered three times what it can serve by an open-loop generator
 * (open-loop.ts), through Breakwater with and without `adaptiveConcurrency`. Without a limit the
 * upstream's queue, and so every request's latency, grows for as long as the overload lasts;
 * with one, the proxy answers the excess at once with 503 and the requests it forwards are served
 * at close to unloaded latency. The unloaded rows (half the capacity) give the baseline p99.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { formatCount, formatMilliseconds, markdownTable, verdict } from '../lib/markdown.ts';
import { freePort, type ProcessGroup, waitForPort } from '../lib/processes.ts';
import { repositoryRoot } from '../lib/results.ts';

/** The upstream's shape: requests at once, and ms per request. */
export const overloadCapacity = 50;
export const overloadServiceMs = 200;
/**
 * Seconds of load before the measured ones: a limiter starting at its initial limit has grown to
 * the upstream's capacity by then (and an unprotected queue has built up).
 */
export const overloadSettleSeconds = 10;
/** Requests per second the upstream serves at most. */
export const capacityPerSecond = (overloadCapacity * 1_000) / overloadServiceMs;

/** What open-loop.ts reports. */
export interface OpenLoopResult {
  readonly rate: number;
  readonly sent: number;
  readonly ok: number;
  /** OK answers per second that arrived while the measured load ran. */
  readonly goodput: number;
  readonly non2xx: number;
  readonly statuses: Record<string, number>;
  readonly errors: number;
  readonly timeouts: number;
  readonly notSent: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
}

/** One case of the scenario. */
export interface OverloadCase {
  readonly id: string;
  readonly label: string;
  readonly adaptive: boolean;
  /** Offered load as a multiple of the upstream's capacity. */
  readonly load: number;
  /** More settings laid over the example's upstream. */
  readonly overrides?: Record<string, unknown>;
  result?: OpenLoopResult;
  failed?: string;
}

/** Starts Breakwater in front of `targets` with `overrides` laid over the example's upstream. */
export type StartProxy = (
  targets: readonly string[],
  overrides: Record<string, unknown>,
  id: string,
) => Promise<{ url: string; stop(): Promise<void> }>;

const proxyDirectory = join(repositoryRoot, 'bench', 'proxy');

/** Runs the cases, each against a fresh upstream and a fresh proxy. */
export async function runOverload(
  group: ProcessGroup,
  directory: string,
  startProxy: StartProxy,
  settings: { readonly measureSeconds: number; readonly settleSeconds: number },
  log: (message: string) => void,
): Promise<OverloadCase[]> {
  const cases: OverloadCase[] = [
    { id: 'unloaded', label: 'Breakwater, ½ capacity', adaptive: false, load: 0.5 },
    {
      id: 'unloaded-adaptive',
      label: 'Breakwater + adaptiveConcurrency, ½ capacity',
      adaptive: true,
      load: 0.5,
    },
    { id: 'overload', label: 'Breakwater, 3× capacity', adaptive: false, load: 3 },
    {
      // The example's outlier detection and health checks see the overload's timeouts and take
      // the only target out; without them, what the queue does to latency shows.
      id: 'overload-unguarded',
      label: 'Breakwater, 3× capacity, no outlier detection or health checks',
      adaptive: false,
      load: 3,
      overrides: { outlierDetection: false, healthCheck: undefined },
    },
    {
      id: 'overload-adaptive',
      label: 'Breakwater + adaptiveConcurrency, 3× capacity',
      adaptive: true,
      load: 3,
    },
  ];
  for (const overloadCase of cases) {
    if (group.interrupted) break;
    const port = await freePort();
    const upstream = group.start(
      'overload upstream',
      process.execPath,
      [
        join(proxyDirectory, 'overload-upstream.ts'),
        String(port),
        String(overloadCapacity),
        String(overloadServiceMs),
      ],
      join(directory, 'overload-upstream.log'),
    );
    let proxy: { url: string; stop(): Promise<void> } | undefined;
    try {
      await waitForPort(upstream, port);
      proxy = await startProxy(
        [`http://127.0.0.1:${port}`],
        {
          ...overloadCase.overrides,
          ...(overloadCase.adaptive ? { adaptiveConcurrency: {} } : {}),
        },
        `overload-${overloadCase.id}`,
      );
      const result = await openLoop(
        group,
        proxy.url,
        capacityPerSecond * overloadCase.load,
        settings,
      );
      overloadCase.result = result;
      log(
        `bench: overload ${overloadCase.label}: goodput ${formatCount(result.goodput)}/s, ` +
          `p50 ${formatMilliseconds(result.p50Ms ?? undefined)}, p99 ${formatMilliseconds(result.p99Ms ?? undefined)}, ` +
          `statuses ${JSON.stringify(result.statuses)}, timeouts ${result.timeouts}, errors ${result.errors}`,
      );
    } catch (error: unknown) {
      overloadCase.failed = error instanceof Error ? error.message.split('\n')[0]! : String(error);
      log(`bench: overload ${overloadCase.label} failed: ${overloadCase.failed}`);
    } finally {
      await proxy?.stop();
      await group.stop(upstream);
    }
  }
  return cases;
}

/**
 * Runs open-loop.ts against `url` at `rate` req/s: `settleSeconds` unmeasured, then
 * `measureSeconds` measured; resolves with its report.
 */
export function openLoop(
  group: ProcessGroup,
  url: string,
  rate: number,
  settings: {
    readonly measureSeconds: number;
    readonly settleSeconds: number;
    /** Caps requests in flight, and so the connections it opens. */
    readonly maxOutstanding?: number;
    /** Called when the measured window opens (`start`) and closes (`end`). */
    readonly onMark?: (mark: 'start' | 'end') => void;
  },
): Promise<OpenLoopResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        join(proxyDirectory, 'open-loop.ts'),
        '--url',
        url,
        '--rate',
        String(rate),
        '--seconds',
        String(settings.measureSeconds),
        '--skip',
        String(settings.settleSeconds),
        '--give-up',
        '10000',
        ...(settings.maxOutstanding === undefined
          ? []
          : ['--max-outstanding', String(settings.maxOutstanding)]),
        ...(settings.onMark === undefined ? [] : ['--marks']),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    group.track('open-loop load', child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
      if (settings.onMark === undefined) return;
      // The marks are whole lines; read each once, as it arrives.
      for (const mark of ['start', 'end'] as const) {
        const line = `measure-${mark}\n`;
        if (stderr.includes(line)) {
          stderr = stderr.replace(line, '');
          settings.onMark(mark);
        }
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) {
        reject(new Error(`open-loop exited with ${code}: ${stderr.trim()}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as OpenLoopResult);
      } catch (error: unknown) {
        reject(error);
      }
    });
  });
}

/** The scenario's table and its two targets. */
export function renderOverload(
  cases: readonly OverloadCase[],
  settings: { readonly measureSeconds: number; readonly settleSeconds: number },
): string {
  const find = (id: string) => cases.find((candidate) => candidate.id === id)?.result;
  const rows = cases.map((overloadCase) => {
    const result = overloadCase.result;
    if (result === undefined) {
      return [
        overloadCase.label,
        `failed: ${overloadCase.failed ?? 'not run'}`,
        '',
        '',
        '',
        '',
        '',
      ];
    }
    const refused = result.statuses['503'] ?? 0;
    return [
      overloadCase.label,
      formatCount(result.rate),
      `${formatCount(result.goodput)} (${((result.goodput / capacityPerSecond) * 100).toFixed(0)} %)`,
      formatMilliseconds(result.p50Ms ?? undefined),
      formatMilliseconds(result.p99Ms ?? undefined),
      formatCount(refused),
      formatCount(result.timeouts + result.errors + result.non2xx - refused),
    ];
  });
  const unloadedP99 = find('unloaded')?.p99Ms ?? undefined;
  const adaptive = find('overload-adaptive');
  const plain = find('overload');
  const goodputMet =
    adaptive === undefined ? undefined : adaptive.goodput >= 0.9 * capacityPerSecond;
  const p99Met =
    adaptive?.p99Ms == null || unloadedP99 === undefined
      ? undefined
      : adaptive.p99Ms <= 3 * unloadedP99;
  return [
    '## Overload (one upstream that runs 50 requests at once and queues the rest)',
    '',
    `The upstream serves ${overloadCapacity} requests at once, ${overloadServiceMs} ms each: ${formatCount(capacityPerSecond)} req/s at most. ` +
      `An open-loop generator offers requests on schedule whether or not earlier ones were answered (latency counted from when each was due), ` +
      `for ${settings.settleSeconds} s unmeasured and then ${settings.measureSeconds} s measured; a request unanswered after 10 s is given up (a timeout). ` +
      'Goodput: 200 answers per second that arrived during the measured seconds. Latencies are those of the 200 answers. ' +
      "Breakwater runs with the example's upstream settings; `adaptiveConcurrency: {}` is the gradient algorithm with its defaults.",
    '',
    markdownTable(
      [
        'case',
        'offered req/s',
        'goodput req/s (of capacity)',
        'p50',
        'p99',
        '503 answers',
        'other errors and timeouts',
      ],
      rows,
    ),
    '',
    markdownTable(
      ['target', 'measured', 'verdict'],
      [
        [
          'adaptiveConcurrency at 3×: goodput ≥ 90 % of capacity',
          adaptive === undefined
            ? 'n/a'
            : `${((adaptive.goodput / capacityPerSecond) * 100).toFixed(0)} %`,
          verdict(goodputMet),
        ],
        [
          'adaptiveConcurrency at 3×: p99 ≤ 3× the unloaded p99',
          `${formatMilliseconds(adaptive?.p99Ms ?? undefined)} vs ${formatMilliseconds(unloadedP99)}`,
          verdict(p99Met),
        ],
        [
          'without it at 3× (shown, no target)',
          `p99 ${formatMilliseconds(plain?.p99Ms ?? undefined)}, goodput ${formatCount(plain?.goodput)}/s`,
          '—',
        ],
      ],
    ),
  ].join('\n');
}
