/**
 * `npm run reliability`: the long, bounded, loopback-only checks that do not belong in
 * `npm test`. Prints markdown tables and writes them (and the JSON) under bench/results/.
 *
 *   npm run reliability                      slow clients (60 s each), then a 10-minute soak
 *   npm run reliability -- slow              slowloris, slow body and slow read only
 *   npm run reliability -- slow --only "slow read" --connections 400 --seconds 60
 *   npm run reliability -- soak --minutes 2  a shorter soak
 *
 * Options: --connections N (slow clients, default 400), --seconds N (per attack, default 60),
 * --response-size BYTES (what slow readers ask for, default 1048576), --minutes N (soak, default
 * 10), --kill-every S (default 20), --down S (default 5), --concurrency N (soak request loops,
 * default 8), --proxy-config FILE (YAML appended to the proxy's config, to try limits),
 * --subject nginx (the slow-client attacks against nginx in front of the same target instead),
 * --network veth (the attackers connect from a network namespace over a 1500-byte-MTU veth pair,
 * as from another host; needs root), --warm-up-responses N (large responses read at full speed
 * before the proxy's start RSS is taken, default 5).
 *
 * The slow-client attacks need Debian's slowhttptest; without it they are skipped with a line
 * saying how to install it (the soak still runs).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeMachine, machineInfo, which } from '../lib/machine.ts';
import { formatCount, formatMilliseconds, markdownTable } from '../lib/markdown.ts';
import { ProcessGroup } from '../lib/processes.ts';
import { writeResults } from '../lib/results.ts';
import { percentile } from './probe.ts';
import {
  type AttackKind,
  type AttackResult,
  runSlowClients,
  SLOWHTTPTEST_MISSING,
} from './slow-clients.ts';
import { runSoak, type SoakResult } from './soak.ts';

const ATTACKS: readonly AttackKind[] = ['slowloris', 'slow body', 'slow read'];

function number(name: string, text: string | undefined, fallback: number, min = 1): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min) {
    throw new Error(`--${name} expects a number >= ${min}, received ${JSON.stringify(text)}`);
  }
  return value;
}

function megabytes(bytes: number | undefined): string {
  return bytes === undefined ? 'n/a' : `${(bytes / 2 ** 20).toFixed(0)} MB`;
}

function slowClientTable(results: readonly AttackResult[]): string {
  return markdownTable(
    [
      'attack',
      'attackers',
      'probe p50',
      'probe p95',
      'probe max',
      'probe errors',
      'upstream conns (peak)',
      'proxy RSS start → peak',
      'TCP memory peak (machine)',
      'proxy fds peak / at end',
      'attackers connected: peak / at end (closed), as slowhttptest sees it',
    ],
    results.map((r) => [
      r.attack,
      r.connections === 0 ? '–' : `${r.connections} × ${r.seconds} s`,
      formatMilliseconds(percentile(r.probe.latencies, 50)),
      formatMilliseconds(percentile(r.probe.latencies, 95)),
      formatMilliseconds(r.probe.latencies.at(-1)),
      `${r.probe.errors} / ${r.probe.sent}`,
      formatCount(r.upstreamConnectionsPeak),
      `${megabytes(r.rssStartBytes)} → ${megabytes(r.rssPeakBytes)}`,
      megabytes(r.tcpMemoryPeakBytes),
      r.descriptors === undefined ? 'n/a' : `${r.descriptors.peak} / ${r.descriptors.atEnd}`,
      r.attackers === undefined
        ? '–'
        : `${r.attackers.peak} / ${r.attackers.atEnd} (${r.attackers.closed})`,
    ]),
  );
}

function soakTables(soak: SoakResult): string {
  const warm = soak.samples.filter((s) => s.atSeconds >= soak.warmupSeconds);
  const first = warm[0];
  const last = warm.at(-1);
  const range = (pick: (s: (typeof warm)[number]) => number | undefined) => {
    const values = warm.map(pick).filter((v): v is number => v !== undefined);
    return values.length === 0 ? undefined : { min: Math.min(...values), max: Math.max(...values) };
  };
  const rss = range((s) => s.rssBytes);
  const fds = range((s) => s.descriptors);
  const summary = markdownTable(
    [
      'minutes',
      'target kills',
      'GETs',
      'failed',
      `RSS after ${soak.warmupSeconds} s → end (min–max)`,
      'open fds after warm-up → end (min–max)',
    ],
    [
      [
        String(soak.minutes),
        String(soak.kills),
        formatCount(soak.requests),
        formatCount(soak.failed),
        `${megabytes(first?.rssBytes)} → ${megabytes(last?.rssBytes)} (${megabytes(rss?.min)}–${megabytes(rss?.max)})`,
        `${first?.descriptors ?? 'n/a'} → ${last?.descriptors ?? 'n/a'} (${fds?.min ?? 'n/a'}–${fds?.max ?? 'n/a'})`,
      ],
    ],
  );
  // One row a minute (and the last), so a slow climb shows.
  const timeline = markdownTable(
    ['at', 'GETs', 'failed', 'RSS', 'open fds'],
    soak.samples
      .filter((s, i, all) => s.atSeconds % 60 < 5 || i === all.length - 1)
      .map((s) => [
        `${s.atSeconds} s`,
        formatCount(s.requests),
        formatCount(s.failed),
        megabytes(s.rssBytes),
        String(s.descriptors ?? 'n/a'),
      ]),
  );
  const failures =
    soak.failures.length === 0
      ? ''
      : `\n\nFirst failures:\n${soak.failures.map((f) => `- ${f}`).join('\n')}`;
  return `${summary}\n\n${timeline}${failures}`;
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      connections: { type: 'string' },
      seconds: { type: 'string' },
      'response-size': { type: 'string' },
      only: { type: 'string' },
      minutes: { type: 'string' },
      'kill-every': { type: 'string' },
      down: { type: 'string' },
      concurrency: { type: 'string' },
      'proxy-config': { type: 'string' },
      subject: { type: 'string' },
      network: { type: 'string' },
      'warm-up-responses': { type: 'string' },
    },
  });
  const part = positionals[0] ?? 'all';
  if (!['all', 'slow', 'soak'].includes(part)) {
    throw new Error(`unknown part ${JSON.stringify(part)}: expected all, slow or soak`);
  }
  const only = values.only?.split(',').map((name) => name.trim());
  const unknown = only?.filter((name) => !ATTACKS.includes(name as AttackKind));
  if (unknown !== undefined && unknown.length > 0) {
    throw new Error(
      `--only: unknown attack ${unknown.join(', ')} (expected ${ATTACKS.join(', ')})`,
    );
  }
  const subject = values.subject ?? 'breakwater';
  if (subject !== 'breakwater' && subject !== 'nginx') {
    throw new Error(`--subject: expected breakwater or nginx, received ${JSON.stringify(subject)}`);
  }
  if (subject === 'nginx' && part !== 'slow') {
    throw new Error('--subject nginx applies to the slow-client attacks: run `slow`');
  }
  const network = values.network ?? 'loopback';
  if (network !== 'loopback' && network !== 'veth') {
    throw new Error(`--network: expected loopback or veth, received ${JSON.stringify(network)}`);
  }
  const proxyConfig =
    values['proxy-config'] === undefined ? '' : readFileSync(values['proxy-config'], 'utf8');
  const group = new ProcessGroup();
  const directory = mkdtempSync(join(tmpdir(), 'breakwater-reliability-'));
  const sections = [`# Reliability\n\n${describeMachine(machineInfo())}`];
  const data: Record<string, unknown> = {};
  let missingTool = false;
  try {
    if (part === 'all' || part === 'slow') {
      if (which('slowhttptest') === undefined) {
        missingTool = true;
        process.stderr.write(`reliability: ${SLOWHTTPTEST_MISSING}\n`);
        sections.push(`## Slow clients\n\nSkipped: ${SLOWHTTPTEST_MISSING}`);
      } else {
        const results = await runSlowClients(
          group,
          directory,
          (only as AttackKind[] | undefined) ?? ATTACKS,
          {
            connections: number('connections', values.connections, 400),
            seconds: number('seconds', values.seconds, 60),
            responseBytes: number('response-size', values['response-size'], 1_048_576),
            proxyConfig,
            subject,
            network,
            warmUpResponses: number('warm-up-responses', values['warm-up-responses'], 5, 0),
          },
        );
        data.slowClients = results;
        sections.push(
          `## Slow clients (slowhttptest), against ${subject}, attackers over ${network === 'veth' ? 'a veth pair (MTU 1500) from a network namespace' : 'loopback'}\n\nA probe sends one GET every 100 ms on a new connection (over loopback) throughout; "upstream conns" counts the connections the proxy held to its target.\n\n${slowClientTable(results)}`,
        );
      }
    }
    if ((part === 'all' || part === 'soak') && !group.interrupted) {
      const minutes = number('minutes', values.minutes, 10, 0.1);
      process.stderr.write(`reliability: soak, ${minutes} min\n`);
      const soak = await runSoak(group, directory, {
        minutes,
        killEverySeconds: number('kill-every', values['kill-every'], 20),
        downSeconds: number('down', values.down, 5),
        concurrency: number('concurrency', values.concurrency, 8),
        proxyConfig,
      });
      data.soak = soak;
      sections.push(
        `## Soak: ${soak.minutes} min, a target killed every ${values['kill-every'] ?? 20} s\n\n${soakTables(soak)}`,
      );
    }
  } finally {
    await group.stopAll();
    rmSync(directory, { recursive: true, force: true });
  }
  const markdown = sections.join('\n\n');
  process.stdout.write(`${markdown}\n`);
  writeResults('reliability', data, markdown);
  if (missingTool && part === 'slow') process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`reliability: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
