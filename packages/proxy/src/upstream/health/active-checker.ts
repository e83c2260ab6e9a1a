import {
  type Clock,
  Emitter,
  InvalidOptionError,
  systemClock,
  TimeoutError,
  type TimerHandle,
} from 'breakwater';
import { defaultHealthyStatuses, type StatusRange } from '../../config/status-ranges.ts';
import type { Probe, ProbeResult } from './probe.ts';
import { HttpProbe } from './probe-http.ts';
import { TcpProbe } from './probe-tcp.ts';

/** A pino-compatible logger: `(object, message)`. */
export interface HealthLogger {
  warn(object: object, message: string): void;
  info(object: object, message: string): void;
}

/** Options for {@link ActiveHealthChecker}; validated by the config layer. */
export interface ActiveCheckOptions {
  readonly type: 'http' | 'tcp';
  /** HTTP only: the path to GET. Default: `/healthz`. */
  readonly path?: string;
  /** HTTP only: passing statuses. Default: `[[200, 399]]`. */
  readonly expectStatus?: readonly StatusRange[];
  /** HTTP only: the Host header to send. Default: the target's `host:port`. */
  readonly host?: string | undefined;
  /** Time between the end of one probe and the start of the next, in ms. */
  readonly intervalMs: number;
  /** Spread of the interval, as a fraction in [0, 1]: each wait is `interval × (1 ± jitter)`. Default: 0. */
  readonly jitter?: number;
  /** A probe that takes longer fails, in ms. */
  readonly timeoutMs: number;
  /** Consecutive passes that mark an unhealthy target healthy (rise). */
  readonly healthyThreshold: number;
  /** Consecutive failures that mark a healthy target unhealthy (fall). */
  readonly unhealthyThreshold: number;
  /** Whether a target counts as healthy before its first checks. Default: true. */
  readonly initiallyHealthy?: boolean;
  readonly clock?: Clock;
  /** Source of randomness in [0, 1) for the jitter. Default: `Math.random`. */
  readonly random?: () => number;
  /** Receives health transitions. Default: warnings and notices on the console. */
  readonly logger?: HealthLogger;
  /** Replaces the HTTP/TCP probe (tests, custom checks). */
  readonly probe?: Probe;
}

/** The outcome of one applied probe. */
export interface HealthCheckResult {
  /** When the probe started, in the clock's milliseconds. */
  readonly at: number;
  readonly ok: boolean;
  readonly status?: number;
  readonly error?: string;
  readonly durationMs: number;
}

/** Events of an {@link ActiveHealthChecker}. */
export interface ActiveCheckerEvents {
  /** Health flipped; `healthy` is the new value. */
  change: { readonly target: string; readonly healthy: boolean; readonly check: HealthCheckResult };
  /** A probe finished (for metrics). */
  check: { readonly target: string; readonly healthy: boolean; readonly check: HealthCheckResult };
}

// The abort reason of a probe cut short by stop(): such a probe says nothing about the target.
const stopped = new Error('health checker stopped');

const consoleLogger: HealthLogger = {
  warn: (object, message) => console.warn(`breakwater: ${message}`, object),
  info: (object, message) => console.info(`breakwater: ${message}`, object),
};

/**
 * Probes one target on an interval and decides whether it is healthy, with rise/fall
 * hysteresis: `unhealthyThreshold` consecutive failures take it out, `healthyThreshold`
 * consecutive passes bring it back, so one lost probe or one lucky one does not flap it.
 *
 * A target starts healthy (HAProxy's default; `initiallyHealthy: false` gives Envoy's behaviour
 * of waiting for passing checks), so traffic flows at boot and a dead target is removed after
 * `unhealthyThreshold` probes. The next probe is scheduled when the previous one ends, so probes
 * never overlap, and the wait is jittered so checkers started together drift apart. Only
 * transitions are logged: the first failure after a pass, and each change of health.
 *
 * Never throws from its timer and never leaves a rejected promise behind; a probe that fails in
 * any way, including by timing out, is a failed check.
 *
 * @example
 * ```ts
 * const checker = new ActiveHealthChecker('http://10.0.0.5:8080', {
 *   type: 'http', path: '/healthz', expectStatus: [[200, 399]], intervalMs: 5_000, jitter: 0.1,
 *   timeoutMs: 2_000, healthyThreshold: 2, unhealthyThreshold: 3, logger,
 * });
 * checker.on('change', ({ healthy }) => { target.healthy = healthy; });
 * checker.start();
 * // on shutdown:
 * await checker.stop();
 * ```
 */
export class ActiveHealthChecker {
  /** The target's URL. */
  readonly target: string;
  readonly #options: ActiveCheckOptions;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #logger: HealthLogger;
  readonly #probe: Probe;
  readonly #events = new Emitter<ActiveCheckerEvents>();
  #healthy: boolean;
  #passes = 0;
  #failures = 0;
  #lastCheck: HealthCheckResult | undefined;
  #running = false;
  // Bumped by start() and stop(), so a probe chain from before a stop/start never reschedules.
  #generation = 0;
  #timer: TimerHandle | undefined;
  readonly #inFlight = new Set<AbortController>();

  constructor(target: string | URL, options: ActiveCheckOptions) {
    this.target = String(target);
    checkOptions(options);
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#logger = options.logger ?? consoleLogger;
    this.#healthy = options.initiallyHealthy ?? true;
    this.#probe =
      options.probe ??
      (options.type === 'tcp'
        ? new TcpProbe(target)
        : new HttpProbe(target, {
            path: options.path ?? '/healthz',
            expectStatus: options.expectStatus ?? defaultHealthyStatuses,
            timeoutMs: options.timeoutMs,
            host: options.host,
          }));
  }

  /** Whether the target is currently considered healthy. */
  get healthy(): boolean {
    return this.#healthy;
  }

  /** The most recent applied probe, if any. */
  get lastCheck(): HealthCheckResult | undefined {
    return this.#lastCheck;
  }

  /** Whether probes are scheduled. */
  get running(): boolean {
    return this.#running;
  }

  /** Subscribes to `change` or `check`; returns an unsubscribe function. */
  on<K extends keyof ActiveCheckerEvents>(
    name: K,
    listener: (payload: ActiveCheckerEvents[K]) => void,
  ): () => void {
    return this.#events.on(name, listener);
  }

  /**
   * Starts probing. The first probe runs after a random part of `jitter × interval` (at once
   * when jitter is 0), so a fleet of checkers started together does not probe in lockstep.
   */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#generation++;
    const jitter = this.#options.jitter ?? 0;
    this.#schedule(this.#random() * jitter * this.#options.intervalMs);
  }

  /**
   * Stops probing: cancels the timer, aborts a probe in flight (its result is not applied) and
   * closes probe connections. `start()` may be called again later.
   */
  async stop(): Promise<void> {
    this.#running = false;
    this.#generation++;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const controller of this.#inFlight) controller.abort(stopped);
    await this.#probe.close();
  }

  /**
   * Runs one probe now and applies its result to the rise/fall counters. Used by tests and by an
   * operator's "check now"; does not disturb the schedule. Never rejects.
   */
  async checkNow(): Promise<HealthCheckResult> {
    const controller = new AbortController();
    this.#inFlight.add(controller);
    const at = this.#clock.now();
    const timeout = this.#clock.setTimeout(
      () => controller.abort(new TimeoutError(this.#options.timeoutMs)),
      this.#options.timeoutMs,
    );
    let result: ProbeResult;
    try {
      result = await this.#probe.run(controller.signal);
    } catch (error) {
      // Probes promise not to reject; a custom one that does still counts as a failed check.
      result = { ok: false, error: String(error) };
    } finally {
      this.#clock.clearTimeout(timeout);
      this.#inFlight.delete(controller);
    }
    const reason: unknown = controller.signal.reason;
    if (reason instanceof TimeoutError) result = { ok: false, error: reason.code };
    const check: HealthCheckResult = { ...result, at, durationMs: this.#clock.now() - at };
    if (reason !== stopped) this.#apply(check);
    return check;
  }

  #schedule(delay: number): void {
    const generation = this.#generation;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      const next = () => {
        if (this.#running && generation === this.#generation) this.#schedule(this.#nextDelay());
      };
      this.checkNow().then(next, (error: unknown) => {
        this.#logger.warn({ target: this.target, err: error }, 'health check failed unexpectedly');
        next();
      });
    }, delay);
  }

  #nextDelay(): number {
    const jitter = this.#options.jitter ?? 0;
    const spread = jitter * (2 * this.#random() - 1);
    return Math.max(0, this.#options.intervalMs * (1 + spread));
  }

  #apply(check: HealthCheckResult): void {
    this.#lastCheck = check;
    if (check.ok) {
      this.#failures = 0;
      this.#passes++;
      if (!this.#healthy && this.#passes >= this.#options.healthyThreshold) this.#flip(true, check);
    } else {
      if (this.#failures === 0 && this.#healthy) {
        this.#logger.info({ target: this.target, check }, 'health check failed');
      }
      this.#passes = 0;
      this.#failures++;
      if (this.#healthy && this.#failures >= this.#options.unhealthyThreshold) {
        this.#flip(false, check);
      }
    }
    if (this.#events.has('check')) {
      this.#events.emit('check', { target: this.target, healthy: this.#healthy, check });
    }
  }

  #flip(healthy: boolean, check: HealthCheckResult): void {
    this.#healthy = healthy;
    if (healthy) {
      this.#logger.info({ target: this.target, passes: this.#passes }, 'target is healthy again');
    } else {
      this.#logger.warn(
        { target: this.target, failures: this.#failures, check },
        'target marked unhealthy by health checks',
      );
    }
    this.#events.emit('change', { target: this.target, healthy, check });
  }
}

/** The config layer validates first; this catches programmatic misuse with the option's name. */
function checkOptions(options: ActiveCheckOptions): void {
  if (options.type !== 'http' && options.type !== 'tcp') {
    throw new InvalidOptionError('healthCheck.type', '"http" or "tcp"', options.type);
  }
  for (const name of ['intervalMs', 'timeoutMs'] as const) {
    const value = options[name];
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new InvalidOptionError(`healthCheck.${name}`, 'a finite number of ms > 0', value);
    }
  }
  for (const name of ['healthyThreshold', 'unhealthyThreshold'] as const) {
    const value = options[name];
    if (!Number.isInteger(value) || value < 1) {
      throw new InvalidOptionError(`healthCheck.${name}`, 'an integer >= 1', value);
    }
  }
  const jitter = options.jitter ?? 0;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) {
    throw new InvalidOptionError('healthCheck.jitter', 'a fraction from 0 to 1', jitter);
  }
}
