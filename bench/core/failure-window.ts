/**
 * The failure path with a full time window: does recording a failure cost more when the window
 * already holds many outcomes? A breaker that re-reads its window (or sorts it) per failure gets
 * slower as traffic grows; one that keeps bucketed counts does not.
 *
 * Method, the same for every library: a fresh breaker with a 60 s failure-rate window, filled
 * with N successful calls, then K (failure, success) pairs timed together. The threshold (90 %)
 * is never reached, so every call runs. Repeated over fresh breakers; the median is reported.
 * A rejected promise with a shared error object stands for the failing dependency, so the cost
 * of building an Error with a stack is not charged to the breakers.
 */
import { CircuitBreaker, failureRate } from 'breakwater';
import { circuitBreaker, handleAll, SamplingBreaker } from 'cockatiel';
import Opossum from 'opossum';
import { median } from '../lib/markdown.ts';

/** A breaker reduced to what this benchmark does with it. */
interface Subject {
  succeed(): Promise<unknown>;
  fail(): Promise<unknown>;
  dispose(): void;
}

/** The cost of a (failure, success) pair at each window fill. */
export interface FailureWindowRow {
  readonly id: string;
  readonly label: string;
  /** Window fill (outcomes already in the window) → median ns per (failure + success) pair. */
  readonly pairNs: Record<string, number>;
  readonly batches: Record<string, number>;
}

const sharedError = new Error('dependency failed');
const ok = async (): Promise<number> => 1;
const broken = (): Promise<never> => Promise.reject(sharedError);
const swallow = (): void => {};
const windowMs = 60_000;

const subjects: { id: string; label: string; create: () => Subject }[] = [
  {
    id: 'breakwater',
    label: 'Breakwater `failureRate` (60 s window, 10 buckets)',
    create() {
      const breaker = new CircuitBreaker({
        policy: failureRate({
          threshold: 0.9,
          minimumCalls: 10,
          window: { duration: windowMs, buckets: 10 },
        }),
      });
      return {
        succeed: () => breaker.execute(ok),
        fail: () => breaker.execute(broken).catch(swallow),
        dispose: () => {},
      };
    },
  },
  {
    id: 'cockatiel',
    label: 'cockatiel `SamplingBreaker` (60 s)',
    create() {
      const policy = circuitBreaker(handleAll, {
        halfOpenAfter: 10_000,
        breaker: new SamplingBreaker({ threshold: 0.9, duration: windowMs, minimumRps: 1 }),
      });
      return {
        succeed: () => policy.execute(ok),
        fail: () => policy.execute(broken).catch(swallow),
        dispose: () => {},
      };
    },
  },
  {
    id: 'opossum',
    label: 'opossum (60 s rolling window, 10 buckets, timeout: false)',
    create() {
      let failNext = false;
      const breaker = new Opossum(() => (failNext ? broken() : ok()), {
        timeout: false,
        errorThresholdPercentage: 90,
        rollingCountTimeout: windowMs,
        rollingCountBuckets: 10,
      });
      return {
        succeed: () => {
          failNext = false;
          return breaker.fire();
        },
        fail: () => {
          failNext = true;
          return breaker.fire().catch(swallow);
        },
        dispose: () => breaker.shutdown(),
      };
    },
  },
];

/** Times K pairs on a breaker pre-filled with `fill` outcomes; returns ns per pair. */
async function timeBatch(create: () => Subject, fill: number, pairs: number): Promise<number> {
  const subject = create();
  try {
    for (let i = 0; i < fill; i++) await subject.succeed();
    const start = process.hrtime.bigint();
    for (let i = 0; i < pairs; i++) {
      await subject.fail();
      await subject.succeed();
    }
    return Number(process.hrtime.bigint() - start) / pairs;
  } finally {
    subject.dispose();
  }
}

/** Measures every subject at every window fill. */
export async function runFailureWindow(
  fills: readonly number[],
  quick: boolean,
  log: (line: string) => void,
): Promise<FailureWindowRow[]> {
  const pairs = 50;
  const budgetMs = quick ? 300 : 1_500;
  const rows: FailureWindowRow[] = [];
  for (const subject of subjects) {
    const pairNs: Record<string, number> = {};
    const batches: Record<string, number> = {};
    for (const fill of fills) {
      // Warm the code paths first so the first batches do not measure the JIT.
      for (let i = 0; i < 3; i++) await timeBatch(subject.create, Math.min(fill, 1_000), pairs);
      const samples: number[] = [];
      const deadline = performance.now() + budgetMs;
      while (samples.length < 10 || (performance.now() < deadline && samples.length < 200)) {
        samples.push(await timeBatch(subject.create, fill, pairs));
      }
      pairNs[String(fill)] = median(samples) ?? Number.NaN;
      batches[String(fill)] = samples.length;
      log(
        `  failure   ${subject.label.padEnd(58)} fill ${String(fill).padStart(6)}: ${pairNs[String(fill)]?.toFixed(0)} ns/pair`,
      );
    }
    rows.push({ id: subject.id, label: subject.label, pairNs, batches });
  }
  return rows;
}
