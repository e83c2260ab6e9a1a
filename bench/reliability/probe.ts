/**
 * A well-behaved client beside an attack: one GET every `intervalMs` on a fresh connection
 * (open loop, so a stalled proxy shows as latency rather than as fewer requests), each bounded by
 * a timeout. It answers "what did a normal user see?" in percentiles and errors.
 */
import { request } from 'node:http';

/** What the probe saw. */
export interface ProbeResult {
  readonly sent: number;
  readonly errors: number;
  /** Latencies of successful requests, in ms, sorted. */
  readonly latencies: readonly number[];
}

/** The `p`-th percentile (0–100) of sorted values, or undefined when there are none. */
export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

function once(url: string, timeoutMs: number): Promise<number | undefined> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve(res.statusCode === 200 ? performance.now() - started : undefined),
      );
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy(new Error('probe timeout')));
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** A running probe; `stop()` waits for requests in flight and returns what was seen. */
export interface Probe {
  stop(): Promise<ProbeResult>;
}

/** Starts probing `url`. At most `maxInFlight` requests at once; beyond that a tick counts an error. */
export function startProbe(
  url: string,
  intervalMs = 100,
  timeoutMs = 10_000,
  maxInFlight = 100,
): Probe {
  const latencies: number[] = [];
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  let errors = 0;
  const tick = () => {
    sent++;
    if (inFlight.size >= maxInFlight) {
      errors++;
      return;
    }
    const pending = once(url, timeoutMs).then((latency) => {
      if (latency === undefined) errors++;
      else latencies.push(latency);
      inFlight.delete(pending);
    });
    inFlight.add(pending);
  };
  const timer = setInterval(tick, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
      return { sent, errors, latencies: latencies.sort((a, b) => a - b) };
    },
  };
}
