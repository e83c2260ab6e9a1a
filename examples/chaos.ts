/**
 * `npm run chaos`: three upstreams behind the proxy (health checks, outlier detection and
 * retries on), a steady stream of concurrent GETs, and one upstream killed — server closed, its
 * sockets cut — then restarted on the same port. Prints how many requests were sent, failed and
 * retried, how long the proxy took to eject the dead target and to take it back.
 *
 * Loopback only, bounded (about 15 s, hard stop at 60 s). Exits 1 when any client request
 * failed or the target never came back.
 *
 * Set CHAOS_LOG=warn (or info) to see the proxy's log lines on stderr.
 */
import { once } from 'node:events';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { loadConfig, type RunningProxy, startProxy } from '@breakwater/proxy';
import { pino } from 'pino';

const WORKERS = 12;
// Each worker waits this long between requests: a steady load, not a benchmark.
const PAUSE_MS = 5;
const WARM_UP_MS = 3_000;
const DOWN_MS = 5_000;
const RECOVERY_LIMIT_MS = 10_000;
const AFTER_RECOVERY_MS = 1_500;
const HARD_STOP_MS = 60_000;

/** One upstream that can be killed and started again on its port. */
class ChaosUpstream {
  readonly name: string;
  port = 0;
  /** Proxied requests served (health checks not counted). */
  served = 0;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  constructor(name: string) {
    this.name = name;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      if (req.url === '/healthz') {
        res.end('ok');
        return;
      }
      this.served++;
      res.end(this.name);
    });
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** A crash, as the proxy sees it: the listener goes and every connection is cut. */
  async kill(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }
}

function config(upstreams: readonly ChaosUpstream[]): string {
  return `
listen: 127.0.0.1:0
log: { access: false }
upstreams:
  app:
    balance: round-robin
    targets:
${upstreams.map((upstream) => `      - url: ${upstream.url}`).join('\n')}
    healthCheck:
      type: http
      path: /healthz
      interval: 250ms
      jitter: 10%
      timeout: 200ms
      healthyThreshold: 2
      unhealthyThreshold: 2
    outlierDetection:
      policy: { consecutiveFailures: 3 }
      failOn: [connect-error, timeout, 5xx]
      ejection: { base: 1s, max: 5s }
      maxEjectedPercent: 50
    retry:
      attempts: 3
      on: [connect-error, reset, 502, 503, 504]
      methods: [GET, HEAD]
      perTryTimeout: 1s
      backoff: { initial: 10ms, max: 50ms }
      budget: { ratio: 0.2, minPerSecond: 50 }
routes:
  - upstream: app
`;
}

interface LoadStats {
  sent: number;
  ok: number;
  failed: number;
  readonly failures: Map<string, number>;
}

function get(agent: Agent, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.setTimeout(5_000, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Closed-loop workers sending GETs until `running()` turns false. */
async function load(url: string, stats: LoadStats, running: () => boolean): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: WORKERS });
  const worker = async () => {
    while (running()) {
      stats.sent++;
      let outcome: string;
      try {
        const status = await get(agent, `${url}/work`);
        outcome = status === 200 ? 'ok' : `HTTP ${status}`;
      } catch (error) {
        outcome = error instanceof Error ? error.message : String(error);
      }
      if (outcome === 'ok') stats.ok++;
      else {
        stats.failed++;
        stats.failures.set(outcome, (stats.failures.get(outcome) ?? 0) + 1);
      }
      await sleep(PAUSE_MS);
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
  agent.destroy();
}

/**
 * Polls until `condition` holds and resolves with the ms elapsed since `since` (a
 * `performance.now()` reading); `undefined` when `limitMs` passes first.
 */
async function timeUntil(
  condition: () => boolean,
  since: number,
  limitMs: number,
): Promise<number | undefined> {
  while (!condition()) {
    if (performance.now() - since > limitMs) return undefined;
    await sleep(5);
  }
  return performance.now() - since;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function retriesCounted(proxy: RunningProxy): Promise<number> {
  const metric = proxy.metrics.registry.getSingleMetric('breakwater_retries_total');
  if (metric === undefined) return Number.NaN;
  const { values } = await metric.get();
  return values.reduce((sum, sample) => sum + sample.value, 0);
}

function ms(value: number | undefined): string {
  return value === undefined ? 'never' : `${Math.round(value)} ms`;
}

async function main(): Promise<number> {
  const upstreams = ['a', 'b', 'c'].map((name) => new ChaosUpstream(name));
  for (const upstream of upstreams) await upstream.start();
  const victim = upstreams[1] as ChaosUpstream;
  const logLevel = process.env.CHAOS_LOG ?? 'silent';
  const proxy = await startProxy(loadConfig(config(upstreams)), {
    logger: pino({ level: logLevel }, pino.destination(2)),
  });
  const app = proxy.upstreams.get('app');
  const target = app?.targets[1];
  if (app === undefined || target === undefined) throw new Error('the proxy has no second target');
  // Eligible as the balancer sees it (the same answer as the admin API and the metric).
  const eligible = () => app.eligible().includes(target);
  const proxyUrl = `http://127.0.0.1:${proxy.proxyAddresses[0]?.port}`;

  const stats: LoadStats = { sent: 0, ok: 0, failed: 0, failures: new Map() };
  let running = true;
  const loadDone = load(proxyUrl, stats, () => running);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  let ejectMs: number | undefined;
  let recoverMs: number | undefined;
  let readmitMs: number | undefined;
  let servedBeforeKill = 0;
  try {
    say(`chaos: 3 upstreams, ${WORKERS} concurrent clients, proxy at ${proxyUrl}`);
    await sleep(WARM_UP_MS);
    say(
      `t=${WARM_UP_MS / 1000}s  killing ${victim.name} (${victim.url}) after ${stats.sent} requests`,
    );
    const killedAt = performance.now();
    await victim.kill();
    ejectMs = await timeUntil(() => !eligible(), killedAt, DOWN_MS);
    say(
      `        ${victim.name} out of rotation after ${ms(ejectMs)} (breaker ${target.breaker?.state ?? 'none'}, healthy=${target.healthy})`,
    );
    const downMs = await timeUntil(() => !target.healthy, killedAt, DOWN_MS);
    say(`        ${victim.name} marked down by active health checks after ${ms(downMs)}`);
    await sleep(Math.max(0, DOWN_MS - (performance.now() - killedAt)));
    const servedBefore = victim.served;
    const restartedAt = performance.now();
    await victim.start();
    say(`t=${(WARM_UP_MS + DOWN_MS) / 1000}s  restarted ${victim.name} on port ${victim.port}`);
    readmitMs = await timeUntil(() => eligible(), restartedAt, RECOVERY_LIMIT_MS);
    recoverMs = await timeUntil(() => victim.served > servedBefore, restartedAt, RECOVERY_LIMIT_MS);
    servedBeforeKill = servedBefore;
    say(
      `        ${victim.name} eligible again after ${ms(readmitMs)}, serving after ${ms(recoverMs)}`,
    );
    await sleep(AFTER_RECOVERY_MS);
  } finally {
    running = false;
    await loadDone;
    await proxy.close();
    for (const upstream of upstreams) await upstream.kill();
  }

  const retried = await retriesCounted(proxy);
  say('');
  say(`requests sent      ${stats.sent}`);
  say(`requests ok        ${stats.ok}`);
  say(`requests failed    ${stats.failed}`);
  for (const [reason, count] of stats.failures) say(`  ${count} × ${reason}`);
  say(`retried            ${Number.isNaN(retried) ? 'n/a (no retry metric)' : retried}`);
  say(`time to eject      ${ms(ejectMs)}  (kill → target out of rotation)`);
  say(`time to recover    ${ms(recoverMs)}  (restart → target serving proxied requests)`);
  say(
    `served per target  ${upstreams.map((upstream) => `${upstream.name}=${upstream.served}`).join(' ')}  (${victim.name} served ${servedBeforeKill} before the kill)`,
  );
  const passed = stats.failed === 0 && recoverMs !== undefined;
  say(passed ? 'PASS: no client request failed' : 'FAIL');
  return passed ? 0 : 1;
}

const hardStop = setTimeout(() => {
  process.stderr.write(`chaos: still running after ${HARD_STOP_MS / 1000} s; giving up\n`);
  process.exit(2);
}, HARD_STOP_MS);
hardStop.unref();

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : error}\n`);
    process.exitCode = 1;
  },
);
