/**
 * A named group of interchangeable targets with the balancer that chooses among them, and the
 * upstream-wide health rules: which targets may take a request (active health, outlier
 * ejections capped by `maxEjectedPercent`, panic mode), breaker admission, and the retry policy.
 */
import {
  adaptiveConcurrency,
  type Clock,
  type ConcurrencyPermit,
  type Permit,
  type SyncTransport,
} from 'breakwater';
import { pino } from 'pino';
import type { BalanceKind, FailOn } from '../config/choices.ts';
import { defaults } from '../config/defaults.ts';
import type {
  AdaptiveConcurrencyConfig,
  HealthCheckConfig,
  OutlierDetectionConfig,
  RetryConfig,
  UpstreamConfig,
  UpstreamLimitsConfig,
} from '../config/schema.ts';
import type { Logger } from '../logger.ts';
import type { BalancedRequest, Balancer } from './balancers/balancer.ts';
import { createBalancer } from './balancers/create.ts';
import { ProxyRetryPolicy } from './retry-policy.ts';
import { type CachedSelection, type Selection, selectTargets } from './selection.ts';
import { Target } from './target.ts';
import { attachTargetHealth } from './target-health.ts';

/** An upstream's health and retry settings (validated config). Absent keys mean "off". */
export interface UpstreamHealthConfig {
  readonly healthCheck?: HealthCheckConfig | undefined;
  readonly outlierDetection?: OutlierDetectionConfig | undefined;
  readonly retry?: RetryConfig | undefined;
  /** Percent (0–100); below this share of eligible targets, balance over all of them. */
  readonly panicThreshold?: number | undefined;
  /** Connection, pending, request and retry thresholds; the defaults when left out. */
  readonly limits?: UpstreamLimitsConfig | undefined;
}

/** The upstream threshold that turned a request (or a retry) away. */
export type OverloadLimit = 'maxRequests' | 'maxPending' | 'maxRetries';

/**
 * Why a request (or a retry) was turned away as overloaded: one of the upstream's
 * {@link OverloadLimit}s, or every eligible target at its adaptive concurrency limit.
 */
export type OverloadReason = OverloadLimit | 'adaptiveConcurrency';

/**
 * The settings {@link UpstreamPool.fromConfig} reads: an `UpstreamConfig` from the config layer
 * (defaults filled in), or a hand-built one where the health keys may be left out (= off).
 */
export type UpstreamPoolConfig = Pick<
  UpstreamConfig,
  'balance' | 'hashOn' | 'decay' | 'targets' | 'timeouts'
> &
  UpstreamHealthConfig & {
    /** A concurrency limit per target that adapts to its latency; absent: none. */
    readonly adaptiveConcurrency?: AdaptiveConcurrencyConfig | undefined;
  };

/** Where an upstream's breakers, checkers and retry budget get time and logs. */
export interface UpstreamPoolContext {
  /** Drives breakers, probe schedules and the retry budget. Default: the system clock. */
  readonly clock?: Clock | undefined;
  readonly logger?: Logger | undefined;
  /** Shares each target's breaker transitions with other processes (cluster workers, Redis). */
  readonly sync?: SyncTransport | undefined;
  /**
   * Returns an existing target to reuse for a URL (a reload keeping a target keeps its object,
   * with its health, breaker and connections), or `undefined` to create one.
   */
  readonly reuse?: ((url: string) => Target | undefined) | undefined;
}

/** A target chosen for one attempt, with the breaker permit to settle when it ends. */
export interface Admission {
  readonly target: Target;
  /**
   * Settle with the attempt's outcome. `undefined` when the target has no breaker, or when it is
   * sent without one: readmitted over `maxEjectedPercent`, or in panic mode.
   */
  readonly permit: Permit | undefined;
  /** The target's concurrency permit; `undefined` when it has no `adaptiveConcurrency` limit. */
  readonly concurrency?: ConcurrencyPermit | undefined;
}

/**
 * What {@link UpstreamPool.admit} answers when eligible targets exist but every one it tried is
 * at its adaptive concurrency limit.
 */
export const OVERLOADED = 'overloaded';

const silentLogger: Logger = pino({ level: 'silent' });

/**
 * An upstream: its targets, their connection pools, the balancer, and the health rules.
 *
 * A target takes a request when active checks say up (or none run), it is not drained, and its
 * breaker admits the request (`admit`). Ejections beyond `maxEjectedPercent` are not honoured:
 * those targets are sent traffic without a permit. Below `panicThreshold` percent of eligible
 * targets, every undrained target is a candidate (panic mode).
 *
 * @example
 * const pool = UpstreamPool.fromConfig('api', config.upstreams.api, { clock, logger });
 * pool.start(); // active health checks
 * const admission = pool.admit(request); // undefined when no target may take it
 * // … forward to admission.target, then admission.permit?.success() / failure() / ignore()
 * await pool.close();
 */
export class UpstreamPool {
  readonly name: string;
  readonly balance: BalanceKind;
  readonly balancer: Balancer<Target>;
  readonly targets: Target[];
  /** Attempt results that count against a target; empty when outlier detection is off. */
  readonly failOn: readonly FailOn[];
  /** Percent (0–100) of targets outlier detection may eject at once. */
  readonly maxEjectedPercent: number;
  /** Percent (0–100) of eligible targets below which panic mode balances over all. */
  readonly panicThreshold: number;
  /** Health-check interval in ms, the Retry-After hint when checks took every target out. */
  readonly healthCheckInterval: number | undefined;
  /** The retry rules and budget; `undefined` when retries are off. */
  readonly retry: ProxyRetryPolicy | undefined;
  /**
   * Whether attempts to this upstream must be timed: a balancer or a concurrency limit learns
   * from their latency. (Attempt listeners time them anyway.)
   */
  readonly timesAttempts: boolean;
  /** Connection, pending, request and retry thresholds (Envoy's cluster circuit breakers). */
  readonly limits: UpstreamLimitsConfig;
  /** Retries in flight now, against `limits.maxRetries`; kept by the exchange. */
  retriesInFlight = 0;
  /** Requests turned away (or retries not made) since the start, by the limit reached. */
  readonly overloads: Record<OverloadReason, number> = {
    maxRequests: 0,
    maxPending: 0,
    maxRetries: 0,
    adaptiveConcurrency: 0,
  };
  // Reused while no target changes eligibility, so a pick allocates nothing.
  #selection: CachedSelection<Target> | undefined;

  constructor(
    name: string,
    balance: BalanceKind,
    balancer: Balancer<Target>,
    targets: Target[],
    health: UpstreamHealthConfig = {},
    clock?: Clock,
  ) {
    this.name = name;
    this.balance = balance;
    this.balancer = balancer;
    this.targets = targets;
    this.timesAttempts =
      balancer.observe !== undefined || targets.some((target) => target.limiter !== undefined);
    const outlier = health.outlierDetection;
    this.failOn = outlier ? outlier.failOn : [];
    // Without outlier detection no breaker is attached by config; one attached by hand is honoured.
    this.maxEjectedPercent = outlier ? outlier.maxEjectedPercent : 100;
    this.panicThreshold = health.panicThreshold ?? 0;
    this.healthCheckInterval = health.healthCheck?.interval;
    this.limits = health.limits ?? defaults.upstreamLimits;
    const retry = health.retry;
    this.retry =
      retry && retry.attempts > 1
        ? new ProxyRetryPolicy(clock ? { ...retry, clock } : retry)
        : undefined;
  }

  /**
   * Builds a pool from validated config: targets (reused through `context.reuse` when given),
   * their undici pools, breakers and health checkers (not started: call {@link start}).
   */
  static fromConfig(
    name: string,
    config: UpstreamPoolConfig,
    context: UpstreamPoolContext = {},
  ): UpstreamPool {
    const logger = context.logger ?? silentLogger;
    const targets = config.targets.map((entry) => {
      const target =
        context.reuse?.(entry.url) ??
        new Target(
          entry.url,
          entry.weight,
          config.timeouts,
          config.limits?.maxConnections ?? defaults.upstreamLimits.maxConnections,
        );
      attachTargetHealth(target, name, config, {
        clock: context.clock,
        logger,
        sync: context.sync,
      });
      const limits = config.adaptiveConcurrency;
      target.limiter =
        limits === undefined
          ? undefined
          : adaptiveConcurrency({
              ...limits,
              name: `${name} ${target.id}`,
              ...(context.clock ? { clock: context.clock } : {}),
            });
      return target;
    });
    const balancer = createBalancer<Target>({
      balance: config.balance,
      hashOn: config.hashOn,
      decay: config.decay,
      clock: context.clock,
    });
    return new UpstreamPool(name, config.balance, balancer, targets, config, context.clock);
  }

  /** Starts the active health checks of every target that has them. */
  start(): void {
    for (const target of this.targets) target.checker?.start();
  }

  /**
   * Which targets may take a request now (`selection.ts`, the one definition of eligible):
   * the eligible ones, whether the upstream is in panic, and the candidates the balancer picks
   * from. Reused while no target changes eligibility. Work it out once per request and pass it
   * to {@link admit} and {@link pick}.
   */
  selection(): Selection<Target> {
    const previous = this.#selection;
    const selection = selectTargets(this.targets, this, previous);
    if (previous !== undefined && selection !== previous)
      this.#readmitted(previous.key, selection.key);
    this.#selection = selection;
    return selection;
  }

  /** The eligible targets (see {@link selection}). */
  eligible(): readonly Target[] {
    return this.selection().eligible;
  }

  /**
   * Tells a balancer that learns from traffic which targets came back into rotation (after an
   * ejection or a failed health check), so they start afresh rather than with what they earned
   * before leaving. Runs only when eligibility changed, and only for up to 31 targets (beyond,
   * the old estimate simply decays).
   */
  #readmitted(previous: number, key: number): void {
    const forget = this.balancer.forget;
    if (forget === undefined || previous === -1 || key === -1) return;
    const back = key & ~previous;
    for (let i = 0; back >>> i !== 0; i++) {
      if ((back >>> i) & 1) forget.call(this.balancer, this.targets[i]!);
    }
  }

  /** An attempt to `target` got its answer (headers, or a timeout) after `latency` ms. */
  attemptAnswered(target: Target, latency: number): void {
    this.balancer.observe?.(target, latency);
  }

  /** Whether so few targets are eligible that panic mode balances over all of them. */
  inPanic(): boolean {
    return this.selection().panic;
  }

  /** The targets to balance over now: the eligible ones, or every undrained one in panic. */
  candidates(): readonly Target[] {
    return this.selection().candidates;
  }

  /** Requests in flight to the upstream's targets. */
  get inFlight(): number {
    let count = 0;
    for (const target of this.targets) count += target.activeRequests;
    return count;
  }

  /** Requests waiting for a connection: beyond `maxConnections` on their target. */
  get pending(): number {
    let count = 0;
    for (const target of this.targets) {
      count += Math.max(0, target.activeRequests - target.maxConnections);
    }
    return count;
  }

  /**
   * Which threshold refuses a new request now, or `undefined`: `maxRequests` in flight, or
   * `maxPending` requests already waiting while every candidate's connections are busy (a
   * target with a free connection would take the request without waiting). Counted in
   * {@link overloads} by the caller that turns the request away.
   *
   * @example
   * const limit = pool.overload();
   * if (limit !== undefined) return reply(503, 'OVERLOADED');
   */
  overload(): OverloadLimit | undefined {
    const limits = this.limits;
    if (this.inFlight >= limits.maxRequests) return 'maxRequests';
    if (this.pending >= limits.maxPending && this.candidates().every((t) => t.saturated)) {
      return 'maxPending';
    }
    return undefined;
  }

  /**
   * Picks a target without taking a breaker permit (for upgrade tunnels, whose outcome the
   * breaker does not judge), or `undefined` when none is eligible.
   */
  pick(
    request: BalancedRequest,
    selection: Selection<Target> = this.selection(),
  ): Target | undefined {
    const candidates = selection.candidates;
    if (candidates.length === 0) return undefined;
    return this.balancer.pick(candidates, request);
  }

  /**
   * Chooses a target for one attempt and takes its concurrency and breaker permits. A target at
   * its concurrency limit, or whose breaker refuses (its one half-open trial is already running),
   * is set aside and the balancer picks again among the rest, so this ends after at most one pick
   * per candidate. Targets in `tried` are avoided while any other candidate exists. `undefined`
   * when no target may take the request; {@link OVERLOADED} when some could but were at their
   * concurrency limit (counted in {@link overloads} by the caller that turns the request
   * away). `selection` is the one worked out for this request; by default it is
   * worked out now.
   */
  admit(
    request: BalancedRequest,
    tried?: ReadonlySet<Target>,
    selection: Selection<Target> = this.selection(),
  ): Admission | typeof OVERLOADED | undefined {
    const panic = selection.panic;
    let candidates = selection.candidates;
    if (tried !== undefined && tried.size > 0) {
      const untried = candidates.filter((target) => !tried.has(target));
      if (untried.length > 0) candidates = untried;
    }
    let atLimit = false;
    // A target whose connections are all busy would make the request wait (maxConnections):
    // another one with a free connection takes it instead, as HAProxy's maxconn does.
    if (candidates.some((target) => target.saturated)) {
      const free = candidates.filter((target) => !target.saturated);
      if (free.length > 0) candidates = free;
    }
    while (candidates.length > 0) {
      const target = this.balancer.pick(candidates, request);
      if (target === undefined) break;
      const limiter = target.limiter;
      const concurrency = limiter?.tryAcquire();
      if (limiter !== undefined && concurrency === undefined) {
        atLimit = true;
        candidates = candidates.filter((candidate) => candidate !== target);
        continue;
      }
      const breaker = target.breaker;
      if (breaker === undefined) return { target, permit: undefined, concurrency };
      const permit = breaker.tryAcquire();
      if (permit !== undefined) return { target, permit, concurrency };
      // An open breaker among the candidates is an ejection the cap did not honour (or panic):
      // the target takes traffic, unjudged until its breaker goes half-open.
      if (panic || breaker.state === 'open') return { target, permit: undefined, concurrency };
      concurrency?.ignore();
      candidates = candidates.filter((candidate) => candidate !== target);
    }
    return atLimit ? OVERLOADED : undefined;
  }

  /**
   * Milliseconds until some target may take a request again: the soonest breaker's
   * `retryAfter`, or the health-check interval for targets taken out by active checks.
   * `undefined` when nothing will bring a target back by itself (all drained).
   */
  retryAfter(): number | undefined {
    let soonest = Number.POSITIVE_INFINITY;
    for (const target of this.targets) {
      if (target.drained) continue;
      if (!target.healthy) {
        if (this.healthCheckInterval !== undefined) {
          soonest = Math.min(soonest, this.healthCheckInterval);
        }
        continue;
      }
      const breaker = target.breaker;
      if (breaker === undefined || breaker.state === 'forced-open') continue;
      soonest = Math.min(soonest, breaker.retryAfter);
    }
    return Number.isFinite(soonest) ? soonest : undefined;
  }

  /** Stops health checks; closes every target's connections, waiting for in-flight requests. */
  async close(): Promise<void> {
    await Promise.all(this.targets.map((target) => target.close()));
  }

  /** Stops health checks; drops every target's connections now. */
  async destroy(): Promise<void> {
    await Promise.all(this.targets.map((target) => target.destroy()));
  }
}
