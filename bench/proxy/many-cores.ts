/**
 * The "many cores" section of the proxy suite: Breakwater, nginx and HAProxy with one and two
 * workers (threads, for HAProxy) in the same run, and issue 15's goals computed from it — CPU
 * per request with two workers against one, two workers' throughput against what the machine's
 * spare CPU allows, Breakwater against nginx at equal workers — plus a 16-core projection from
 * the measured CPU per request, labelled as one.
 */
import type { MachineInfo } from '../lib/machine.ts';
import {
  formatCount,
  formatMilliseconds,
  markdownTable,
  median,
  verdict,
} from '../lib/markdown.ts';

/** The fields of one measured run this section reads. */
export interface CoresRun {
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly p99Ms: number | undefined;
  readonly durationSeconds: number;
  readonly proxyCpuSeconds: number | undefined;
  readonly loadGeneratorCpuSeconds: number | undefined;
  readonly upstreamCpuSeconds: number | undefined;
  readonly primaryCpuSeconds: number | undefined;
  readonly non2xx: number;
  readonly socketErrors: number;
}

/**
 * One run at a fixed request rate below saturation (open-loop.ts, keep-alive): the proxy's CPU
 * over the measured window, after a warm-up at the same rate in the same generator.
 */
export interface FixedRateRun {
  readonly round: number;
  /** The rate asked for, and the OK answers per second that arrived while the load ran. */
  readonly rate: number;
  readonly achievedRate: number;
  /** Requests due in the measured window and sent. */
  readonly requests: number;
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
  /** Wall time over which the CPU was read. */
  readonly durationSeconds: number;
  readonly proxyCpuSeconds: number | undefined;
  /** The proxy's first process alone (Breakwater's cluster primary, nginx's master). */
  readonly primaryCpuSeconds: number | undefined;
  /** Non-2xx, errors, timeouts and requests not sent. */
  readonly errors: number;
}

/** The key of one worker's half-rate runs among the fixed-rate summaries. */
const HALF_RATE_ID = 'breakwater-half-rate';

/** The subjects measured at a fixed rate too. */
export const fixedRateSubjectIds: readonly string[] = [
  'breakwater',
  'breakwater-w2',
  'breakwater-w2-reuseport',
  'nginx',
  'nginx-w2',
];
/**
 * The fixed rate: well below what one Breakwater worker serves here (~9k req/s saturated on
 * 2 cores shared with wrk and the upstream), and one the Node generator holds on a busy machine
 * (it could not hold 3,000 there). At most 64 requests in flight, so it keeps a small pool of
 * keep-alive connections instead of opening one per request while cold.
 */
export const fixedRate = {
  rate: 2_000,
  seconds: 8,
  warmupSeconds: 2,
  maxOutstanding: 64,
} as const;

/** One subject's runs. */
export interface CoresSubject {
  readonly id: string;
  readonly label: string;
  readonly runs: readonly CoresRun[];
  /** The same load with a new connection per request (Breakwater's rows). */
  readonly newConnectionRuns?: readonly CoresRun[];
  /** The fixed-rate runs ({@link fixedRateSubjectIds}). */
  readonly fixedRateRuns?: readonly FixedRateRun[];
  /** One worker at half the fixed rate: what each of two workers carries at the full rate. */
  readonly halfRateRuns?: readonly FixedRateRun[];
}

/** One proxy at one and at two workers. */
interface Pair {
  readonly name: string;
  readonly one: string;
  readonly two: string;
}

const PAIRS: readonly Pair[] = [
  { name: 'Breakwater, round-robin', one: 'breakwater', two: 'breakwater-w2' },
  { name: 'Breakwater, reuse-port', one: 'breakwater', two: 'breakwater-w2-reuseport' },
  { name: 'nginx', one: 'nginx', two: 'nginx-w2' },
  { name: 'HAProxy', one: 'haproxy', two: 'haproxy-w2' },
];

/** The scaling goal's bar: measured two-worker req/s at least this share of the expected. */
const SCALING_BAR = 0.9;
/** The projection's machine. */
const PROJECTED_CORES = 16;

interface Summary {
  readonly label: string;
  readonly requestsPerSecond: number | undefined;
  readonly p99Ms: number | undefined;
  /** CPU µs per request: the proxy's processes, the load generator, the upstream. */
  readonly proxyMicros: number | undefined;
  readonly loadMicros: number | undefined;
  readonly upstreamMicros: number | undefined;
  /** Cores busy on average over a run. */
  readonly proxyCores: number | undefined;
  readonly loadCores: number | undefined;
  readonly upstreamCores: number | undefined;
  /** The first process alone (Breakwater's primary). */
  readonly primaryCores: number | undefined;
  /** Non-2xx responses and socket errors, summed over the runs. */
  readonly errors: number;
}

function medianOf(
  runs: readonly CoresRun[],
  pick: (run: CoresRun) => number | undefined,
): number | undefined {
  return median(
    runs
      .map(pick)
      .filter((value): value is number => value !== undefined && Number.isFinite(value)),
  );
}

function summarise(label: string, runs: readonly CoresRun[]): Summary {
  const perRequest = (pick: (run: CoresRun) => number | undefined) =>
    medianOf(runs, (run) => {
      const seconds = pick(run);
      return seconds === undefined || run.requests <= 0
        ? undefined
        : (seconds / run.requests) * 1e6;
    });
  const cores = (pick: (run: CoresRun) => number | undefined) =>
    medianOf(runs, (run) => {
      const seconds = pick(run);
      return seconds === undefined ? undefined : seconds / run.durationSeconds;
    });
  return {
    label,
    requestsPerSecond: medianOf(runs, (run) => run.requestsPerSecond),
    p99Ms: medianOf(runs, (run) => run.p99Ms),
    proxyMicros: perRequest((run) => run.proxyCpuSeconds),
    loadMicros: perRequest((run) => run.loadGeneratorCpuSeconds),
    upstreamMicros: perRequest((run) => run.upstreamCpuSeconds),
    proxyCores: cores((run) => run.proxyCpuSeconds),
    loadCores: cores((run) => run.loadGeneratorCpuSeconds),
    upstreamCores: cores((run) => run.upstreamCpuSeconds),
    primaryCores: cores((run) => run.primaryCpuSeconds),
    errors: runs.reduce((sum, run) => sum + run.non2xx + run.socketErrors, 0),
  };
}

interface FixedSummary {
  readonly label: string;
  readonly achievedRate: number | undefined;
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
  readonly proxyMicros: number | undefined;
  readonly proxyCores: number | undefined;
  /** CPU µs per request and cores busy of the first process alone. */
  readonly primaryMicros: number | undefined;
  readonly primaryCores: number | undefined;
  readonly errors: number;
}

function summariseFixed(label: string, runs: readonly FixedRateRun[]): FixedSummary {
  const pick = (choose: (run: FixedRateRun) => number | undefined) =>
    median(
      runs
        .map(choose)
        .filter((value): value is number => value !== undefined && Number.isFinite(value)),
    );
  return {
    label,
    achievedRate: pick((run) => run.achievedRate),
    p50Ms: pick((run) => run.p50Ms),
    p99Ms: pick((run) => run.p99Ms),
    proxyMicros: pick((run) =>
      run.proxyCpuSeconds === undefined || run.requests <= 0
        ? undefined
        : (run.proxyCpuSeconds / run.requests) * 1e6,
    ),
    proxyCores: pick((run) =>
      run.proxyCpuSeconds === undefined ? undefined : run.proxyCpuSeconds / run.durationSeconds,
    ),
    primaryMicros: pick((run) =>
      run.primaryCpuSeconds === undefined || run.requests <= 0
        ? undefined
        : (run.primaryCpuSeconds / run.requests) * 1e6,
    ),
    primaryCores: pick((run) =>
      run.primaryCpuSeconds === undefined ? undefined : run.primaryCpuSeconds / run.durationSeconds,
    ),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
  };
}

const micros = (value: number | undefined) =>
  value === undefined ? 'n/a' : `${value.toFixed(1)} µs`;
const coresText = (value: number | undefined) => (value === undefined ? 'n/a' : value.toFixed(2));
const times = (value: number | undefined) =>
  value === undefined || !Number.isFinite(value) ? 'n/a' : `${value.toFixed(2)}×`;
const divide = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || b === 0 ? undefined : a / b;

/**
 * Renders the section, or `''` when none of its subjects ran.
 *
 * @example
 * ```ts
 * renderManyCores(healthyResults, machineInfo());
 * ```
 */
export function renderManyCores(
  subjects: readonly CoresSubject[],
  machine: Pick<MachineInfo, 'cores' | 'loadAverage'>,
): string {
  const summaries = new Map<string, Summary>();
  const fresh = new Map<string, Summary>();
  const fixed = new Map<string, FixedSummary>();
  for (const subject of subjects) {
    if (subject.fixedRateRuns !== undefined && subject.fixedRateRuns.length > 0) {
      fixed.set(subject.id, summariseFixed(subject.label, subject.fixedRateRuns));
    }
    if (subject.halfRateRuns !== undefined && subject.halfRateRuns.length > 0) {
      const half = subject.halfRateRuns[0]!.rate;
      fixed.set(
        HALF_RATE_ID,
        summariseFixed(`${subject.label}, at ${formatCount(half)} req/s`, subject.halfRateRuns),
      );
    }
    if (subject.runs.length > 0) summaries.set(subject.id, summarise(subject.label, subject.runs));
    if (subject.newConnectionRuns !== undefined && subject.newConnectionRuns.length > 0) {
      fresh.set(subject.id, summarise(subject.label, subject.newConnectionRuns));
    }
  }
  const ids = [...new Set(PAIRS.flatMap((pair) => [pair.one, pair.two]))];
  if (!ids.some((id) => summaries.has(id))) return '';
  const cores = machine.cores;
  const lines: string[] = [];
  lines.push('## Many cores (issue 15)');
  lines.push('');
  lines.push(
    `Each proxy with one and two workers (HAProxy: threads), measured in the same run as the table above. ` +
      `CPU is user + system time from /proc over each measured run: for the proxy, all its processes together ` +
      `(Breakwater's primary and workers, nginx's master and workers); for the load generator (wrk) and the upstream ` +
      `(nginx) their own. "Cores busy" is that CPU time ÷ the run's duration. This machine has ${cores} cores, ` +
      `which the proxy shares with the load generator and the upstream; load average at the start ${machine.loadAverage.join(' / ')}.`,
  );
  lines.push('');
  lines.push(
    markdownTable(
      [
        'proxy',
        'req/s (median)',
        'p99',
        'proxy CPU per request',
        'proxy cores busy',
        'wrk CPU per request',
        'wrk cores busy',
        'upstream CPU per request',
        'upstream cores busy',
      ],
      ids
        .filter((id) => summaries.has(id))
        .map((id) => {
          const s = summaries.get(id)!;
          return [
            s.label,
            formatCount(s.requestsPerSecond),
            formatMilliseconds(s.p99Ms),
            micros(s.proxyMicros),
            coresText(s.proxyCores),
            micros(s.loadMicros),
            coresText(s.loadCores),
            micros(s.upstreamMicros),
            coresText(s.upstreamCores),
          ];
        }),
    ),
  );
  lines.push('');

  if (fresh.size > 0) {
    lines.push(
      'The same load with a new connection per request (`Connection: close`), where how the workers get their ' +
        "connections matters most: under round-robin the primary accepts each one and passes it to a worker over IPC (its CPU is the 'primary cores busy' column); " +
        'under reuse-port each worker accepts from its own socket.',
    );
    lines.push('');
    lines.push(
      markdownTable(
        [
          'proxy',
          'req/s (median)',
          'p99',
          'errors (all runs)',
          'proxy CPU per request',
          'proxy cores busy',
          'primary cores busy',
        ],
        [...fresh.values()].map((s) => [
          s.label,
          formatCount(s.requestsPerSecond),
          formatMilliseconds(s.p99Ms),
          formatCount(s.errors),
          micros(s.proxyMicros),
          coresText(s.proxyCores),
          coresText(s.primaryCores),
        ]),
      ),
    );
    lines.push('');
  }

  const rate =
    subjects.flatMap((subject) => subject.fixedRateRuns ?? []).at(0)?.rate ?? fixedRate.rate;
  if (fixed.size > 0) {
    lines.push(
      `The same proxies at a fixed ${formatCount(rate)} req/s, well below saturation: open-loop.ts (keep-alive, ` +
        `at most ${fixedRate.maxOutstanding} requests in flight, requests sent on schedule whatever the answers, latency from when each was due), ` +
        `${fixedRate.warmupSeconds} s of warm-up, then ${fixedRate.seconds} s measured, rounds interleaved with the runs above. ` +
        `Proxy CPU is its processes' CPU over the measured window ÷ the requests sent in it; "achieved" is the OK answers per ` +
        `second that arrived in it, to check the generator held the rate; errors include requests not sent because ${fixedRate.maxOutstanding} were in flight.`,
    );
    lines.push('');
    lines.push(
      markdownTable(
        [
          'proxy',
          'achieved req/s (median)',
          'p50',
          'p99',
          'errors (all runs)',
          'proxy CPU per request',
          'proxy cores busy',
          'of which the first process (primary / master), per request and cores',
        ],
        [...fixed.values()].map((s) => [
          s.label,
          formatCount(s.achievedRate),
          formatMilliseconds(s.p50Ms),
          formatMilliseconds(s.p99Ms),
          formatCount(s.errors),
          micros(s.proxyMicros),
          coresText(s.proxyCores),
          `${micros(s.primaryMicros)}, ${s.primaryCores === undefined ? 'n/a' : s.primaryCores.toFixed(3)}`,
        ]),
      ),
    );
    lines.push('');
  }

  const goalRows: string[][] = [];
  for (const pair of PAIRS) {
    const one = summaries.get(pair.one);
    const two = summaries.get(pair.two);
    if (one === undefined || two === undefined) continue;
    const ratio = divide(two.proxyMicros, one.proxyMicros);
    const isOurs = pair.one === 'breakwater';
    goalRows.push([
      `CPU per request, 2 workers ÷ 1, saturated — ${pair.name}`,
      `${micros(two.proxyMicros)} ÷ ${micros(one.proxyMicros)} = ${times(ratio)}`,
      isOurs ? '≤ 1.1×' : 'reported',
      isOurs ? verdict(ratio === undefined ? undefined : ratio <= 1.1) : '—',
    ]);
  }
  for (const pair of PAIRS) {
    const one = fixed.get(pair.one);
    const two = fixed.get(pair.two);
    if (one === undefined || two === undefined) continue;
    const ratio = divide(two.proxyMicros, one.proxyMicros);
    const isOurs = pair.one === 'breakwater';
    goalRows.push([
      `CPU per request, 2 workers ÷ 1, at a fixed rate below saturation (${formatCount(rate)} req/s) — ${pair.name}`,
      `${micros(two.proxyMicros)} ÷ ${micros(one.proxyMicros)} = ${times(ratio)}`,
      isOurs ? '≤ 1.1×' : 'reported',
      isOurs ? verdict(ratio === undefined ? undefined : ratio <= 1.1) : '—',
    ]);
  }
  // Equal load per process: each of two workers at the full rate serves what one worker serves
  // at half of it, so what is left between them is what cluster mode costs per request.
  const half = fixed.get(HALF_RATE_ID);
  for (const id of ['breakwater-w2', 'breakwater-w2-reuseport']) {
    const two = fixed.get(id);
    if (half === undefined || two === undefined) continue;
    const ratio = divide(two.proxyMicros, half.proxyMicros);
    goalRows.push([
      `CPU per request, 2 workers at ${formatCount(rate)} req/s ÷ 1 worker at ${formatCount(rate / 2)} req/s (equal load per process: what sharing state costs) — ${two.label}`,
      `${micros(two.proxyMicros)} ÷ ${micros(half.proxyMicros)} = ${times(ratio)}`,
      '≤ 1.1×',
      verdict(ratio === undefined ? undefined : ratio <= 1.1),
    ]);
  }
  for (const pair of PAIRS) {
    const one = summaries.get(pair.one);
    const two = summaries.get(pair.two);
    if (one === undefined || two === undefined) continue;
    const perRequest =
      one.proxyMicros === undefined ||
      one.loadMicros === undefined ||
      one.upstreamMicros === undefined
        ? undefined
        : one.proxyMicros + one.loadMicros + one.upstreamMicros;
    // Every core busy, each request costing what it did at one worker: the machine's limit.
    const expected = perRequest === undefined ? undefined : (cores * 1e6) / perRequest;
    const share = divide(two.requestsPerSecond, expected);
    const left =
      expected === undefined || one.loadMicros === undefined || one.upstreamMicros === undefined
        ? undefined
        : cores - (expected * (one.loadMicros + one.upstreamMicros)) / 1e6;
    const isOurs = pair.one === 'breakwater';
    goalRows.push([
      `2 workers' req/s against the CPU they could get — ${pair.name}`,
      expected === undefined
        ? 'n/a'
        : `1 worker: ${formatCount(one.requestsPerSecond)} req/s using ${coresText(one.proxyCores)} cores. ` +
          `Expected with 2: ${cores} cores × 10⁶ ÷ (proxy ${micros(one.proxyMicros)} + wrk ${micros(one.loadMicros)} + upstream ${micros(one.upstreamMicros)} per request) = ` +
          `${formatCount(expected)} req/s, i.e. available CPU for the proxy = ${cores} cores − wrk − upstream at that rate = ${coresText(left)} cores ` +
          `(${times(divide(expected, one.requestsPerSecond))} of 1 worker). Measured: ${formatCount(two.requestsPerSecond)} req/s = ` +
          `${share === undefined ? 'n/a' : `${(share * 100).toFixed(0)} %`} of expected (${times(divide(two.requestsPerSecond, one.requestsPerSecond))} of 1 worker)`,
      `≥ ${(SCALING_BAR * 100).toFixed(0)} % of expected${isOurs ? '' : ' (reported)'}`,
      isOurs ? verdict(share === undefined ? undefined : share >= SCALING_BAR) : '—',
    ]);
  }
  for (const [workers, ours, nginx] of [
    [1, 'breakwater', 'nginx'],
    [2, 'breakwater-w2', 'nginx-w2'],
    [2, 'breakwater-w2-reuseport', 'nginx-w2'],
  ] as const) {
    const a = summaries.get(ours);
    const b = summaries.get(nginx);
    if (a === undefined || b === undefined) continue;
    const byRate = divide(a.requestsPerSecond, b.requestsPerSecond);
    goalRows.push([
      `Breakwater ÷ nginx at ${workers} worker${workers === 1 ? '' : 's'}${ours.endsWith('reuseport') ? ' (reuse-port)' : ''}`,
      `req/s ${formatCount(a.requestsPerSecond)} ÷ ${formatCount(b.requestsPerSecond)} = ${times(byRate)}; ` +
        `by CPU per request ${micros(b.proxyMicros)} ÷ ${micros(a.proxyMicros)} = ${times(divide(b.proxyMicros, a.proxyMicros))}`,
      '≥ 0.5× (moonshot, reported either way)',
      verdict(byRate === undefined ? undefined : byRate >= 0.5),
    ]);
  }
  for (const [load, table] of [
    ['keep-alive', summaries],
    ['new connection per request', fresh],
  ] as const) {
    const roundRobin = table.get('breakwater-w2');
    const reusePort = table.get('breakwater-w2-reuseport');
    if (roundRobin === undefined || reusePort === undefined) continue;
    goalRows.push([
      `Accepting, 2 workers, ${load}: reuse-port ÷ round-robin`,
      `req/s ${formatCount(reusePort.requestsPerSecond)} ÷ ${formatCount(roundRobin.requestsPerSecond)} = ${times(divide(reusePort.requestsPerSecond, roundRobin.requestsPerSecond))}; ` +
        `CPU per request ${micros(reusePort.proxyMicros)} ÷ ${micros(roundRobin.proxyMicros)} = ${times(divide(reusePort.proxyMicros, roundRobin.proxyMicros))}; ` +
        `p99 ${formatMilliseconds(reusePort.p99Ms)} vs ${formatMilliseconds(roundRobin.p99Ms)}`,
      'informs cluster.accept (bench/README.md)',
      '—',
    ]);
  }
  if (goalRows.length > 0) {
    if (fixed.size > 0) {
      lines.push(
        'Three CPU-per-request ratios: the saturated one is what each request costs when every core is busy, so it ' +
          'includes contention with wrk and the upstream and the smaller batches each worker reads per event-loop ' +
          'turn (more system calls per request); the fixed-rate one offers both setups the same requests with cores ' +
          'to spare, but each of two workers still sees half of them, and a process costs more per request the ' +
          'fewer it gets per wake-up; the equal-load one compares two workers at the rate with one worker at half ' +
          'of it, so every process serves the same rate and what is left is what running as cluster workers ' +
          '(shared breaker state, IPC with the primary) costs per request.',
      );
      lines.push('');
    }
    lines.push(markdownTable(['goal', 'arithmetic', 'bar', 'verdict'], goalRows, [1]));
    lines.push('');
  }

  const projections: string[][] = [];
  for (const [name, id] of [
    ['Breakwater (2 workers, round-robin)', 'breakwater-w2'],
    ['Breakwater (2 workers, reuse-port)', 'breakwater-w2-reuseport'],
    ['nginx (2 workers)', 'nginx-w2'],
    ['HAProxy (2 threads)', 'haproxy-w2'],
  ] as const) {
    const s = summaries.get(id);
    if (s?.proxyMicros === undefined) continue;
    projections.push([
      name,
      micros(s.proxyMicros),
      `${PROJECTED_CORES} × 10⁶ ÷ ${micros(s.proxyMicros)} = ${formatCount((PROJECTED_CORES * 1e6) / s.proxyMicros)} req/s`,
    ]);
  }
  if (projections.length > 0) {
    lines.push(
      `**Projection, not a measurement:** req/s on a ${PROJECTED_CORES}-core machine running only the proxy ` +
        `(load generator and upstreams elsewhere), if each request cost the CPU measured here with 2 workers ` +
        `and every core were busy. It ignores what does not scale linearly: the network, the kernel's locks, ` +
        `and under round-robin the primary, which accepts every connection on one core (once per connection, not per request, with keep-alive).`,
    );
    lines.push('');
    lines.push(
      markdownTable(
        ['proxy', 'measured CPU per request', `projected req/s on ${PROJECTED_CORES} cores`],
        projections,
      ),
    );
    lines.push('');
  }
  return lines.join('\n');
}
