/**
 * An open-loop load generator for the overload scenario: it sends `rate` requests per second on
 * schedule whether or not earlier ones were answered, as independent clients do, so an overloaded
 * server's queue shows up as latency instead of being hidden by a closed loop that waits
 * (wrk, autocannon). Latency runs from the moment a request was due, not when it was sent, so a
 * late send counts against the proxy (no coordinated omission). Requests still unanswered after
 * `giveUpMs` are aborted and counted as timeouts; at most `maxOutstanding` are in flight, the
 * rest are counted as not sent.
 *
 * Usage: node bench/proxy/open-loop.ts --url U --rate R --seconds S [--skip S] [--give-up MS]
 *        [--max-outstanding N]
 * `--skip` seconds of load come first and are not measured: the same history for every case
 * (a limiter settles in it; an unprotected queue builds up in it).
 * Prints one JSON line: { sent, ok, goodput (OK answers per second that arrived while the load
 * ran), non2xx, statuses, errors, timeouts, notSent, p50Ms, p99Ms, maxMs } (latencies of OK
 * answers).
 * With `--marks`, it writes `measure-start` and `measure-end` lines to stderr when the measured
 * window opens and closes, so a caller can read a server's CPU time over exactly that window.
 */
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    rate: { type: 'string' },
    seconds: { type: 'string' },
    skip: { type: 'string', default: '0' },
    'give-up': { type: 'string', default: '10000' },
    'max-outstanding': { type: 'string', default: '4000' },
    marks: { type: 'boolean', default: false },
  },
});
const url = values.url;
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const skipSeconds = Number(values.skip);
const giveUpMs = Number(values['give-up']);
const maxOutstanding = Number(values['max-outstanding']);
if (url === undefined || !(rate > 0) || !(seconds > 0) || !(skipSeconds >= 0)) {
  process.stderr.write(
    'usage: open-loop.ts --url U --rate R --seconds S [--skip S] [--give-up MS] [--max-outstanding N]\n',
  );
  process.exit(2);
}

const dispatcher = new Agent({
  connections: maxOutstanding,
  pipelining: 1,
  keepAliveTimeout: 30_000,
});
const okLatencies: number[] = [];
const statuses: Record<string, number> = {};
let sent = 0;
let ok = 0;
/** OK answers that arrived while the measured load ran: the goodput. */
let okInWindow = 0;
let non2xx = 0;
let errors = 0;
let timeouts = 0;
let notSent = 0;
let outstanding = 0;

const start = performance.now();
const measuredFrom = start + skipSeconds * 1_000;
const end = measuredFrom + seconds * 1_000;

async function fire(due: number): Promise<void> {
  outstanding++;
  // Only requests due in the measured window count, apart from the goodput, which counts every
  // OK answer that arrived in it.
  const measured = due >= measuredFrom;
  if (measured) sent++;
  try {
    const response = await request(url!, {
      dispatcher,
      signal: AbortSignal.timeout(giveUpMs),
    });
    await response.body.dump();
    const now = performance.now();
    const good = response.statusCode >= 200 && response.statusCode < 300;
    if (good && now >= measuredFrom && now <= end) okInWindow++;
    if (!measured) return;
    statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1;
    if (good) {
      ok++;
      okLatencies.push(now - due);
    } else {
      non2xx++;
    }
  } catch (error: unknown) {
    if (!measured) return;
    if ((error as { name?: string }).name === 'TimeoutError') timeouts++;
    else errors++;
  } finally {
    outstanding--;
  }
}

let scheduled = 0;
let markedStart = false;
await new Promise<void>((resolve) => {
  const tick = setInterval(() => {
    const now = performance.now();
    if (values.marks && !markedStart && now >= measuredFrom) {
      markedStart = true;
      process.stderr.write('measure-start\n');
    }
    // Every request due by now goes out now, each timed from when it was due.
    const due = Math.min(now, end);
    const target = Math.floor(((due - start) / 1_000) * rate);
    for (; scheduled < target; scheduled++) {
      const dueAt = start + (scheduled * 1_000) / rate;
      if (outstanding < maxOutstanding) void fire(dueAt);
      else if (dueAt >= measuredFrom) notSent++;
    }
    if (now >= end) {
      if (values.marks) process.stderr.write('measure-end\n');
      clearInterval(tick);
      resolve();
    }
  }, 1);
});
// Let the last requests finish or give up.
const drainUntil = performance.now() + giveUpMs + 1_000;
while (outstanding > 0 && performance.now() < drainUntil) {
  await new Promise((resolve) => setTimeout(resolve, 20));
}
await dispatcher.close().catch(() => undefined);

okLatencies.sort((a, b) => a - b);
const quantile = (q: number): number | null =>
  okLatencies.length === 0
    ? null
    : okLatencies[Math.min(okLatencies.length - 1, Math.floor(q * okLatencies.length))]!;
process.stdout.write(
  `${JSON.stringify({
    seconds,
    rate,
    sent,
    ok,
    goodput: okInWindow / seconds,
    non2xx,
    statuses,
    errors,
    timeouts,
    notSent,
    p50Ms: quantile(0.5),
    p99Ms: quantile(0.99),
    maxMs: okLatencies.at(-1) ?? null,
  })}\n`,
);
process.exit(0);
