/**
 * The parent's side of multi-process sync tests and benchmarks: start instances (separate
 * processes, or node:cluster workers behind a relaying primary), send them commands and wait for
 * their reports, each wait bounded in time.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Command, Report } from './sync-instance.ts';

const CLUSTER_PRIMARY = fileURLToPath(
  new URL('../cluster/fixtures/cluster-fleet.ts', import.meta.url),
);

/** One instance, as the parent sees it. */
export class InstanceHandle {
  readonly reports: Report[] = [];
  readonly #send: (command: Command) => void;
  #waiters: Array<() => void> = [];

  constructor(send: (command: Command) => void) {
    this.#send = send;
  }

  send(command: Command): void {
    this.#send(command);
  }

  receive(report: Report): void {
    this.reports.push(report);
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  /** The first report of kind `ev` after index `from` that passes `test`, waited for up to `ms`. */
  next<E extends Report['ev']>(
    ev: E,
    test: (report: Extract<Report, { ev: E }>) => boolean = () => true,
    ms = 5_000,
    from = 0,
  ): Promise<Extract<Report, { ev: E }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${ev}" report within ${ms} ms`)), ms);
      const check = () => {
        for (let i = from; i < this.reports.length; i++) {
          const report = this.reports[i]!;
          if (report.ev === ev && test(report as Extract<Report, { ev: E }>)) {
            clearTimeout(timer);
            resolve(report as Extract<Report, { ev: E }>);
            return;
          }
        }
        this.#waiters.push(check);
      };
      check();
    });
  }

  /** Sends a command and waits for the report it causes. */
  async ask<E extends Report['ev']>(
    command: Command,
    ev: E,
    ms = 5_000,
  ): Promise<Extract<Report, { ev: E }>> {
    const from = this.reports.length;
    this.send(command);
    return this.next(ev, () => true, ms, from);
  }
}

/** A group of instances and a way to stop them all. */
export interface Fleet {
  readonly instances: InstanceHandle[];
  /** Starts one more instance (a restart, with a new instance id). */
  add(): Promise<InstanceHandle>;
  /** Ends instance `i` at once (SIGKILL). */
  kill(i: number): void;
  stop(): Promise<void>;
}

/** `n` separate processes, each running `script` (which calls `runInstance` over its IPC). */
export async function startProcesses(
  script: string,
  n: number,
  env: NodeJS.ProcessEnv = {},
): Promise<Fleet> {
  const children: ChildProcess[] = [];
  const instances: InstanceHandle[] = [];
  const add = async () => {
    const child = fork(script, [], {
      execArgv: ['--conditions=@breakwater/source'],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const handle = new InstanceHandle((command) => {
      if (child.connected) child.send(command);
    });
    child.on('message', (report: Report) => handle.receive(report));
    children.push(child);
    instances.push(handle);
    return handle;
  };
  for (let i = 0; i < n; i++) await add();
  return {
    instances,
    add,
    kill: (i) => children[i]?.kill('SIGKILL'),
    stop: async () => {
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGKILL');
            }),
        ),
      );
    },
  };
}

/** `n` node:cluster workers sharing through `clusterSync`, behind a primary that relays. */
export async function startClusterWorkers(n: number): Promise<Fleet> {
  const primary = fork(CLUSTER_PRIMARY, [], {
    execArgv: ['--conditions=@breakwater/source'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const instances: InstanceHandle[] = [];
  let forked: Array<() => void> = [];
  primary.on('message', (message: { from?: number; report?: Report; forked?: number }) => {
    if (message.forked !== undefined) {
      for (const waiter of forked.splice(0)) waiter();
      return;
    }
    if (message.from !== undefined && message.report)
      instances[message.from]?.receive(message.report);
  });
  const add = async () => {
    const index = instances.length;
    const handle = new InstanceHandle((command) => {
      if (primary.connected) primary.send({ to: index, command });
    });
    instances.push(handle);
    const done = new Promise<void>((resolve) => forked.push(resolve));
    primary.send({ fork: index });
    await done;
    return handle;
  };
  for (let i = 0; i < n; i++) await add();
  return {
    instances,
    add,
    kill: (i) => primary.send({ kill: i }),
    stop: async () => {
      forked = [];
      if (primary.exitCode !== null) return;
      const exited = new Promise((resolve) => primary.once('exit', resolve));
      primary.kill('SIGTERM');
      await exited;
    },
  };
}
