/**
 * The primary's questions to its workers, with a stand-in worker and a manual clock: answers
 * matched by id, the timeout, and a worker that exits or disconnects ending its questions at once.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import { ManualClock } from 'breakwater';
import type { ToWorker } from '../../src/workers/messages.ts';
import { type QuestionOutcome, WorkerQuestions } from '../../src/workers/worker-questions.ts';

/** A worker's side of the channel: what it was sent, and whether it is still connected. */
class FakeWorker extends EventEmitter {
  connected = true;
  readonly sent: ToWorker[] = [];
  isConnected(): boolean {
    return this.connected;
  }
  send(message: ToWorker): boolean {
    this.sent.push(message);
    return true;
  }
}

const idOf = (message: ToWorker | undefined): number => {
  assert.ok(message !== undefined && 'id' in message);
  return message.id;
};

describe('WorkerQuestions', () => {
  test('an answer resolves its question, matched by id', async () => {
    const questions = new WorkerQuestions(new ManualClock());
    const worker = new FakeWorker();
    const asked = questions.ask(worker, { bw: 'proxy', type: 'view' }, 2_000);
    const other = questions.ask(worker, { bw: 'proxy', type: 'listeners' }, 2_000);
    assert.deepEqual(
      worker.sent.map((message) => message.type),
      ['view', 'listeners'],
    );
    questions.answer({ bw: 'proxy', type: 'listeners', id: idOf(worker.sent[1]), listeners: [] });
    assert.deepEqual(await other, {
      status: 'answered',
      answer: { bw: 'proxy', type: 'listeners', id: idOf(worker.sent[1]), listeners: [] },
    });
    questions.answer({ bw: 'proxy', type: 'reloaded', id: idOf(worker.sent[0]), ok: true });
    assert.equal((await asked).status, 'answered');
  });

  test('a question not answered in time ends as timed out, and a late answer is dropped', async () => {
    const clock = new ManualClock();
    const questions = new WorkerQuestions(clock);
    const worker = new FakeWorker();
    const asked = questions.ask(worker, { bw: 'proxy', type: 'metrics' }, 2_000);
    clock.advance(1_999);
    let settled: QuestionOutcome | undefined;
    void asked.then((outcome) => {
      settled = outcome;
    });
    await Promise.resolve();
    assert.equal(settled, undefined);
    clock.advance(1);
    assert.deepEqual(await asked, { status: 'timed-out' });
    questions.answer({ bw: 'proxy', type: 'reloaded', id: idOf(worker.sent[0]), ok: true });
  });

  for (const event of ['exit', 'disconnect'] as const) {
    test(`a question ends at once when its worker emits '${event}', without waiting for the timeout`, async () => {
      const clock = new ManualClock();
      const questions = new WorkerQuestions(clock);
      const leaving = new FakeWorker();
      const staying = new FakeWorker();
      const lost = questions.ask(
        leaving,
        { bw: 'proxy', type: 'reload', config: {} as never },
        10_000,
      );
      const kept = questions.ask(staying, { bw: 'proxy', type: 'view' }, 10_000);
      leaving.connected = false;
      leaving.emit(event);
      assert.deepEqual(await lost, { status: 'gone' });
      // The other worker's question is still out, and its timer the only one left.
      assert.equal(clock.pendingTimers, 1);
      questions.answer({ bw: 'proxy', type: 'reloaded', id: idOf(staying.sent[0]), ok: true });
      assert.equal((await kept).status, 'answered');
    });
  }

  test('a worker already disconnected is not asked', async () => {
    const clock = new ManualClock();
    const questions = new WorkerQuestions(clock);
    const worker = new FakeWorker();
    worker.connected = false;
    assert.deepEqual(await questions.ask(worker, { bw: 'proxy', type: 'dashboard' }, 900), {
      status: 'gone',
    });
    assert.deepEqual(worker.sent, []);
    assert.equal(clock.pendingTimers, 0);
  });

  test('many questions to one worker add one exit listener, not one each', async () => {
    const questions = new WorkerQuestions(new ManualClock());
    const worker = new FakeWorker();
    const asked = Array.from({ length: 20 }, () =>
      questions.ask(worker, { bw: 'proxy', type: 'view' }, 2_000),
    );
    assert.equal(worker.listenerCount('exit'), 1);
    worker.emit('exit');
    for (const outcome of await Promise.all(asked)) assert.deepEqual(outcome, { status: 'gone' });
  });
});
