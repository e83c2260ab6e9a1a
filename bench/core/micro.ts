/**
 * Per-call costs measured with mitata: the closed path, the synchronous path, rejection when open,
 * the timeout policy alone and a timeout + retry + breaker pipeline, each beside its peers.
 *
 * Every async row awaits a work function that is itself `async`, so each row pays the same
 * promise floor, measured first as `await fn()`.
 */
import {
  retry as breakwaterRetry,
  timeout as breakwaterTimeout,
  CircuitBreaker,
  consecutiveFailures,
  pipeline,
} from 'breakwater';
import {
  ConsecutiveBreaker,
  ConstantBackoff,
  circuitBreaker,
  retry as cockatielRetry,
  timeout as cockatielTimeout,
  handleAll,
  TimeoutStrategy,
  wrap,
} from 'cockatiel';
import { do_not_optimize, measure } from 'mitata';
import Opossum from 'opossum';

/** One measured row; times in nanoseconds per call. */
export interface MicroRow {
  readonly section: MicroSection;
  readonly id: string;
  readonly label: string;
  readonly avgNs: number;
  readonly p50Ns: number;
  readonly p99Ns: number;
  /** The mean of every pass; `avgNs`, `p50Ns` and `p99Ns` come from the best one. */
  readonly passMeansNs: readonly number[];
}

/** The groups rows are compared within. */
export type MicroSection = 'closed' | 'sync' | 'rejection' | 'timeout' | 'pipeline';

const work = async (): Promise<number> => 1;
const syncWork = (): number => 1;
const swallow = (): void => {};
let outcomes = 0;
const noteSuccess = (value: number): number => {
  outcomes++;
  return value;
};
const noteFailure = (error: unknown): never => {
  outcomes++;
  throw error;
};

/**
 * Runs every micro benchmark `passes` times, interleaved (all cases, then all cases again), and
 * keeps each case's best pass: on a shared machine noise only ever adds time. `quick` samples for
 * less time (smoke runs).
 */
export async function runMicro(
  quick: boolean,
  passes: number,
  log: (line: string) => void,
): Promise<MicroRow[]> {
  const options = quick ? { min_cpu_time: 50 * 1e6 } : {};
  const rows = new Map<string, MicroRow>();
  for (let pass = 1; pass <= passes; pass++) {
    log(`  pass ${pass} of ${passes}`);
    await runPass(options, log, (measured) => {
      const key = `${measured.section}/${measured.id}`;
      const previous = rows.get(key);
      const passMeans = [...(previous?.passMeansNs ?? []), measured.avgNs];
      const best = previous === undefined || measured.avgNs < previous.avgNs ? measured : previous;
      rows.set(key, { ...best, passMeansNs: passMeans });
    });
  }
  return [...rows.values()];
}

type Measured = Omit<MicroRow, 'passMeansNs'>;

async function runPass(
  options: { min_cpu_time?: number },
  log: (line: string) => void,
  record: (row: Measured) => void,
): Promise<void> {
  const add = async (
    section: MicroSection,
    id: string,
    label: string,
    fn: () => unknown,
  ): Promise<void> => {
    const stats = await measure(fn, options);
    record({ section, id, label, avgNs: stats.avg, p50Ns: stats.p50, p99Ns: stats.p99 });
    log(`  ${section.padEnd(9)} ${label.padEnd(58)} ${stats.avg.toFixed(0).padStart(7)} ns`);
  };

  // --- closed path: the breaker is healthy and the call succeeds
  const breaker = new CircuitBreaker();
  const cockatielBreaker = circuitBreaker(handleAll, {
    halfOpenAfter: 10_000,
    breaker: new ConsecutiveBreaker(5),
  });
  const opossumNoTimeout = new Opossum(work, { timeout: false });
  const opossumDefault = new Opossum(work);
  await add('closed', 'bare', 'bare `await fn()` (the floor)', () => work());
  // What any wrapper that observes the outcome must at least pay: one more promise reaction.
  await add('closed', 'then', 'reference: `fn().then(onSuccess, onFailure)`', () =>
    work().then(noteSuccess, noteFailure),
  );
  await add('closed', 'breakwater', 'Breakwater `breaker.execute(fn)`', () =>
    breaker.execute(work),
  );
  await add('closed', 'cockatiel', 'cockatiel `circuitBreaker(...).execute(fn)`', () =>
    cockatielBreaker.execute(work),
  );
  await add('closed', 'opossum-no-timeout', 'opossum `fire()` (timeout: false)', () =>
    opossumNoTimeout.fire(),
  );
  await add('closed', 'opossum-default', 'opossum `fire()` (default 10 s timeout)', () =>
    opossumDefault.fire(),
  );
  opossumNoTimeout.shutdown();
  opossumDefault.shutdown();

  // --- synchronous path (neither peer has one)
  await add('sync', 'bare', 'bare `fn()`', () => do_not_optimize(syncWork()));
  await add('sync', 'breakwater', 'Breakwater `breaker.executeSync(fn)`', () =>
    do_not_optimize(breaker.executeSync(syncWork)),
  );

  // --- rejection when open: tripped by a real failure, then every call is turned away
  const failing = async (): Promise<number> => {
    throw new Error('down');
  };
  const openBreaker = new CircuitBreaker({
    policy: consecutiveFailures(1),
    openDuration: 3_600_000,
  });
  await openBreaker.execute(failing).catch(swallow);
  const openCockatiel = circuitBreaker(handleAll, {
    halfOpenAfter: 3_600_000,
    breaker: new ConsecutiveBreaker(1),
  });
  await openCockatiel.execute(failing).catch(swallow);
  const openOpossum = new Opossum(work, { timeout: false, resetTimeout: 3_600_000 });
  openOpossum.open();
  if (openBreaker.state !== 'open' || !openOpossum.opened) {
    throw new Error('could not open the breakers for the rejection benchmark');
  }
  // Node tracks every promise rejected before it has a handler (unhandled-rejection bookkeeping):
  // a cost every promise-based rejection pays, whatever the library.
  const prebuilt = new Error('prebuilt');
  await add('rejection', 'floor', 'reference: `Promise.reject(err).catch()`', () =>
    Promise.reject(prebuilt).catch(swallow),
  );
  await add('rejection', 'breakwater', 'Breakwater (open)', () =>
    openBreaker.execute(work).catch(swallow),
  );
  await add('rejection', 'breakwater-sync', 'Breakwater `executeSync` (open, throws)', () => {
    try {
      return openBreaker.executeSync(syncWork);
    } catch (error) {
      return do_not_optimize(error);
    }
  });
  await add(
    'rejection',
    'breakwater-acquire',
    'Breakwater `tryAcquire()` (open, returns undefined)',
    () => do_not_optimize(openBreaker.tryAcquire()),
  );
  await add('rejection', 'cockatiel', 'cockatiel (open)', () =>
    openCockatiel.execute(work).catch(swallow),
  );
  await add('rejection', 'opossum', 'opossum (open)', () => openOpossum.fire().catch(swallow));
  openOpossum.shutdown();

  // --- the timeout policy alone, on calls that succeed well within it
  const ourTimeout = breakwaterTimeout(1_000);
  const theirTimeout = cockatielTimeout(1_000, TimeoutStrategy.Cooperative);
  await add('timeout', 'bare', 'bare `await fn()`', () => work());
  await add('timeout', 'breakwater', 'Breakwater `timeout(1000).execute(fn)`', () =>
    ourTimeout.execute(work),
  );
  await add('timeout', 'cockatiel', 'cockatiel `timeout(1000, Cooperative).execute(fn)`', () =>
    theirTimeout.execute(work),
  );

  // --- timeout + retry + breaker composed, on calls that succeed
  const ours = pipeline(
    breakwaterTimeout(1_000),
    breakwaterRetry({ maxAttempts: 3, backoff: 10 }),
    new CircuitBreaker(),
  );
  const theirs = wrap(
    cockatielTimeout(1_000, TimeoutStrategy.Cooperative),
    cockatielRetry(handleAll, { maxAttempts: 2, backoff: new ConstantBackoff(10) }),
    circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
  );
  await add('pipeline', 'breakwater', 'Breakwater `pipeline(timeout, retry, breaker)`', () =>
    ours.execute(work),
  );
  await add('pipeline', 'cockatiel', 'cockatiel `wrap(timeout, retry, breaker)`', () =>
    theirs.execute(work),
  );
  do_not_optimize(outcomes);
}
