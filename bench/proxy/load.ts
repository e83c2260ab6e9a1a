/**
 * The load generator: wrk when it is installed (a C client that needs far less CPU than the
 * proxies it measures), autocannon otherwise. Both report the same fields here.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { which } from '../lib/machine.ts';

const require = createRequire(import.meta.url);

/** One load run. */
export interface LoadResult {
  readonly tool: 'wrk' | 'autocannon';
  readonly durationSeconds: number;
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
  /** Responses outside 2xx/3xx. */
  readonly non2xx: number;
  /** Connect, read, write and timeout errors: requests that got no response at all. */
  readonly socketErrors: number;
}

/** How hard and how long to push. */
export interface LoadOptions {
  readonly durationSeconds: number;
  readonly connections: number;
  /** wrk threads; 1 leaves the second core of a small machine to the proxy and its upstream. */
  readonly threads: number;
  /** Extra request headers (`Connection: close` makes every request a new connection). */
  readonly headers?: readonly string[];
}

/** The load generator this machine has. */
export function loadTool(): 'wrk' | 'autocannon' {
  return which('wrk') === undefined ? 'autocannon' : 'wrk';
}

/** Runs one load test against `url` and parses the generator's report. */
export async function runLoad(url: string, options: LoadOptions): Promise<LoadResult> {
  return loadTool() === 'wrk' ? runWrk(url, options) : runAutocannon(url, options);
}

/** Load-generator children are registered here so an interrupted suite stops them too. */
let tracker: ((name: string, child: ChildProcess) => void) | undefined;

/** Registers where to report load-generator processes (see ProcessGroup.track). */
export function trackLoadGenerators(track: (name: string, child: ChildProcess) => void): void {
  tracker = track;
}

function run(command: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${command} failed: ${error.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
    tracker?.(command, child);
  });
}

async function runWrk(url: string, options: LoadOptions): Promise<LoadResult> {
  const output = await run(
    'wrk',
    [
      `-t${options.threads}`,
      `-c${options.connections}`,
      `-d${options.durationSeconds}s`,
      '--timeout',
      '5s',
      '--latency',
      ...(options.headers ?? []).flatMap((header) => ['-H', header]),
      url,
    ],
    (options.durationSeconds + 20) * 1_000,
  );
  return parseWrk(output, options.durationSeconds);
}

/** Parses wrk's text report (`--latency` adds the percentile lines). */
export function parseWrk(output: string, durationSeconds: number): LoadResult {
  const requests = Number(/(\d+) requests in ([\d.]+)(\w+)/.exec(output)?.[1] ?? Number.NaN);
  const requestsPerSecond = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? Number.NaN);
  const percentile = (label: string): number | undefined => {
    const match = new RegExp(`^\\s+${label}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(output);
    if (match?.[1] === undefined) return undefined;
    const value = Number(match[1]);
    const unit = match[2];
    return unit === 'us' ? value / 1_000 : unit === 's' ? value * 1_000 : value;
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    output,
  );
  const socketErrors = socket ? socket.slice(1).reduce((sum, value) => sum + Number(value), 0) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  if (!Number.isFinite(requestsPerSecond)) {
    throw new Error(`could not parse wrk output:\n${output}`);
  }
  return {
    tool: 'wrk',
    durationSeconds,
    requests,
    requestsPerSecond,
    p50Ms: percentile('50'),
    p99Ms: percentile('99'),
    non2xx,
    socketErrors,
  };
}

async function runAutocannon(url: string, options: LoadOptions): Promise<LoadResult> {
  const entry = join(dirname(require.resolve('autocannon/package.json')), 'autocannon.js');
  const output = await run(
    process.execPath,
    [
      entry,
      '--connections',
      String(options.connections),
      '--duration',
      String(options.durationSeconds),
      '--timeout',
      '5',
      '--json',
      ...(options.headers ?? []).flatMap((header) => ['--headers', header]),
      url,
    ],
    (options.durationSeconds + 30) * 1_000,
  );
  const report = JSON.parse(output) as {
    requests: { average: number; total: number };
    latency: { p50: number; p99: number };
    non2xx: number;
    errors: number;
    timeouts: number;
  };
  return {
    tool: 'autocannon',
    durationSeconds: options.durationSeconds,
    requests: report.requests.total,
    requestsPerSecond: report.requests.average,
    p50Ms: report.latency.p50,
    p99Ms: report.latency.p99,
    non2xx: report.non2xx,
    socketErrors: report.errors + report.timeouts,
  };
}
