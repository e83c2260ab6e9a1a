/**
 * The balancer sweep: Breakwater alone, once per balancing algorithm, with all three targets
 * healthy and with one of them answering late, and no slow-call rule configured, so what the
 * balancer does on its own shows. This is the measurement the default balancer is chosen by:
 * the one that serves best under a slow target without costing the healthy case.
 */
import { formatCount, formatMilliseconds, markdownTable, median } from '../lib/markdown.ts';

/** Every balancer an upstream can name, except consistent hashing: wrk's requests all carry the
 * same key, so it would pin the whole load to one target and measure nothing about balancing. */
export const sweptBalancers = [
  'round-robin',
  'weighted-round-robin',
  'least-connections',
  'least-request',
  'random',
  'peak-ewma',
] as const;

/** One measured run of the sweep. */
export interface SweepRun {
  readonly requestsPerSecond: number;
  readonly p99Ms: number | undefined;
  readonly errors: number;
}

/** The runs of one balancer in one case. */
export interface SweepResult {
  readonly balance: string;
  readonly scenario: 'healthy' | 'slow';
  readonly runs: SweepRun[];
  readonly failed?: string;
}

/** Runs one case for one balancer: a fresh proxy, warmed up, measured. */
export type SweepCase = (balance: string, scenario: 'healthy' | 'slow') => Promise<SweepRun>;

/** Runs each balancer (all by default) in both cases, `rounds` times, interleaved. */
export async function runBalancerSweep(
  runCase: SweepCase,
  rounds: number,
  log: (message: string) => void,
  balancers: readonly string[] = sweptBalancers,
): Promise<SweepResult[]> {
  const results: SweepResult[] = balancers.flatMap((balance) =>
    (['healthy', 'slow'] as const).map((scenario) => ({ balance, scenario, runs: [] })),
  );
  for (let round = 1; round <= rounds; round++) {
    for (const result of results) {
      try {
        const run = await runCase(result.balance, result.scenario);
        result.runs.push(run);
        log(
          `bench: sweep round ${round} ${result.balance} ${result.scenario}: ` +
            `${formatCount(run.requestsPerSecond)} req/s, p99 ${formatMilliseconds(run.p99Ms)}, errors ${run.errors}`,
        );
      } catch (error: unknown) {
        const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
        log(`bench: sweep ${result.balance} ${result.scenario} failed: ${message}`);
        Object.assign(result, { failed: message });
      }
    }
  }
  return results;
}

/** The sweep's table: one row per balancer, healthy and slow side by side. */
export function renderBalancerSweep(
  results: readonly SweepResult[],
  slowDelayMs: number,
  defaultBalance: string | undefined,
): string {
  const cell = (balance: string, scenario: 'healthy' | 'slow') =>
    results.find((result) => result.balance === balance && result.scenario === scenario);
  const rps = (result: SweepResult | undefined) =>
    median(result?.runs.map((run) => run.requestsPerSecond) ?? []);
  const rows = [...new Set(results.map((result) => result.balance))].map((balance) => {
    const healthy = cell(balance, 'healthy');
    const slow = cell(balance, 'slow');
    const slowRps = rps(slow);
    const healthyRps = rps(healthy);
    return [
      balance === defaultBalance ? `**${balance}** (default)` : balance,
      healthy?.failed ? `failed: ${healthy.failed}` : formatCount(healthyRps),
      formatMilliseconds(median(healthy?.runs.flatMap((run) => run.p99Ms ?? []) ?? [])),
      slow?.failed ? `failed: ${slow.failed}` : formatCount(slowRps),
      formatMilliseconds(median(slow?.runs.flatMap((run) => run.p99Ms ?? []) ?? [])),
      String(slow?.runs.reduce((sum, run) => sum + run.errors, 0) ?? 'n/a'),
      slowRps === undefined || healthyRps === undefined
        ? 'n/a'
        : `${((slowRps / healthyRps) * 100).toFixed(0)} %`,
    ];
  });
  return [
    '## Balancers under a slow target (Breakwater only)',
    '',
    `Every balancer with the example's upstream settings and no slow-call rule: all three targets healthy, then one of them +${slowDelayMs} ms. ` +
      'Each case starts the proxy fresh and warms it up healthy before the failure begins.',
    '',
    markdownTable(
      [
        'balance',
        'healthy req/s',
        'healthy p99',
        'slow target req/s',
        'slow target p99',
        'errors (slow)',
        'kept under a slow target',
      ],
      rows,
    ),
  ].join('\n');
}
