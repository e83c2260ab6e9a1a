/**
 * The soak: a steady stream of GETs through the proxy to three targets for N minutes while one
 * target after another is killed (SIGKILL, mid-request) and restarted on a schedule. Every GET
 * must succeed (the proxy retries idempotent requests on another target), and the proxy's RSS
 * and open file descriptors must stay flat after a warm-up. Samples every 5 s.
 */
import { Agent, request } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { type ProcessGroup, residentBytes } from '../lib/processes.ts';
import { openDescriptors, startProxyProcess, startTargets } from './processes-under-test.ts';

/** Options of {@link runSoak}. */
export interface SoakOptions {
  readonly minutes: number;
  /** Seconds between two kills. */
  readonly killEverySeconds: number;
  /** Seconds a killed target stays down. */
  readonly downSeconds: number;
  /** Concurrent request loops. */
  readonly concurrency: number;
  readonly proxyConfig: string;
}

/** One sample of the proxy process. */
export interface SoakSample {
  readonly atSeconds: number;
  readonly requests: number;
  readonly failed: number;
  readonly rssBytes: number | undefined;
  readonly descriptors: number | undefined;
}

/** What the soak saw. */
export interface SoakResult {
  readonly minutes: number;
  readonly kills: number;
  readonly requests: number;
  readonly failed: number;
  /** The first few failures, to say what went wrong. */
  readonly failures: readonly string[];
  readonly samples: readonly SoakSample[];
  /** Seconds after which samples count as warmed up. */
  readonly warmupSeconds: number;
}

function get(agent: Agent, url: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { agent, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? undefined : `status ${res.statusCode}`));
      res.on('error', (error) => resolve(error.message));
    });
    req.on('timeout', () => req.destroy(new Error('timeout after 10 s')));
    req.on('error', (error) => resolve(error.message));
    req.end();
  });
}

export async function runSoak(
  group: ProcessGroup,
  directory: string,
  o: SoakOptions,
): Promise<SoakResult> {
  const targets = await startTargets(group, directory, 3, 1_024);
  const proxy = await startProxyProcess(group, directory, targets, o.proxyConfig);
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  const durationMs = o.minutes * 60_000;
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  let requests = 0;
  let failed = 0;
  let kills = 0;
  const failures: string[] = [];
  const samples: SoakSample[] = [];
  const running = () => elapsed() < durationMs && !group.interrupted;
  try {
    const loops = Array.from({ length: o.concurrency }, async () => {
      while (running()) {
        const problem = await get(agent, `${proxy.url}/hello`);
        requests++;
        if (problem !== undefined) {
          failed++;
          if (failures.length < 10) failures.push(`${(elapsed() / 1000).toFixed(1)} s: ${problem}`);
        }
      }
    });
    const chaos = (async () => {
      let next = 0;
      while (running()) {
        await delay(o.killEverySeconds * 1_000);
        if (!running()) break;
        const victim = targets[next++ % targets.length]!;
        await victim.kill();
        kills++;
        await delay(o.downSeconds * 1_000);
        await victim.start();
      }
    })();
    const sampling = (async () => {
      while (running()) {
        samples.push({
          atSeconds: Math.round(elapsed() / 1000),
          requests,
          failed,
          rssBytes: residentBytes(proxy.process.pid),
          descriptors: openDescriptors(proxy.process.pid),
        });
        await delay(5_000);
      }
    })();
    await Promise.all([...loops, chaos, sampling]);
  } finally {
    agent.destroy();
    await group.stop(proxy.process);
    for (const target of targets) await target.stop();
  }
  return {
    minutes: o.minutes,
    kills,
    requests,
    failed,
    failures,
    samples,
    warmupSeconds: Math.min(60, Math.round((o.minutes * 60) / 5)),
  };
}
