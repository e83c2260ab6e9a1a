/**
 * The primary's questions to its workers (views, listeners, dashboard reports, metrics, reloads)
 * and their answers, matched by id. Each question is bounded by a timeout, and ends at once when
 * its worker exits or loses its channel: nobody answers then, and the admin request or reload
 * waiting for it should not sit out the full timeout.
 */
import type { Clock, TimerHandle } from 'breakwater';
import type { ToPrimary, ToWorker } from './messages.ts';

/** What a question needs of a worker (a node:cluster `Worker`). */
export interface AskedWorker {
  isConnected(): boolean;
  send(message: ToWorker): unknown;
  on(event: 'exit' | 'disconnect', listener: () => void): unknown;
}

/** A question, without the id {@link WorkerQuestions} gives it. */
export type WorkerQuestion = ToWorker extends infer Each
  ? Each extends { readonly id: number }
    ? Omit<Each, 'id'>
    : never
  : never;

/** How a question ended: answered, not in time, or with its worker gone. */
export type QuestionOutcome =
  | { readonly status: 'answered'; readonly answer: ToPrimary }
  | { readonly status: 'timed-out' }
  | { readonly status: 'gone' };

interface Pending {
  readonly worker: AskedWorker;
  readonly settle: (outcome: QuestionOutcome) => void;
}

/**
 * The questions out to the workers.
 *
 * @example
 * ```ts
 * const questions = new WorkerQuestions(systemClock);
 * // in the supervisor's onMessage: questions.answer(message)
 * const outcome = await questions.ask(worker, { bw: 'proxy', type: 'view' }, 2_000);
 * if (outcome.status === 'answered' && outcome.answer.type === 'view') use(outcome.answer.view);
 * ```
 */
export class WorkerQuestions {
  readonly #clock: Clock;
  readonly #pending = new Map<number, Pending>();
  /** Workers whose exit and disconnect end their questions (one listener each, not one a question). */
  readonly #watched = new WeakSet<AskedWorker>();
  #nextId = 1;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Sends `question` to `worker` and resolves with how it ended; never rejects. */
  ask(worker: AskedWorker, question: WorkerQuestion, timeoutMs: number): Promise<QuestionOutcome> {
    if (!worker.isConnected()) return Promise.resolve({ status: 'gone' });
    this.#watch(worker);
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer: TimerHandle = this.#clock.setTimeout(
        () => settle({ status: 'timed-out' }),
        timeoutMs,
      );
      const settle = (outcome: QuestionOutcome) => {
        if (!this.#pending.delete(id)) return;
        this.#clock.clearTimeout(timer);
        resolve(outcome);
      };
      this.#pending.set(id, { worker, settle });
      worker.send({ ...question, id } as ToWorker);
    });
  }

  /** Hands a worker's answer to the question it answers (one that timed out: dropped). */
  answer(message: ToPrimary): void {
    if (message.type === 'ready') return;
    this.#pending.get(message.id)?.settle({ status: 'answered', answer: message });
  }

  #watch(worker: AskedWorker): void {
    if (this.#watched.has(worker)) return;
    this.#watched.add(worker);
    const gone = () => {
      for (const pending of [...this.#pending.values()]) {
        if (pending.worker === worker) pending.settle({ status: 'gone' });
      }
    };
    worker.on('exit', gone);
    worker.on('disconnect', gone);
  }
}
