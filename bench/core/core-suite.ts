/**
 * The core suite: what a breaker and the policies cost per call, beside opossum and cockatiel,
 * and what idle breakers hold. Started by bench/run.ts in a child process with --expose-gc.
 *
 * Usage: node --expose-gc --conditions=@breakwater/source bench/core/core-suite.ts [--quick]
 */
import { describeMachine, type MachineInfo, machineInfo, packageVersion } from '../lib/machine.ts';
import {
  formatBytes,
  formatNanoseconds,
  formatRatio,
  markdownTable,
  verdict,
} from '../lib/markdown.ts';
import { writeResults } from '../lib/results.ts';
import { type FailureWindowRow, runFailureWindow } from './failure-window.ts';
import { type IdleRow, runIdleBreakers } from './idle-breakers.ts';
import { type MicroRow, type MicroSection, runMicro } from './micro.ts';
import { runSyncBench, type SyncBenchResults } from './sync-bench.ts';

const fills = [100, 10_000] as const;
const idleCount = 10_000;

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

interface CoreResults {
  readonly machine: MachineInfo;
  readonly versions: Record<string, string | undefined>;
  readonly micro: readonly MicroRow[];
  readonly failureWindow: readonly FailureWindowRow[];
  readonly idle: readonly IdleRow[];
  readonly sync: SyncBenchResults;
}

function find(rows: readonly MicroRow[], section: MicroSection, id: string): MicroRow | undefined {
  return rows.find((row) => row.section === section && row.id === id);
}

function sectionTable(
  rows: readonly MicroRow[],
  section: MicroSection,
  baselineId: string,
  baselineName: string,
): string {
  const baseline = find(rows, section, baselineId);
  return markdownTable(
    ['call', 'mean (best pass)', 'mean per pass', 'p50', 'p99', `÷ ${baselineName}`],
    rows
      .filter((row) => row.section === section)
      .map((row) => [
        row.id === 'breakwater' ? `**${row.label}**` : row.label,
        formatNanoseconds(row.avgNs),
        row.passMeansNs.map((ns) => formatNanoseconds(ns)).join(' / '),
        formatNanoseconds(row.p50Ns),
        formatNanoseconds(row.p99Ns),
        // A baseline the JIT reduced to nothing (a bare sync call) makes a ratio meaningless.
        baseline !== undefined && baseline.avgNs >= 5
          ? formatRatio(row.avgNs, baseline.avgNs)
          : '—',
      ]),
  );
}

/** The suite's markdown. */
export function renderCoreMarkdown(results: CoreResults): string {
  const { micro, failureWindow, idle } = results;
  const lines: string[] = [];
  const small = String(fills[0]);
  const large = String(fills[1]);
  lines.push('## Core: cost per call');
  lines.push('');
  lines.push(describeMachine(results.machine));
  lines.push('');
  lines.push(
    "Measured with mitata in one process, every case twice, interleaved; the table keeps each case's best pass (noise on a shared machine only adds time) and lists both. " +
      'Each async row awaits an `async` work function, so all pay the same promise floor.',
  );
  lines.push('');
  lines.push('### Closed breaker, successful call');
  lines.push('');
  lines.push(sectionTable(micro, 'closed', 'bare', 'bare await'));
  lines.push('');
  lines.push('### Synchronous call (opossum and cockatiel have no synchronous API)');
  lines.push('');
  lines.push(sectionTable(micro, 'sync', 'bare', 'bare fn()'));
  lines.push('');
  lines.push('### Rejection when open (tripped by a real failure)');
  lines.push('');
  lines.push(sectionTable(micro, 'rejection', 'breakwater', 'Breakwater'));
  lines.push('');
  lines.push(
    `### Failure path with a full time window (${small} vs ${large} outcomes already in it)`,
  );
  lines.push('');
  lines.push(
    'A fresh breaker per batch, its 60 s window filled with N successes, then 50 (failure, success) pairs timed; median over batches. ' +
      'The 90 % threshold is never reached, so every call runs.',
  );
  lines.push('');
  lines.push(
    markdownTable(
      [
        'breaker',
        `pair, window holds ${small}`,
        `pair, window holds ${large}`,
        `${large} ÷ ${small}`,
      ],
      failureWindow.map((row) => [
        row.id === 'breakwater' ? `**${row.label}**` : row.label,
        formatNanoseconds(row.pairNs[small]),
        formatNanoseconds(row.pairNs[large]),
        formatRatio(row.pairNs[large], row.pairNs[small]),
      ]),
    ),
  );
  lines.push('');
  lines.push('### Timeout policy alone (call succeeds well within the limit)');
  lines.push('');
  lines.push(sectionTable(micro, 'timeout', 'bare', 'bare await'));
  lines.push('');
  lines.push('### timeout + retry + breaker, composed (successful call)');
  lines.push('');
  lines.push(sectionTable(micro, 'pipeline', 'cockatiel', 'cockatiel wrap'));
  lines.push('');
  lines.push(`### ${idleCount.toLocaleString('en-US')} idle breakers (each used once, then idle)`);
  lines.push('');
  lines.push(
    'Heap (+ external) after a full GC, per breaker, in a fresh process per library. Timers counted through async_hooks (unref’d ones included); “ref’d” are those `process.getActiveResourcesInfo()` lists.',
  );
  lines.push('');
  lines.push(
    markdownTable(
      ['breaker', 'heap per breaker', 'timers held (10k breakers)', 'of which ref’d'],
      idle.map((row) => [
        row.subject.startsWith('breakwater') ? `**${row.label}**` : row.label,
        formatBytes(row.bytesPerBreaker),
        String(row.timersHeld),
        String(row.refTimersHeld),
      ]),
    ),
  );
  lines.push('');

  const bare = find(micro, 'closed', 'bare')?.avgNs;
  const execute = find(micro, 'closed', 'breakwater')?.avgNs;
  const rejection = find(micro, 'rejection', 'breakwater')?.avgNs;
  const rejectionFloor = find(micro, 'rejection', 'floor')?.avgNs;
  const timeoutCost = find(micro, 'timeout', 'breakwater')?.avgNs;
  const timeoutBare = find(micro, 'timeout', 'bare')?.avgNs;
  const ourPipeline = find(micro, 'pipeline', 'breakwater')?.avgNs;
  const theirPipeline = find(micro, 'pipeline', 'cockatiel')?.avgNs;
  const window = failureWindow.find((row) => row.id === 'breakwater');
  const growth = window
    ? (window.pairNs[large] ?? Number.NaN) / (window.pairNs[small] ?? Number.NaN)
    : undefined;
  const ourIdle = idle.filter((row) => row.subject.startsWith('breakwater'));
  const defined = (...values: (number | undefined)[]): boolean =>
    values.every((value) => value !== undefined && Number.isFinite(value));
  lines.push('### Core targets');
  lines.push('');
  lines.push(
    markdownTable(
      ['target', 'measured', 'verdict'],
      [
        [
          'closed `execute` ≤ 1.3× bare await',
          formatRatio(execute, bare),
          verdict(defined(execute, bare) ? execute! <= 1.3 * bare! : undefined),
        ],
        [
          'rejection when open < 1 µs (`execute`)',
          defined(rejection, rejectionFloor)
            ? `${formatNanoseconds(rejection)} (${formatNanoseconds(rejection! - rejectionFloor!)} above Node's rejected-promise floor)`
            : formatNanoseconds(rejection),
          verdict(defined(rejection) ? rejection! < 1_000 : undefined),
        ],
        [
          'rejection when open < 1 µs (`executeSync` / `tryAcquire`)',
          `${formatNanoseconds(find(micro, 'rejection', 'breakwater-sync')?.avgNs)} / ${formatNanoseconds(find(micro, 'rejection', 'breakwater-acquire')?.avgNs)}`,
          verdict(
            defined(find(micro, 'rejection', 'breakwater-sync')?.avgNs)
              ? (find(micro, 'rejection', 'breakwater-sync')?.avgNs ?? Infinity) < 1_000 &&
                  (find(micro, 'rejection', 'breakwater-acquire')?.avgNs ?? Infinity) < 1_000
              : undefined,
          ),
        ],
        [
          `O(1) failures: cost with ${large} in the window ≈ with ${small} (≤ 1.5×)`,
          growth === undefined ? 'n/a' : `${growth.toFixed(2)}×`,
          verdict(growth === undefined || !Number.isFinite(growth) ? undefined : growth <= 1.5),
        ],
        [
          'timeout policy < 1 µs per successful call',
          defined(timeoutCost, timeoutBare)
            ? `${formatNanoseconds(timeoutCost)} (${formatNanoseconds(timeoutCost! - timeoutBare!)} above bare await)`
            : 'n/a',
          verdict(defined(timeoutCost) ? timeoutCost! < 1_000 : undefined),
        ],
        [
          "pipeline ≤ cockatiel's wrap",
          formatRatio(ourPipeline, theirPipeline),
          verdict(defined(ourPipeline, theirPipeline) ? ourPipeline! <= theirPipeline! : undefined),
        ],
        [
          'idle breakers hold no timers',
          ourIdle.map((row) => `${row.timersHeld}`).join(' / ') || 'n/a',
          verdict(ourIdle.length === 0 ? undefined : ourIdle.every((row) => row.timersHeld === 0)),
        ],
      ],
      [2],
    ),
  );
  lines.push('');
  lines.push(...renderSync(results.sync));
  lines.push('');
  lines.push(
    `Versions: ${Object.entries(results.versions)
      .map(([name, version]) => `${name} ${version ?? 'not installed'}`)
      .join(' · ')}`,
  );
  return lines.join('\n');
}

/** The sharing section: cost per call with each sync, propagation, outages. */
function renderSync(sync: SyncBenchResults): string[] {
  const lines: string[] = [];
  lines.push('## Sharing breaker state across processes');
  lines.push('');
  lines.push(
    `Closed \`execute\` of a successful async call with each sync attached (mitata, this process, ${sync.cost[0]?.rounds ?? 0} short rounds with every case once per round in rotating order; each case is divided by no sync of the same round and the median ratio kept, so load that comes and goes on a shared machine hits both). The call path never waits for the transport: in \`transitions\` mode it adds one field check, in \`outcomes\` mode an increment. ` +
      (sync.redis ? '' : 'Redis was unreachable: its rows are missing.'),
  );
  lines.push('');
  lines.push(
    markdownTable(
      ['breaker', 'mean (median of rounds)', '÷ no sync (median of rounds)', 'goal ≤ 1.1×'],
      sync.cost.map((row) => [
        row.label,
        formatNanoseconds(row.avgNs),
        `${row.ratio.toFixed(2)}×`,
        row.label === 'no sync' ? '—' : verdict(row.ratio <= 1.1),
      ]),
    ),
  );
  lines.push('');
  lines.push(
    'Trip propagation: one instance trips a fresh breaker (5 failures); the delay until each of the 3 others reports it open, on wall clocks of one machine. Trips rotate over the 4 instances.',
  );
  lines.push('');
  lines.push(
    markdownTable(
      ['transport', 'samples', 'p50', 'p99', 'max', 'goal (p99)'],
      sync.propagation.map((row) => {
        const goal = row.transport.startsWith('Redis') ? 50 : 10;
        return [
          row.transport,
          String(row.samples),
          `${row.p50Ms.toFixed(2)} ms`,
          `${row.p99Ms.toFixed(2)} ms`,
          `${row.maxMs.toFixed(2)} ms`,
          `< ${goal} ms: ${verdict(row.p99Ms < goal)}`,
        ];
      }),
    ),
  );
  lines.push('');
  lines.push(
    'One outage of a dependency behind 4 instances (one call per 10 ms each, `consecutiveFailures(5)`, 300 ms open): calls that still reached it once it was down, and half-open trials it received when it came back.',
  );
  lines.push('');
  lines.push(
    markdownTable(
      ['sharing', 'doomed calls', 'trials'],
      sync.outages.map((row) => [row.label, String(row.doomed), String(row.trials)]),
    ),
  );
  return lines;
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const machine = machineInfo();
  const versions = {
    breakwater: packageVersion('breakwater'),
    opossum: packageVersion('opossum'),
    cockatiel: packageVersion('cockatiel'),
    mitata: packageVersion('mitata'),
  };
  log('bench: core suite (mitata)');
  const micro = await runMicro(quick, quick ? 1 : 2, log);
  const failureWindow = await runFailureWindow(fills, quick, log);
  const idle = await runIdleBreakers(idleCount, log);
  const sync = await runSyncBench(quick, log);
  const results: CoreResults = { machine, versions, micro, failureWindow, idle, sync };
  const markdown = renderCoreMarkdown(results);
  const jsonPath = writeResults('core', { suite: 'core', ...results }, markdown);
  log(`bench: core results written to ${jsonPath}`);
  process.stdout.write(`\n${markdown}\n`);
}

await main();
