/**
 * A `breakwater start` process with several workers, for the black-box cluster suites: starts it,
 * reads the primary's start line (listen and admin addresses, worker pids), talks to its admin
 * API, runs a bounded GET load through it, and stops it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { httpRequest, sendRequest } from './proxy-harness.ts';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

/** A running cluster CLI. */
export interface ClusterCli {
  readonly child: ChildProcess;
  readonly port: number;
  readonly admin: string;
  readonly output: () => string;
  /** GET `path` on the admin API, parsed. */
  adminGet<T>(path: string): Promise<T>;
  /** POST `path` on the admin API: the status and parsed body. */
  adminPost(path: string): Promise<{ status: number; body: unknown }>;
  /** SIGTERM, then waits for the exit (SIGKILL after 15 s). */
  stop(): Promise<void>;
}

/** Starts `breakwater start --config file` and resolves once the primary logs its start line. */
export async function startClusterCli(configFile: string): Promise<ClusterCli> {
  const child = spawn(
    process.execPath,
    ['--conditions=@breakwater/source', CLI, 'start', '--config', configFile],
    { env: { PATH: process.env.PATH ?? '' } },
  );
  let output = '';
  const started = await new Promise<{ port: number; admin: string }>((resolve, reject) => {
    // Three processes strip the types of the whole tree at once on a shared 2-core machine.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no start line: ${output}`));
    }, 40_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match =
        /"listen":\["127\.0\.0\.1:(\d+)"\],"admin":"(127\.0\.0\.1:\d+)","workers":\[/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve({ port: Number(match[1]), admin: `http://${match[2]}` });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`exited early: ${output}`));
    });
  });
  return {
    child,
    ...started,
    output: () => output,
    adminGet: async <T>(path: string) =>
      JSON.parse((await httpRequest(`${started.admin}${path}`)).body) as T,
    adminPost: async (path: string) => {
      const response = await httpRequest(`${started.admin}${path}`, { method: 'POST' });
      return { status: response.status, body: JSON.parse(response.body) as unknown };
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** What a bounded load run saw. */
export interface LoadResult {
  readonly ok: number;
  readonly failed: number;
  readonly errors: string[];
}

/**
 * GETs `url` from `concurrency` loops, each request on a fresh connection, until `stop()` is
 * called or `maxRequests` were sent. A request fails on a network error, after 3 s without an
 * answer, or on a status other than 200.
 */
export function steadyLoad(
  url: string,
  options: { concurrency: number; maxRequests: number },
): { readonly result: Promise<LoadResult>; stop(): void } {
  let stopped = false;
  let sent = 0;
  const result = { ok: 0, failed: 0, errors: [] as string[] };
  const loop = async () => {
    while (!stopped && sent < options.maxRequests) {
      sent++;
      try {
        // A connection the primary handed to a worker that was just killed is never answered:
        // bounded, it counts as one of that worker's lost requests.
        const response = await sendRequest(url, {
          method: 'GET',
          agent: false,
          signal: AbortSignal.timeout(3_000),
        });
        if (response.status === 200) result.ok++;
        else {
          result.failed++;
          result.errors.push(`status ${response.status}: ${response.body.slice(0, 200)}`);
        }
      } catch (error) {
        result.failed++;
        result.errors.push(error instanceof Error ? error.message : String(error));
      }
    }
  };
  const done = Promise.all(Array.from({ length: options.concurrency }, loop)).then(() => result);
  return {
    result: done,
    stop: () => {
      stopped = true;
    },
  };
}

/** Polls `check` every 50 ms until it returns true; throws after `timeoutMs`. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting until ${what}`);
}
