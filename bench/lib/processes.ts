/**
 * Every process a benchmark starts is tracked here by PID and stopped by PID: at the end of a
 * run, on an error, and on Ctrl-C. Nothing is found or killed by name, so a benchmark never
 * touches processes it did not start.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/** A started process and where its output goes. */
export interface Started {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** stdout and stderr, for diagnosing a process that would not start. */
  readonly logPath: string;
  /** Resolves with the exit code (or signal) when the process ends. */
  readonly exited: Promise<string>;
}

/** Options for {@link ProcessGroup.start}. */
export interface StartOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Open an IPC channel (Node children only). */
  readonly ipc?: boolean;
}

/** The processes one suite started. */
export class ProcessGroup {
  readonly #running = new Map<number, Started>();
  readonly #cleanups: (() => void)[] = [];
  #handlersInstalled = false;
  #interrupted = false;

  /** Whether Ctrl-C (or SIGTERM/SIGHUP) arrived: loops should stop starting work. */
  get interrupted(): boolean {
    return this.#interrupted;
  }

  /** Runs `cleanup` (synchronously) when the suite is interrupted or the process exits. */
  addCleanup(cleanup: () => void): void {
    this.#installHandlers();
    this.#cleanups.push(cleanup);
  }

  /**
   * Tracks a child started elsewhere (the load generator, whose output the caller reads) so an
   * interruption stops it too.
   */
  track(name: string, child: ChildProcess): void {
    this.#installHandlers();
    const pid = child.pid;
    if (pid === undefined) return;
    const exited = new Promise<string>((resolve) => {
      child.once('exit', (code, signal) => {
        this.#running.delete(pid);
        resolve(signal ?? String(code));
      });
    });
    this.#running.set(pid, { name, child, pid, logPath: '', exited });
  }

  /** Starts `command`; its output goes to `logPath`. */
  start(
    name: string,
    command: string,
    args: readonly string[],
    logPath: string,
    options: StartOptions = {},
  ): Started {
    this.#installHandlers();
    if (this.#interrupted) throw new Error(`interrupted; not starting ${name}`);
    const log = openSync(logPath, 'a');
    const stdio: ('ignore' | number | 'ipc')[] = ['ignore', log, log];
    if (options.ipc === true) stdio.push('ipc');
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio,
    });
    closeSync(log);
    if (child.pid === undefined) {
      throw new Error(`could not start ${name} (${command}); see ${logPath}`);
    }
    const pid = child.pid;
    const exited = new Promise<string>((resolve) => {
      child.once('exit', (code, signal) => {
        this.#running.delete(pid);
        resolve(signal ?? String(code));
      });
      child.once('error', (error) => {
        this.#running.delete(pid);
        resolve(`error: ${error.message}`);
      });
    });
    const started: Started = { name, child, pid, logPath, exited };
    this.#running.set(pid, started);
    return started;
  }

  /** Stops one process: SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(started: Started, graceMs = 3_000): Promise<void> {
    if (!this.#running.has(started.pid)) return;
    try {
      process.kill(started.pid, 'SIGTERM');
    } catch {
      return;
    }
    const outcome = await Promise.race([started.exited, delay(graceMs, 'timeout')]);
    if (outcome === 'timeout') {
      try {
        process.kill(started.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await Promise.race([started.exited, delay(1_000)]);
    }
  }

  /** Stops every process this group started. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#running.values()].map((started) => this.stop(started)));
  }

  /** Last-resort cleanup that must be synchronous (process 'exit'). */
  killAllNow(): void {
    for (const pid of this.#running.keys()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.#running.clear();
    this.#runCleanups();
  }

  #runCleanups(): void {
    for (const cleanup of this.#cleanups.splice(0)) {
      try {
        cleanup();
      } catch (error: unknown) {
        process.stderr.write(`bench: cleanup failed: ${String(error)}\n`);
      }
    }
  }

  #installHandlers(): void {
    if (this.#handlersInstalled) return;
    this.#handlersInstalled = true;
    process.once('exit', () => this.killAllNow());
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        this.#interrupted = true;
        process.stderr.write(`\nbench: ${signal}, stopping ${this.#running.size} processes\n`);
        this.stopAll().finally(() => {
          this.#runCleanups();
          process.exit(130);
        });
      });
    }
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (chosen by the OS). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on `host`:`port`. */
export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Waits until `host`:`port` accepts connections. Fails early, quoting the log, when the process exits
 * first, and after `timeoutMs` otherwise.
 */
export async function waitForPort(
  started: Started,
  port: number,
  timeoutMs = 15_000,
  host = '127.0.0.1',
): Promise<void> {
  let exitedWith: string | undefined;
  void started.exited.then((outcome) => {
    exitedWith = outcome;
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exitedWith !== undefined) {
      throw new Error(
        `${started.name} exited (${exitedWith}) before listening:\n${tail(started.logPath)}`,
      );
    }
    if (await canConnect(port, host)) return;
    await delay(50);
  }
  throw new Error(
    `${started.name} did not listen on ${port} within ${timeoutMs} ms:\n${tail(started.logPath)}`,
  );
}

/** Resident set size of a process in bytes (VmRSS from /proc), or `undefined` when unreadable. */
export function residentBytes(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

let clockTicksPerSecond: number | undefined;

function ticksPerSecond(): number {
  clockTicksPerSecond ??=
    Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
  return clockTicksPerSecond;
}

/** /proc/<pid>/stat's fields from the state on (field 3), or `undefined` when unreadable. */
function statFields(pid: number | 'self'): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * CPU time (user + system) a process has used so far, in seconds, from /proc/<pid>/stat; or
 * `undefined` when unreadable. The difference over a run divided by the requests served is the
 * proxy's CPU cost per request, a figure far less sensitive to other load on the machine than
 * requests per second.
 */
export function cpuSeconds(pid: number): number | undefined {
  const fields = statFields(pid);
  if (fields === undefined) return undefined;
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) / ticksPerSecond();
}

/** The pids of `pid`'s descendants now, found by each process's parent in /proc. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const parent = Number(statFields(Number(entry))?.[1]);
    if (!Number.isFinite(parent)) continue;
    const list = children.get(parent) ?? [];
    list.push(Number(entry));
    children.set(parent, list);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/**
 * CPU time (user + system, seconds) of `pid` and every process below it: a cluster primary and
 * its workers, an nginx master and its workers. Each process's waited-for children's time
 * (cutime + cstime) is counted too, so a worker that exits during a run still counts once its
 * parent has reaped it. `undefined` when `pid` is unreadable.
 */
export function treeCpuSeconds(pid: number): number | undefined {
  if (statFields(pid) === undefined) return undefined;
  let total = 0;
  for (const each of [pid, ...descendants(pid)]) {
    const fields = statFields(each);
    if (fields === undefined) continue; // exited meanwhile: its parent's cutime has it
    // utime, stime, cutime, cstime are fields 14–17 (indices 11–14 from the state on).
    for (const index of [11, 12, 13, 14]) total += Number(fields[index]) || 0;
  }
  return total / ticksPerSecond();
}

/** Resident set size of `pid` and every process below it, in bytes. */
export function treeResidentBytes(pid: number): number | undefined {
  const own = residentBytes(pid);
  if (own === undefined) return undefined;
  return descendants(pid).reduce((sum, each) => sum + (residentBytes(each) ?? 0), own);
}

/**
 * CPU time (seconds) of this process's children that have exited and been reaped. The change
 * across one load run is the load generator's CPU: the run's wrk is the only child of the bench
 * that ends meanwhile (proxies and upstreams run until the suite stops them).
 */
export function reapedChildrenCpuSeconds(): number | undefined {
  const fields = statFields('self');
  if (fields === undefined) return undefined;
  return (Number(fields[13]) + Number(fields[14])) / ticksPerSecond();
}

/** The last lines of a log file, for error messages. */
export function tail(path: string, lines = 20): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
