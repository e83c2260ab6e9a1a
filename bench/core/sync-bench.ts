/**
 * What sharing breaker state costs and buys: closed `execute` with each sync attached beside none
 * (mitata, in this process), trip propagation across 4 processes through Redis and through
 * node:cluster IPC (p50/p99 of the delay between the trip and each other instance opening), and
 * per outage the calls that still reach a dead dependency and the half-open trials it receives,
 * with and without sync. The multi-process parts reuse the drivers of the multi-process tests.
 */
import { fileURLToPath } from 'node:url';
import { type RedisSync, redisSync } from '@breakwater/redis';
import { CircuitBreaker } from 'breakwater';
import { clusterSync } from 'breakwater/cluster';
import { measure } from 'mitata';
import { createClient } from 'redis';
import {
  type Fleet,
  type InstanceHandle,
  startClusterWorkers,
  startProcesses,
} from '../../packages/breakwater/test/support/fleet-control.ts';
import type { InstanceSetup } from '../../packages/breakwater/test/support/sync-instance.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS_INSTANCE = fileURLToPath(
  new URL('../../packages/redis/test/fixtures/redis-instance.ts', import.meta.url),
);
const STARTUP_MS = 30_000;

export interface SyncCostRow {
  readonly label: string;
  /** The median over rounds of the round's mean. */
  readonly avgNs: number;
  /** The median over rounds of (this case's mean ÷ no sync's mean in the same round). */
  readonly ratio: number;
  readonly rounds: number;
}

export interface PropagationRow {
  readonly transport: string;
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface OutageRow {
  readonly label: string;
  readonly doomed: number;
  readonly trials: number;
}

export interface SyncBenchResults {
  readonly redis: boolean;
  readonly cost: readonly SyncCostRow[];
  readonly propagation: readonly PropagationRow[];
  readonly outages: readonly OutageRow[];
}

const work = async (): Promise<number> => 1;

function middle(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function redisClient() {
  const client = createClient({ url: REDIS_URL, socket: { reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
    return client;
  } catch {
    return undefined;
  }
}

/** Closed `execute` with no sync, clusterSync and redisSync, in both modes. */
async function runCost(quick: boolean, log: (line: string) => void): Promise<SyncCostRow[]> {
  const options = { min_cpu_time: (quick ? 20 : 60) * 1e6 };
  const rows: SyncCostRow[] = [];
  const prefix = `bwbench:${process.pid}:`;
  const client = await redisClient();
  let redis: RedisSync | undefined;
  if (client) {
    redis = redisSync({ client, prefix, log: () => {} });
    await redis.ready();
  }
  const cluster = clusterSync({ log: () => {} });
  const cases: Array<[string, CircuitBreaker]> = [
    ['no sync', new CircuitBreaker({ name: 'none' })],
    ['clusterSync, transitions', new CircuitBreaker({ name: 'ct', sync: cluster })],
    [
      'clusterSync, outcomes',
      new CircuitBreaker({ name: 'co', sync: cluster, syncMode: 'outcomes' }),
    ],
  ];
  if (redis) {
    cases.push(['redisSync, transitions', new CircuitBreaker({ name: 'rt', sync: redis })]);
    cases.push([
      'redisSync, outcomes',
      new CircuitBreaker({ name: 'ro', sync: redis, syncMode: 'outcomes' }),
    ]);
  }
  // Many short rounds, every case once per round in rotating order; each case is compared with
  // no sync in the same round, so load that comes and goes on a shared machine hits both.
  const rounds = quick ? 6 : 15;
  const means = new Map<string, number[]>(cases.map(([label]) => [label, []]));
  const ratios = new Map<string, number[]>(cases.map(([label]) => [label, []]));
  for (let round = 0; round < rounds; round++) {
    const shift = round % cases.length;
    const order = [...cases.slice(shift), ...cases.slice(0, shift)];
    const inRound = new Map<string, number>();
    for (const [label, breaker] of order) {
      const stats = await measure(() => breaker.execute(work), options);
      inRound.set(label, stats.avg);
      means.get(label)!.push(stats.avg);
    }
    const none = inRound.get('no sync')!;
    for (const [label, mean] of inRound) ratios.get(label)!.push(mean / none);
  }
  for (const [label] of cases) {
    const row = {
      label,
      avgNs: middle(means.get(label)!),
      ratio: middle(ratios.get(label)!),
      rounds,
    };
    log(
      `  sync cost ${label.padEnd(28)} ${row.avgNs.toFixed(0).padStart(6)} ns ${row.ratio.toFixed(2)}×`,
    );
    rows.push(row);
  }
  for (const [, breaker] of cases) breaker.dispose();
  if (client) {
    await redis?.close();
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*` })) {
      if (keys.length > 0) await client.del(keys);
    }
    client.destroy();
  }
  return rows;
}

const setupFor = (name: string, extra: Partial<InstanceSetup> = {}): InstanceSetup => ({
  policy: { kind: 'consecutive', failures: 5 },
  openDuration: 60_000,
  shared: true,
  name,
  ...extra,
});

async function setupAll(instances: InstanceHandle[], setup: InstanceSetup): Promise<void> {
  await Promise.all(instances.map((i) => i.ask({ cmd: 'setup', setup }, 'ready', STARTUP_MS)));
}

async function opened(instances: InstanceHandle[], marks: number[]): Promise<number[]> {
  const reports = await Promise.all(
    instances.map((i, k) => i.next('state', (r) => r.to === 'open', 5_000, marks[k])),
  );
  return reports.map((r) => r.at);
}

/** `rounds` trips, each by another instance of a fresh breaker; the others' delays. */
async function propagation(
  fleet: Fleet,
  transport: string,
  rounds: number,
): Promise<PropagationRow> {
  const delays: number[] = [];
  const { instances } = fleet;
  for (let round = 0; round < rounds; round++) {
    await setupAll(instances, setupFor(`propagation-${round}`));
    const marks = instances.map((i) => i.reports.length);
    const tripper = round % instances.length;
    instances[tripper]!.send({ cmd: 'fail', count: 5 });
    const times = await opened(instances, marks);
    for (let k = 0; k < times.length; k++) {
      if (k !== tripper) delays.push(times[k]! - times[tripper]!);
    }
  }
  delays.sort((a, b) => a - b);
  const at = (q: number) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))]!;
  return { transport, samples: delays.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1) };
}

/**
 * One outage under steady load (one call per 10 ms per instance): the dependency goes down for
 * everyone; then, after the open duration, it is back and every instance keeps calling.
 */
async function outage(fleet: Fleet, label: string, setup: InstanceSetup): Promise<OutageRow> {
  const { instances } = fleet;
  await setupAll(instances, setup);
  const marks = instances.map((i) => i.reports.length);
  const first = instances.map((i) =>
    i.ask({ cmd: 'load', intervalMs: 10, count: 40 }, 'load-done', 20_000),
  );
  await new Promise((resolve) => setTimeout(resolve, 100));
  for (const i of instances) i.send({ cmd: 'dependency', up: false });
  await opened(instances, marks);
  const down = await Promise.all(first);
  for (const i of instances) i.send({ cmd: 'dependency', up: true });
  await new Promise((resolve) => setTimeout(resolve, setup.openDuration + 20));
  const recovery = await Promise.all(
    instances.map((i) => i.ask({ cmd: 'load', intervalMs: 10, count: 30 }, 'load-done', 20_000)),
  );
  return {
    label,
    doomed: down.reduce((sum, r) => sum + r.doomed, 0),
    trials: recovery.reduce((sum, r) => sum + r.trials, 0),
  };
}

export async function runSyncBench(
  quick: boolean,
  log: (line: string) => void,
): Promise<SyncBenchResults> {
  log('bench: sync (cost per call, propagation, outages)');
  const cost = await runCost(quick, log);
  const rounds = quick ? 8 : 25;
  const probe = await redisClient();
  probe?.destroy();
  const propagationRows: PropagationRow[] = [];
  const outages: OutageRow[] = [];
  if (probe) {
    const prefix = `bwbench:${process.pid}:fleet:`;
    const fleet = await startProcesses(REDIS_INSTANCE, 4, { REDIS_URL, SYNC_PREFIX: prefix });
    try {
      propagationRows.push(await propagation(fleet, 'Redis (4 processes)', rounds));
      log(`  propagation via Redis: ${JSON.stringify(propagationRows.at(-1))}`);
      const outageSetup = (shared: boolean, mode: 'transitions' | 'outcomes', name: string) =>
        setupFor(name, { shared, syncMode: mode, openDuration: 300 });
      outages.push(await outage(fleet, 'no sync', outageSetup(false, 'transitions', 'o-none')));
      outages.push(
        await outage(fleet, 'redisSync, transitions', outageSetup(true, 'transitions', 'o-t')),
      );
      outages.push(
        await outage(fleet, 'redisSync, outcomes', outageSetup(true, 'outcomes', 'o-o')),
      );
      log(`  outages: ${JSON.stringify(outages)}`);
    } finally {
      await fleet.stop();
      const client = await redisClient();
      if (client) {
        for await (const keys of client.scanIterator({ MATCH: `${prefix}*` })) {
          if (keys.length > 0) await client.del(keys);
        }
        client.destroy();
      }
    }
  } else {
    log(`  Redis at ${REDIS_URL} unreachable: the Redis rows are left out`);
  }
  const cluster = await startClusterWorkers(4);
  try {
    propagationRows.push(await propagation(cluster, 'node:cluster IPC (4 workers)', rounds));
    log(`  propagation via cluster IPC: ${JSON.stringify(propagationRows.at(-1))}`);
    outages.push(
      await outage(cluster, 'clusterSync, transitions', setupFor('o-c', { openDuration: 300 })),
    );
  } finally {
    await cluster.stop();
  }
  return { redis: probe !== undefined, cost, propagation: propagationRows, outages };
}
