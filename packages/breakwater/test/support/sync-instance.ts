/**
 * One instance of a shared breaker in a multi-process test or benchmark, driven by its parent
 * over IPC. It owns a breaker named `payments` guarding a simulated dependency that the parent
 * turns up or down (a new setup replaces it, under another name), runs bounded loads against it, and reports transitions (with wall-clock
 * times, comparable between processes on one machine) and what reached the dependency.
 */
import {
  CircuitBreaker,
  consecutiveFailures,
  exponential,
  type FailurePolicy,
  failureRate,
  type SyncMode,
  type SyncTransport,
} from 'breakwater';

/** What the parent sets up. */
export interface InstanceSetup {
  readonly policy:
    | { readonly kind: 'consecutive'; readonly failures: number }
    | {
        readonly kind: 'rate';
        readonly threshold: number;
        readonly minimumCalls: number;
        readonly calls: number;
      };
  readonly openDuration: number;
  readonly syncMode?: SyncMode;
  readonly shared: boolean;
  /** The breaker's name. Default: `payments`. A new setup replaces the previous breaker. */
  readonly name?: string;
}

export type Command =
  | { readonly cmd: 'setup'; readonly setup: InstanceSetup }
  | { readonly cmd: 'dependency'; readonly up: boolean }
  | { readonly cmd: 'load'; readonly intervalMs: number; readonly count: number }
  | { readonly cmd: 'fail'; readonly count: number }
  | { readonly cmd: 'snapshot' }
  | { readonly cmd: 'exit' };

export type Report =
  | { readonly ev: 'ready'; readonly state: string; readonly source: string | undefined }
  | {
      readonly ev: 'state';
      readonly to: string;
      readonly at: number;
      readonly source: string | undefined;
    }
  | {
      readonly ev: 'load-done';
      /** Calls that ran the dependency while it was down (doomed calls). */
      readonly doomed: number;
      /** Calls that ran while the breaker was half-open (trials). */
      readonly trials: number;
      readonly ran: number;
      readonly rejected: number;
      /** Calls that ran after this instance had seen its breaker open. */
      readonly ranAfterOpen: number;
      /** The longest time `execute` took to settle, in ms. */
      readonly slowestCall: number;
      readonly failedOtherwise: number;
    }
  | { readonly ev: 'failed'; readonly count: number }
  | { readonly ev: 'snapshot'; readonly snapshot: unknown };

export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

function policyOf(setup: InstanceSetup): FailurePolicy {
  const p = setup.policy;
  if (p.kind === 'consecutive') return consecutiveFailures(p.failures);
  return failureRate({
    threshold: p.threshold,
    minimumCalls: p.minimumCalls,
    window: { calls: p.calls },
  });
}

/** Runs an instance: `send` reports to the parent; returns the command handler. */
export function runInstance(
  sync: SyncTransport,
  send: (report: Report) => void,
): (command: Command) => Promise<void> {
  let breaker: CircuitBreaker | undefined;
  let dependencyUp = true;
  let openSeenAt = Number.POSITIVE_INFINITY;
  const doomedError = new Error('dependency down');
  return async (command) => {
    switch (command.cmd) {
      case 'setup': {
        const { setup } = command;
        breaker?.dispose();
        openSeenAt = Number.POSITIVE_INFINITY;
        dependencyUp = true;
        breaker = new CircuitBreaker({
          name: setup.name ?? 'payments',
          policy: policyOf(setup),
          openDuration: exponential({
            initial: setup.openDuration,
            max: setup.openDuration * 8,
            factor: 2,
          }),
          ...(setup.shared ? { sync, syncMode: setup.syncMode ?? 'transitions' } : {}),
        });
        const b = breaker;
        b.on('state', ({ to }) => {
          if (to === 'open') openSeenAt = Math.min(openSeenAt, wallNow());
          else if (to === 'closed') openSeenAt = Number.POSITIVE_INFINITY;
          send({ ev: 'state', to, at: wallNow(), source: b.snapshot().sync?.source });
        });
        // Give the transport a moment to subscribe and read the shared state.
        await new Promise((resolve) => setTimeout(resolve, 150));
        send({ ev: 'ready', state: b.state, source: b.snapshot().sync?.source });
        return;
      }
      case 'dependency':
        dependencyUp = command.up;
        return;
      case 'fail': {
        const b = breaker!;
        let count = 0;
        for (let i = 0; i < command.count; i++) {
          await b.execute(() => Promise.reject(doomedError)).catch(() => {});
          count++;
        }
        send({ ev: 'failed', count });
        return;
      }
      case 'load': {
        const b = breaker!;
        let doomed = 0;
        let trials = 0;
        let ran = 0;
        let rejected = 0;
        let ranAfterOpen = 0;
        let slowestCall = 0;
        let failedOtherwise = 0;
        const calls: Promise<void>[] = [];
        for (let i = 0; i < command.count; i++) {
          const started = performance.now();
          calls.push(
            b
              .execute(async () => {
                ran++;
                if (b.state === 'half-open') trials++;
                if (wallNow() > openSeenAt) ranAfterOpen++;
                // The dependency answers after a little while, like a real one.
                await new Promise((resolve) => setImmediate(resolve));
                if (!dependencyUp) {
                  doomed++;
                  throw doomedError;
                }
              })
              .then(
                () => {},
                (error: unknown) => {
                  if ((error as { code?: string }).code === 'ERR_CIRCUIT_OPEN') rejected++;
                  else if (error !== doomedError) failedOtherwise++;
                },
              )
              .finally(() => {
                slowestCall = Math.max(slowestCall, performance.now() - started);
              }),
          );
          await new Promise((resolve) => setTimeout(resolve, command.intervalMs));
        }
        await Promise.all(calls);
        send({
          ev: 'load-done',
          doomed,
          trials,
          ran,
          rejected,
          ranAfterOpen,
          slowestCall,
          failedOtherwise,
        });
        return;
      }
      case 'snapshot':
        send({ ev: 'snapshot', snapshot: breaker?.snapshot() });
        return;
      case 'exit':
        breaker?.dispose();
        process.exit(0);
    }
  };
}
