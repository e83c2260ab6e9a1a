/**
 * An attacker on another host, made of a network namespace joined to this one by a veth pair with
 * an ordinary 1500-byte MTU. Over loopback (MTU 65536) every TCP segment can carry 64 KB, so the
 * kernel sizes a slow reader's send buffer for 64 KB segments and lets it grow to `tcp_wmem`'s
 * maximum (4 MB): 400 slow readers then hold the machine's TCP memory at `tcp_mem`'s pressure
 * mark, and every connection, the probe's too, is starved (nginx as much as Breakwater). Across a
 * real network a reader that opens a 64-byte window never grows its sender's congestion window,
 * and the send buffer stays near its initial size. This makes the attack cross such a link.
 *
 * Needs root and iproute2. The namespace is named after this process and removed at the end, on
 * an error and on Ctrl-C; only traffic between the two ends of the pair crosses it.
 */
import { execFileSync } from 'node:child_process';
import { which } from '../lib/machine.ts';
import type { ProcessGroup } from '../lib/processes.ts';

/** The attacker's side of the link. */
export interface AttackNetwork {
  /** The proxy listens here: this host's end of the pair. */
  readonly hostAddress: string;
  /** The command and arguments that run `command` inside the attacker's namespace. */
  inNamespace(command: string, args: readonly string[]): [string, string[]];
  /** Removes the namespace and the pair. */
  remove(): void;
}

/** Why the attack cannot cross a veth pair here, or undefined when it can. */
export function attackNetworkUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'a network namespace needs root';
  if (which('ip') === undefined) return 'ip (iproute2) is not installed';
  return undefined;
}

/** Makes the namespace and the pair (10.213.0.1 here, 10.213.0.2 in the namespace). */
export function createAttackNetwork(group: ProcessGroup): AttackNetwork {
  const unavailable = attackNetworkUnavailable();
  if (unavailable !== undefined) throw new Error(`--network veth: ${unavailable}`);
  const ip = which('ip')!;
  const name = `bw-attack-${process.pid}`;
  // Interface names are at most 15 bytes: a PID has at most 7 digits.
  const hostEnd = `bwa${process.pid}h`;
  const attackerEnd = `bwa${process.pid}n`;
  const hostAddress = '10.213.0.1';
  const run = (...args: string[]) => execFileSync(ip, args, { stdio: 'pipe' });
  const remove = () => {
    for (const args of [
      ['netns', 'del', name],
      ['link', 'del', hostEnd],
    ]) {
      try {
        run(...args);
      } catch {
        // already gone (deleting the namespace takes its end of the pair, and the pair with it)
      }
    }
  };
  group.addCleanup(remove);
  try {
    run('netns', 'add', name);
    run('link', 'add', hostEnd, 'mtu', '1500', 'type', 'veth', 'peer', 'name', attackerEnd);
    run('link', 'set', attackerEnd, 'netns', name);
    run('addr', 'add', `${hostAddress}/30`, 'dev', hostEnd);
    run('link', 'set', hostEnd, 'up');
    run('netns', 'exec', name, ip, 'addr', 'add', '10.213.0.2/30', 'dev', attackerEnd);
    run('netns', 'exec', name, ip, 'link', 'set', attackerEnd, 'mtu', '1500', 'up');
    run('netns', 'exec', name, ip, 'link', 'set', 'lo', 'up');
  } catch (error) {
    remove();
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`--network veth: could not make the attacker's namespace: ${stderr ?? error}`);
  }
  return {
    hostAddress,
    inNamespace: (command, args) => [ip, ['netns', 'exec', name, command, ...args]],
    remove,
  };
}
