/**
 * One command for every benchmark:
 *
 *   node --conditions=@breakwater/source bench/run.ts all     core + proxy, then rewrite bench/LATEST.md
 *   node --conditions=@breakwater/source bench/run.ts core    breaker and policy costs (mitata)
 *   node --conditions=@breakwater/source bench/run.ts proxy   proxy throughput and behaviour under failure
 *   node --conditions=@breakwater/source bench/run.ts tls     TLS and HTTP/2 beside nginx (also part of proxy)
 *
 * Proxy options: --duration 5 --warmup 1 --rounds 2 --connections 50 --threads 1
 * --only breakwater,minimal (or --only cores: Breakwater, nginx and HAProxy at 1 and 2 workers) --no-failures --no-healthy --scenarios refuse,slow,overload,balancers
 * --sweep least-request,peak-ewma (the balancers the sweep runs) --slow-delay 200 --profile (V8 CPU profiles of the Node proxies into bench/results/profiles/)
 * --fixed-rate 2000 (req/s of the many-cores fixed-rate runs)
 * --baseline DIR (another checkout's proxy side by side).
 * Core options: --quick (shorter sampling, for a smoke run).
 *
 * The core suite runs in a child process with --expose-gc so heap deltas are measured after a
 * full collection.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { machineInfo } from './lib/machine.ts';
import { benchDirectory, resultsDirectory } from './lib/results.ts';
import { runProxySuite } from './proxy/proxy-suite.ts';
import { runTlsSuite } from './proxy/tls-suite.ts';

function positiveNumber(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(`--${name} expects a non-negative number, received ${JSON.stringify(text)}`);
  }
  return value;
}

const knownScenarios = ['refuse', 'slow', 'overload', 'balancers'];

function scenarioList(text: string | undefined): string[] {
  if (text === undefined) return ['refuse', 'slow', 'overload'];
  const scenarios = text.split(',').map((name) => name.trim());
  for (const name of scenarios) {
    if (!knownScenarios.includes(name)) {
      throw new Error(
        `--scenarios: unknown ${JSON.stringify(name)}; expected ${knownScenarios.join(', ')}`,
      );
    }
  }
  return scenarios;
}

async function runCore(quick: boolean): Promise<string> {
  const args = [
    '--conditions=@breakwater/source',
    '--expose-gc',
    join(benchDirectory, 'core', 'core-suite.ts'),
  ];
  if (quick) args.push('--quick');
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit' });
    const forward = (): void => {
      child.kill('SIGTERM');
    };
    process.once('SIGINT', forward);
    child.once('error', reject);
    child.once('exit', (exitCode) => {
      process.off('SIGINT', forward);
      resolve(exitCode);
    });
  });
  if (code !== 0) throw new Error(`the core suite exited with ${code}`);
  return readFileSync(join(resultsDirectory, 'core-latest.md'), 'utf8').trimEnd();
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      connections: { type: 'string' },
      threads: { type: 'string' },
      only: { type: 'string' },
      'no-failures': { type: 'boolean', default: false },
      'no-healthy': { type: 'boolean', default: false },
      scenarios: { type: 'string' },
      sweep: { type: 'string' },
      'slow-delay': { type: 'string' },
      quick: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      baseline: { type: 'string' },
      'fixed-rate': { type: 'string' },
    },
  });
  const suite = positionals[0] ?? 'all';
  if (!['all', 'core', 'proxy', 'tls'].includes(suite)) {
    throw new Error(`unknown suite ${JSON.stringify(suite)}: expected all, core, proxy or tls`);
  }
  const sections: string[] = [];
  if (suite === 'all' || suite === 'core') {
    sections.push(await runCore(values.quick));
  }
  if (suite === 'all' || suite === 'proxy') {
    const result = await runProxySuite({
      durationSeconds: positiveNumber(values.duration, 5, 'duration'),
      warmupSeconds: positiveNumber(values.warmup, 1, 'warmup'),
      rounds: Math.max(1, Math.round(positiveNumber(values.rounds, 2, 'rounds'))),
      connections: Math.max(1, Math.round(positiveNumber(values.connections, 50, 'connections'))),
      threads: Math.max(1, Math.round(positiveNumber(values.threads, 1, 'threads'))),
      only: values.only === undefined ? [] : values.only.split(',').map((id) => id.trim()),
      skipFailures: values['no-failures'],
      skipHealthy: values['no-healthy'],
      scenarios: scenarioList(values.scenarios),
      sweep: values.sweep === undefined ? [] : values.sweep.split(',').map((name) => name.trim()),
      slowDelayMs: positiveNumber(values['slow-delay'], 200, 'slow-delay'),
      profile: values.profile,
      ...(values['fixed-rate'] === undefined
        ? {}
        : { fixedRate: positiveNumber(values['fixed-rate'], 2_000, 'fixed-rate') }),
      ...(values.baseline === undefined ? {} : { baseline: values.baseline }),
    });
    process.stdout.write(`\n${result.markdown}\n`);
    sections.push(result.markdown);
  }
  if (suite === 'all' || suite === 'proxy' || suite === 'tls') {
    const result = await runTlsSuite({
      durationSeconds: positiveNumber(values.duration, 5, 'duration'),
      warmupSeconds: positiveNumber(values.warmup, 1, 'warmup'),
      connections: Math.max(1, Math.round(positiveNumber(values.connections, 50, 'connections'))),
      threads: Math.max(1, Math.round(positiveNumber(values.threads, 1, 'threads'))),
    });
    process.stdout.write(`\n${result.markdown}\n`);
    sections.push(result.markdown);
  }
  if (suite === 'all') {
    const finished = machineInfo();
    const latest = [
      '# Latest benchmark results',
      '',
      `Written by \`npm run bench\`, finished ${finished.date.slice(0, 16).replace('T', ' ')} UTC; ` +
        `load average at the end ${finished.loadAverage.join(' / ')} (each section gives it at its start).`,
      'See bench/README.md for what each row means and how to run them.',
      '',
      ...sections.flatMap((section) => [section, '']),
    ].join('\n');
    writeFileSync(join(benchDirectory, 'LATEST.md'), latest);
    process.stderr.write('bench: wrote bench/LATEST.md\n');
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
