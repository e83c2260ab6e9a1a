/**
 * The primary's workers: forks one per slot, hands each its start message, replaces one that
 * crashes (after {@link RestartBackoff}), replaces them one at a time on a rolling restart, and
 * stops them all on shutdown. Under `cluster.accept: round-robin` the primary holds the listening
 * sockets (node:cluster's hand-off), so a worker that goes away never closes a port while another
 * is up and never drops a queued connection. Under `reuse-port` each worker binds its own socket
 * (see `accept-mode.ts`); a stopping worker's socket closes with whatever the kernel had queued
 * on it, unless `net.ipv4.tcp_migrate_req` moves those to a sibling (bench/README.md).
 */
import cluster, { type Worker } from 'node:cluster';
import type { Clock, TimerHandle } from 'breakwater';
import type { Logger } from '../logger.ts';
import { isProxyMessage, type ToPrimary, type ToWorker } from './messages.ts';
import { RestartBackoff } from './restart-backoff.ts';

/** What {@link WorkerSupervisor} needs from the primary. */
export interface SupervisorOptions {
  readonly count: number;
  /** The worker's entry file and node flags. */
  readonly exec: string;
  readonly execArgv: readonly string[];
  /** The message a new worker starts from: the current config and target states. */
  readonly startMessage: (worker: Worker) => ToWorker;
  /**
   * A worker now serves. It started from the config and target states of its start message: the
   * primary brings it up to date with whatever changed while it was starting.
   */
  readonly onReady?: (worker: Worker) => void;
  /** Every other message from a worker (view answers, reload results). */
  readonly onMessage: (worker: Worker, message: ToPrimary) => void;
  /** How long a stopping worker may take to finish its requests before it is killed (ms). */
  readonly stopTimeout: () => number;
  /**
   * How long a new worker may take to report it serves (ms, on `clock`). One that has not by
   * then is killed and counted as a crash, so that neither a rolling restart nor the reload
   * queue waits for it forever.
   */
  readonly startTimeout: number;
  readonly logger: Logger;
  readonly clock: Clock;
}

/** One row of `GET /api/workers`. */
export interface WorkerInfo {
  /** The slot, 0 to `workers - 1`; a replacement takes its predecessor's slot. */
  readonly slot: number;
  readonly pid: number | undefined;
  readonly state: 'starting' | 'ready' | 'waiting-to-restart';
  readonly uptimeMs: number;
  /** Times this slot's worker was replaced after a crash or a failed reload. */
  readonly restarts: number;
  readonly crashLoop: boolean;
  readonly lastExit: { readonly code: number | null; readonly signal: string | null } | null;
}

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  ready: boolean;
  startedAt: number;
  restarts: number;
  readonly backoff: RestartBackoff;
  timer: TimerHandle | undefined;
  lastExit: WorkerInfo['lastExit'];
}

/**
 * Keeps `count` workers running.
 *
 * @example
 * ```ts
 * const supervisor = new WorkerSupervisor({ count: 2, exec, execArgv, startMessage, onMessage,
 *   stopTimeout: () => 10_000, startTimeout: 30_000, logger, clock: systemClock });
 * const listen = await supervisor.start();
 * ```
 */
export class WorkerSupervisor {
  readonly #options: SupervisorOptions;
  readonly #slots: Slot[];
  /** Workers told to stop (replaced, or shutting down): their exit is not a crash. */
  readonly #retiring = new Set<Worker>();
  /** Every worker forked and not yet exited, one a replacement is swapping out included. */
  readonly #alive = new Set<Worker>();
  /** The stop under way for each worker told to stop, so it is told once. */
  readonly #retirements = new Map<Worker, Promise<void>>();
  readonly #readyWaiters = new Map<Worker, (listen: readonly string[] | Error) => void>();
  #stopping = false;
  /** start() is waiting for the first workers: one that dies now fails the start, not a slot. */
  #startingUp = false;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#slots = Array.from({ length: options.count }, (_, index) => ({
      index,
      worker: undefined,
      ready: false,
      startedAt: Date.now(),
      restarts: 0,
      backoff: new RestartBackoff(options.clock),
      timer: undefined,
      lastExit: null,
    }));
    cluster.setupPrimary({ exec: options.exec, execArgv: [...options.execArgv] });
  }

  /**
   * Forks every worker and resolves with their listen addresses once all are serving; rejects
   * (after stopping the others) when one dies first, e.g. because it cannot listen.
   */
  async start(): Promise<readonly string[]> {
    this.#startingUp = true;
    try {
      const listens = await Promise.all(this.#slots.map((slot) => this.#fork(slot)));
      return listens[0] ?? [];
    } catch (error) {
      await this.stop();
      throw error;
    } finally {
      this.#startingUp = false;
    }
  }

  /** The workers now serving. */
  ready(): Worker[] {
    const workers: Worker[] = [];
    for (const slot of this.#slots) if (slot.ready && slot.worker) workers.push(slot.worker);
    return workers;
  }

  /** Sends `message` to every worker that has started. */
  broadcast(message: ToWorker): void {
    for (const slot of this.#slots) if (slot.worker?.isConnected()) slot.worker.send(message);
  }

  /** Rows for `GET /api/workers`. */
  list(): WorkerInfo[] {
    return this.#slots.map((slot) => ({
      slot: slot.index,
      pid: slot.worker?.process.pid,
      state: slot.worker === undefined ? 'waiting-to-restart' : slot.ready ? 'ready' : 'starting',
      uptimeMs: slot.worker === undefined ? 0 : Date.now() - slot.startedAt,
      restarts: slot.restarts,
      crashLoop: slot.backoff.crashLoop,
      lastExit: slot.lastExit,
    }));
  }

  /**
   * Replaces `worker` with a new one (started from the current config), counted as a restart:
   * a worker that failed to apply a reload must not stay on the old config.
   */
  async replace(worker: Worker): Promise<void> {
    const slot = this.#slots.find((each) => each.worker === worker);
    if (slot === undefined || this.#stopping) return;
    slot.restarts++;
    await this.#swap(slot);
  }

  /**
   * Replaces every worker, one at a time: the new one is serving before the old one stops
   * taking connections and finishes its requests, so no connection is refused.
   */
  async rollingRestart(): Promise<void> {
    for (const slot of this.#slots) {
      if (this.#stopping) return;
      if (slot.worker !== undefined) await this.#swap(slot);
    }
  }

  /**
   * Stops every worker gracefully (each finishes its requests, up to `stopTimeout`) and resolves
   * once all have exited: the slots' workers, and any a replacement is still swapping out.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const slot of this.#slots) {
      if (slot.timer !== undefined) this.#options.clock.clearTimeout(slot.timer);
      slot.timer = undefined;
    }
    await Promise.all([...this.#alive].map((worker) => this.#retire(worker)));
  }

  async #swap(slot: Slot): Promise<void> {
    const old = slot.worker;
    if (old !== undefined) this.#retiring.add(old);
    try {
      await this.#fork(slot);
    } catch (error) {
      this.#options.logger.error({ err: error, slot: slot.index }, 'replacement worker failed');
    }
    if (old !== undefined) await this.#retire(old);
  }

  #fork(slot: Slot): Promise<readonly string[]> {
    const worker = cluster.fork({ BREAKWATER_WORKER_SLOT: String(slot.index) });
    this.#alive.add(worker);
    slot.worker = worker;
    slot.ready = false;
    slot.startedAt = Date.now();
    const { logger } = this.#options;
    worker.on('online', () => {
      // A worker retired before it came online has been sent its stop: a start message now
      // would only make it start a proxy to stop again.
      if (this.#stopping || this.#retiring.has(worker) || !worker.isConnected()) return;
      worker.send(this.#options.startMessage(worker));
    });
    // A send racing a worker's death fails with an 'error' event: logged, never a crash here.
    worker.on('error', (error: Error) =>
      logger.warn({ err: error, pid: worker.process.pid }, 'worker channel error'),
    );
    const startTimer = this.#options.clock.setTimeout(
      () => this.#startTimedOut(slot, worker),
      this.#options.startTimeout,
    );
    worker.on('message', (message: unknown) => {
      if (!isProxyMessage(message)) return;
      const typed = message as ToPrimary;
      if (typed.type === 'ready') {
        this.#options.clock.clearTimeout(startTimer);
        if (slot.worker === worker) slot.ready = true;
        this.#readyWaiters.get(worker)?.(typed.listen);
        this.#readyWaiters.delete(worker);
        logger.info({ slot: slot.index, pid: worker.process.pid }, 'worker ready');
        // One told to stop before its ready crossed the stop is not brought up to date.
        if (!this.#retiring.has(worker)) this.#options.onReady?.(worker);
        return;
      }
      this.#options.onMessage(worker, typed);
    });
    worker.on('exit', (code: number | null, signal: string | null) => {
      this.#options.clock.clearTimeout(startTimer);
      this.#exited(slot, worker, code, signal);
    });
    return new Promise((resolve, reject) => {
      this.#readyWaiters.set(worker, (result) => {
        if (result instanceof Error) reject(result);
        else resolve(result);
      });
    });
  }

  #exited(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    this.#alive.delete(worker);
    const waiter = this.#readyWaiters.get(worker);
    this.#readyWaiters.delete(worker);
    const retired = this.#retiring.delete(worker);
    if (slot.worker === worker) {
      slot.worker = undefined;
      slot.ready = false;
    }
    const { logger } = this.#options;
    if (waiter !== undefined) {
      waiter(new Error(`worker ${worker.process.pid} exited (${signal ?? code}) before serving`));
      if (this.#startingUp) return; // startup failed: start() stops the rest
    }
    if (retired || this.#stopping || slot.worker !== undefined) return;
    slot.lastExit = { code, signal };
    slot.restarts++;
    const delay = slot.backoff.crashed();
    const fields = { slot: slot.index, pid: worker.process.pid, code, signal, restartInMs: delay };
    if (slot.backoff.crashLoop) logger.error(fields, 'worker crash loop');
    else logger.error(fields, 'worker died; replacing it');
    slot.timer = this.#options.clock.setTimeout(() => {
      slot.timer = undefined;
      if (this.#stopping) return;
      this.#fork(slot).catch((error: unknown) => {
        logger.error({ err: error, slot: slot.index }, 'replacement worker failed to start');
      });
    }, delay);
  }

  /**
   * A worker that has not become ready in time is stuck (a hung start, a target it waits on):
   * whoever waits for it goes on, and its exit is handled as a crash (backoff, crash loop).
   */
  #startTimedOut(slot: Slot, worker: Worker): void {
    // One being stopped has its own bound (stopTimeout).
    if (worker.isDead() || this.#retiring.has(worker)) return;
    const { startTimeout } = this.#options;
    const pid = worker.process.pid;
    this.#options.logger.error(
      { slot: slot.index, pid, startTimeoutMs: startTimeout },
      'worker did not become ready in time; killing it',
    );
    const waiter = this.#readyWaiters.get(worker);
    this.#readyWaiters.delete(worker);
    waiter?.(new Error(`worker ${pid} did not become ready within ${startTimeout} ms`));
    worker.process.kill('SIGKILL');
  }

  #retire(worker: Worker): Promise<void> {
    this.#retiring.add(worker);
    if (worker.isDead()) return Promise.resolve();
    let retirement = this.#retirements.get(worker);
    if (retirement === undefined) {
      retirement = this.#stopWorker(worker);
      this.#retirements.set(worker, retirement);
      retirement.finally(() => this.#retirements.delete(worker));
    }
    return retirement;
  }

  #stopWorker(worker: Worker): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#options.logger.warn({ pid: worker.process.pid }, 'worker did not stop; killing it');
        worker.process.kill('SIGKILL');
      }, this.#options.stopTimeout());
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      if (worker.isConnected()) worker.send({ bw: 'proxy', type: 'stop' } satisfies ToWorker);
      else worker.process.kill('SIGTERM');
    });
  }
}
