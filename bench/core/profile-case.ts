/**
 * Runs one core case in a loop for a few seconds, to be profiled:
 *
 *   node --cpu-prof --cpu-prof-dir=bench/results/profiles/core --conditions=@breakwater/source \
 *     bench/core/profile-case.ts closed|rejection|failure|timeout|pipeline [seconds]
 *   node bench/profile-summary.ts bench/results/profiles/core/*.cpuprofile
 */
import {
  CircuitBreaker,
  consecutiveFailures,
  failureRate,
  pipeline,
  retry,
  timeout,
} from 'breakwater';

const work = async (): Promise<number> => 1;
const sharedError = new Error('dependency failed');
const broken = (): Promise<never> => Promise.reject(sharedError);
const swallow = (): void => {};

async function makeCase(name: string): Promise<() => Promise<unknown>> {
  switch (name) {
    case 'closed': {
      const breaker = new CircuitBreaker();
      return () => breaker.execute(work);
    }
    case 'rejection': {
      const breaker = new CircuitBreaker({
        policy: consecutiveFailures(1),
        openDuration: 3_600_000,
      });
      await breaker.execute(broken).catch(swallow);
      return () => breaker.execute(work).catch(swallow);
    }
    case 'failure': {
      const breaker = new CircuitBreaker({
        policy: failureRate({ threshold: 0.9, window: { duration: 60_000, buckets: 10 } }),
      });
      return async () => {
        await breaker.execute(broken).catch(swallow);
        await breaker.execute(work);
      };
    }
    case 'timeout': {
      const policy = timeout(1_000);
      return () => policy.execute(work);
    }
    case 'pipeline': {
      const policy = pipeline(
        timeout(1_000),
        retry({ maxAttempts: 3, backoff: 10 }),
        new CircuitBreaker(),
      );
      return () => policy.execute(work);
    }
    default:
      throw new Error(
        `unknown case ${JSON.stringify(name)}: closed, rejection, failure, timeout or pipeline`,
      );
  }
}

async function main(): Promise<void> {
  const [name = 'closed', secondsArgument = '3'] = process.argv.slice(2);
  const call = await makeCase(name);
  const deadline = performance.now() + Number(secondsArgument) * 1_000;
  let calls = 0;
  while (performance.now() < deadline) {
    for (let i = 0; i < 1_000; i++) await call();
    calls += 1_000;
  }
  process.stdout.write(
    `${name}: ${calls} calls, ${((Number(secondsArgument) * 1e9) / calls).toFixed(0)} ns/call\n`,
  );
}

await main();
