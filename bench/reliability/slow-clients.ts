/**
 * Slow-client attacks with Debian's slowhttptest against the proxy, each on a fresh proxy and
 * target: slowloris (headers sent a few bytes at a time), slow body (a POST body trickled in) and
 * slow read (a large response read a few bytes at a time through a tiny receive window). Beside
 * each attack a probe of normal requests runs; the proxy's RSS and the number of connections it
 * holds to the target are sampled every second. An unloaded baseline comes first.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { which } from '../lib/machine.ts';
import { type ProcessGroup, residentBytes } from '../lib/processes.ts';
import { type AttackNetwork, createAttackNetwork } from './attack-network.ts';
import { type ProbeResult, startProbe } from './probe.ts';
import {
  openDescriptors,
  startNginxProcess,
  startProxyProcess,
  startTargets,
} from './processes-under-test.ts';

/** Printed when slowhttptest is missing. */
export const SLOWHTTPTEST_MISSING =
  'slowhttptest is not installed: on Debian/Ubuntu `sudo apt-get install slowhttptest`; elsewhere ' +
  'build it from https://github.com/shekyan/slowhttptest (then rerun `npm run reliability`).';

export type AttackKind = 'slowloris' | 'slow body' | 'slow read';

/** Options shared by the attacks. */
export interface SlowClientOptions {
  readonly connections: number;
  readonly seconds: number;
  /** Bytes of the response the slow readers ask for. */
  readonly responseBytes: number;
  /** Extra proxy config YAML (e.g. limits to try). */
  readonly proxyConfig: string;
  /** What is attacked: Breakwater, or nginx in front of the same target for comparison. */
  readonly subject: 'breakwater' | 'nginx';
  /**
   * Where the attackers connect from: over loopback, or from a network namespace across a veth
   * pair with a 1500-byte MTU, as from another host ({@link createAttackNetwork}).
   */
  readonly network: 'loopback' | 'veth';
  /** Large responses read at full speed before the start RSS is taken ({@link warmUp}). */
  readonly warmUpResponses: number;
}

/** One attack's numbers. */
export interface AttackResult {
  readonly attack: AttackKind | 'none (baseline)';
  readonly connections: number;
  readonly seconds: number;
  readonly probe: ProbeResult;
  /** Most connections the proxy held open to the target at once. */
  readonly upstreamConnectionsPeak: number;
  /** After a warm-up of ordinary requests ({@link warmUp}), so what serving at all costs is not the attack's. */
  readonly rssStartBytes: number | undefined;
  readonly rssPeakBytes: number | undefined;
  /** Open file descriptors of the proxy (client and upstream sockets): most, and at the end. */
  readonly descriptors: { peak: number; atEnd: number } | undefined;
  /**
   * Most memory the machine's TCP stack held at once (`/proc/net/sockstat`), mostly the send
   * buffers of attacked sockets: past `net.ipv4.tcp_mem`'s pressure mark every connection,
   * the probe's too, is starved.
   */
  readonly tcpMemoryPeakBytes: number | undefined;
  /** From slowhttptest's CSV: attackers connected at most, at the end, and closed in all. */
  readonly attackers: { peak: number; atEnd: number; closed: number } | undefined;
}

function slowhttptestArguments(kind: AttackKind, o: SlowClientOptions, url: string): string[] {
  const common = ['-c', String(o.connections), '-r', '200', '-l', String(o.seconds), '-p', '5'];
  switch (kind) {
    case 'slowloris':
      return ['-H', ...common, '-i', '5', '-x', '24', '-u', `${url}/hello`];
    case 'slow body':
      return ['-B', ...common, '-i', '5', '-x', '24', '-s', '65536', '-u', `${url}/echo`];
    case 'slow read':
      // A 16–64 byte window, 32 bytes read every 2 s: one slow reader takes hours per MiB.
      return [
        '-X',
        ...common,
        '-w',
        '16',
        '-y',
        '64',
        '-n',
        '2',
        '-z',
        '32',
        '-k',
        '3',
        '-u',
        `${url}/large`,
      ];
  }
}

/**
 * Ordinary traffic before the measured part: 50 small responses, then `largeResponses` large ones
 * read at full speed, 8 at a time. What serving at all costs a fresh process (compiled code, the
 * upstream pool, lazily loaded modules) then shows before the start, not as growth; with as many
 * large responses as the attack will ask for, so does the garbage the collector lets pile up
 * between collections (V8 frees read chunks' array buffers only when it collects, and external
 * memory alone triggers a collection only after 64 MB), as in a process that has been serving.
 */
async function warmUp(url: string, largeResponses: number): Promise<void> {
  for (let i = 0; i < 50; i++) await fetchAll(`${url}/hello`);
  let left = largeResponses;
  const loop = async () => {
    while (left-- > 0) await fetchAll(`${url}/large`);
  };
  await Promise.all(Array.from({ length: 8 }, loop));
}

async function fetchAll(url: string): Promise<void> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    await response.arrayBuffer();
  } catch {
    // A failed warm-up request shows in what the probe sees next.
  }
}

/** Pages of memory held by TCP sockets machine-wide, in bytes; undefined off Linux. */
function tcpMemoryBytes(): number | undefined {
  try {
    const match = /^TCP:.* mem (\d+)/m.exec(readFileSync('/proc/net/sockstat', 'utf8'));
    return match === null ? undefined : Number(match[1]) * 4096;
  } catch {
    return undefined;
  }
}

/** Reads slowhttptest's per-second CSV (Seconds,Closed,Pending,Connected,…). */
function attackerCounts(csvPath: string): AttackResult['attackers'] {
  let text: string;
  try {
    text = readFileSync(csvPath, 'utf8');
  } catch {
    return undefined;
  }
  const rows = text
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split(',').map(Number));
  if (rows.length === 0) return undefined;
  const last = rows[rows.length - 1]!;
  return {
    peak: Math.max(...rows.map((row) => row[3] ?? 0)),
    atEnd: last[3] ?? 0,
    closed: last[1] ?? 0,
  };
}

/**
 * Runs one attack (or, with `kind` undefined, `seconds` of the probe alone) on a fresh proxy and
 * target. The slowhttptest process is bounded by its own `-l` and by a hard stop 30 s later.
 */
async function runOne(
  group: ProcessGroup,
  directory: string,
  kind: AttackKind | undefined,
  o: SlowClientOptions,
  network: AttackNetwork | undefined,
): Promise<AttackResult> {
  const [target] = await startTargets(group, directory, 1, o.responseBytes);
  const host = network?.hostAddress ?? '127.0.0.1';
  const proxy =
    o.subject === 'nginx'
      ? await startNginxProcess(group, directory, [target!], host)
      : await startProxyProcess(group, directory, [target!], o.proxyConfig, host);
  try {
    await delay(500);
    await warmUp(proxy.url, o.warmUpResponses);
    await target!.stats(); // resets the peak
    const rssStartBytes = residentBytes(proxy.process.pid);
    let rssPeakBytes = rssStartBytes;
    let upstreamConnectionsPeak = 0;
    let descriptorsPeak = 0;
    let descriptorsAtEnd = 0;
    let tcpMemoryPeakBytes: number | undefined;
    const probe = startProbe(`${proxy.url}/hello`);
    const sampler = setInterval(async () => {
      const rss = residentBytes(proxy.process.pid);
      const fds = openDescriptors(proxy.process.pid);
      if (fds !== undefined) {
        descriptorsAtEnd = fds;
        descriptorsPeak = Math.max(descriptorsPeak, fds);
      }
      if (rss !== undefined && (rssPeakBytes === undefined || rss > rssPeakBytes))
        rssPeakBytes = rss;
      const tcp = tcpMemoryBytes();
      if (tcp !== undefined) tcpMemoryPeakBytes = Math.max(tcpMemoryPeakBytes ?? 0, tcp);
      const stats = await target!.stats();
      // The /__stats request itself is one connection, not the proxy's.
      if (stats !== undefined)
        upstreamConnectionsPeak = Math.max(upstreamConnectionsPeak, stats.peak - 1);
    }, 1_000);
    let attackers: AttackResult['attackers'];
    if (kind === undefined) {
      await delay(o.seconds * 1_000);
    } else {
      const prefix = join(directory, kind.replace(' ', '-'));
      const attack: [string, string[]] = [
        which('slowhttptest')!,
        [...slowhttptestArguments(kind, o, proxy.url), '-g', '-o', prefix],
      ];
      const [command, args] = network?.inNamespace(...attack) ?? attack;
      const child = spawn(command, args, { stdio: 'ignore' });
      group.track('slowhttptest', child);
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const hardStop = delay((o.seconds + 30) * 1_000, 'timeout');
      if ((await Promise.race([exited, hardStop])) === 'timeout') child.kill('SIGKILL');
      attackers = attackerCounts(`${prefix}.csv`);
    }
    clearInterval(sampler);
    return {
      attack: kind ?? 'none (baseline)',
      connections: kind === undefined ? 0 : o.connections,
      seconds: o.seconds,
      probe: await probe.stop(),
      upstreamConnectionsPeak,
      tcpMemoryPeakBytes,
      rssStartBytes,
      rssPeakBytes,
      descriptors:
        descriptorsPeak === 0 ? undefined : { peak: descriptorsPeak, atEnd: descriptorsAtEnd },
      attackers,
    };
  } finally {
    await group.stop(proxy.process);
    await target!.stop();
  }
}

/** The baseline, then each attack in turn. Throws {@link SLOWHTTPTEST_MISSING} without the tool. */
export async function runSlowClients(
  group: ProcessGroup,
  directory: string,
  attacks: readonly AttackKind[],
  options: SlowClientOptions,
): Promise<AttackResult[]> {
  if (which('slowhttptest') === undefined) throw new Error(SLOWHTTPTEST_MISSING);
  const network = options.network === 'veth' ? createAttackNetwork(group) : undefined;
  try {
    const results = [
      await runOne(group, directory, undefined, { ...options, seconds: 10 }, network),
    ];
    for (const kind of attacks) {
      if (group.interrupted) break;
      process.stderr.write(
        `reliability: ${kind}, ${options.connections} connections, ${options.seconds} s\n`,
      );
      results.push(await runOne(group, directory, kind, options, network));
    }
    return results;
  } finally {
    network?.remove();
  }
}
