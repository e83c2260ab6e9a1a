/**
 * Memory and timers held by idle breakers, one child process per library (see
 * idle-breakers-child.ts for the method).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { benchDirectory } from '../lib/results.ts';

/** What 10k idle breakers of one kind hold. */
export interface IdleRow {
  readonly subject: string;
  readonly label: string;
  readonly count: number;
  readonly bytesPerBreaker: number;
  /** Timers (ref'd or not) per breaker, seen through async_hooks. */
  readonly timersPerBreaker: number;
  readonly timersHeld: number;
  /** Timers that keep the event loop alive (`process.getActiveResourcesInfo()`). */
  readonly refTimersHeld: number;
}

const subjects: { subject: string; label: string }[] = [
  { subject: 'breakwater-consecutive', label: 'Breakwater (default: consecutive failures)' },
  { subject: 'breakwater-time-window', label: 'Breakwater (failureRate, 10 s window, 10 buckets)' },
  { subject: 'cockatiel-consecutive', label: 'cockatiel (ConsecutiveBreaker)' },
  { subject: 'cockatiel-sampling', label: 'cockatiel (SamplingBreaker, 10 s)' },
  { subject: 'opossum', label: 'opossum (defaults)' },
];

function runChild(subject: string, count: number): Promise<Omit<IdleRow, 'label'>> {
  const script = join(benchDirectory, 'core', 'idle-breakers-child.ts');
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', '--conditions=@breakwater/source', script, subject, String(count)],
      { timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`idle breakers (${subject}) failed: ${error.message}\n${stderr}`));
          return;
        }
        resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Omit<IdleRow, 'label'>);
      },
    );
  });
}

/** Measures every subject with `count` breakers. */
export async function runIdleBreakers(
  count: number,
  log: (line: string) => void,
): Promise<IdleRow[]> {
  const rows: IdleRow[] = [];
  for (const { subject, label } of subjects) {
    const row = { ...(await runChild(subject, count)), label };
    rows.push(row);
    log(
      `  idle      ${label.padEnd(58)} ${row.bytesPerBreaker.toFixed(0).padStart(6)} B/breaker, ` +
        `${row.timersHeld} timers (${row.refTimersHeld} ref'd)`,
    );
  }
  return rows;
}
