/**
 * Run in a fresh process per library (so one library's heap does not blur another's): creates
 * `count` breakers, runs one successful call through each (so lazily built state exists), lets
 * them sit idle, and reports the heap they hold and the timers they keep. Timers are counted
 * through async_hooks, which also sees unref'd timers that `process.getActiveResourcesInfo()`
 * does not list.
 *
 * Usage: node --expose-gc --conditions=@breakwater/source bench/core/idle-breakers-child.ts <subject> <count>
 * Prints one JSON line.
 */
import { createHook } from 'node:async_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';

const liveTimers = new Set<number>();
createHook({
  init(asyncId, type) {
    if (type === 'Timeout') liveTimers.add(asyncId);
  },
  destroy(asyncId) {
    liveTimers.delete(asyncId);
  },
}).enable();

type Idle = { call(): Promise<unknown>; dispose(): void };

const work = async (): Promise<number> => 1;

async function factory(subject: string): Promise<() => Idle> {
  switch (subject) {
    case 'breakwater-consecutive':
    case 'breakwater-time-window': {
      const { CircuitBreaker, failureRate } = await import('breakwater');
      const timeWindow = subject === 'breakwater-time-window';
      return () => {
        const breaker = timeWindow
          ? new CircuitBreaker({
              policy: failureRate({ threshold: 0.5, window: { duration: 10_000, buckets: 10 } }),
            })
          : new CircuitBreaker();
        return { call: () => breaker.execute(work), dispose: () => {} };
      };
    }
    case 'cockatiel-consecutive':
    case 'cockatiel-sampling': {
      const { circuitBreaker, handleAll, ConsecutiveBreaker, SamplingBreaker } = await import(
        'cockatiel'
      );
      const sampling = subject === 'cockatiel-sampling';
      return () => {
        const policy = circuitBreaker(handleAll, {
          halfOpenAfter: 10_000,
          breaker: sampling
            ? new SamplingBreaker({ threshold: 0.5, duration: 10_000 })
            : new ConsecutiveBreaker(5),
        });
        return { call: () => policy.execute(work), dispose: () => {} };
      };
    }
    case 'opossum': {
      const { default: Opossum } = await import('opossum');
      return () => {
        const breaker = new Opossum(work);
        return { call: () => breaker.fire(), dispose: () => breaker.shutdown() };
      };
    }
    default:
      throw new Error(`unknown subject ${JSON.stringify(subject)}`);
  }
}

function collect(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  gc();
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

function refTimers(): number {
  return process.getActiveResourcesInfo().filter((type) => type === 'Timeout').length;
}

async function main(): Promise<void> {
  const [subject = '', countArgument = '10000'] = process.argv.slice(2);
  const count = Number(countArgument);
  const create = await factory(subject);
  // Load and warm the library before the baseline, so its code is not counted as breaker memory.
  const warm = create();
  await warm.call();
  warm.dispose();
  await nextTurn();

  const heapBefore = collect();
  const timersBefore = liveTimers.size;
  const refTimersBefore = refTimers();
  const breakers: Idle[] = [];
  for (let i = 0; i < count; i++) breakers.push(create());
  for (const breaker of breakers) await breaker.call();
  await nextTurn();
  const heapAfter = collect();
  const timersAfter = liveTimers.size;
  const refTimersAfter = refTimers();

  process.stdout.write(
    `${JSON.stringify({
      subject,
      count,
      bytesPerBreaker: (heapAfter - heapBefore) / count,
      timersPerBreaker: (timersAfter - timersBefore) / count,
      timersHeld: timersAfter - timersBefore,
      refTimersHeld: refTimersAfter - refTimersBefore,
    })}\n`,
  );
  for (const breaker of breakers) breaker.dispose();
}

await main();
