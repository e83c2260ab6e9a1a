import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidOptionError, TimeoutError } from 'breakwater';
import { classifyHttpOutcome, failureStatusPredicate } from '../src/classify.ts';

describe('classifyHttpOutcome', () => {
  const table: Array<[string, Parameters<typeof classifyHttpOutcome>[0], string]> = [
    ['200 is a success', { status: 200 }, 'success'],
    ['204 is a success', { status: 204 }, 'success'],
    ['301 is a success', { status: 301 }, 'success'],
    ['400 is a success: the server answered', { status: 400 }, 'success'],
    ['404 is a success', { status: 404 }, 'success'],
    ['429 is a success by default', { status: 429 }, 'success'],
    ['500 is a failure', { status: 500 }, 'failure'],
    ['502 is a failure', { status: 502 }, 'failure'],
    ['503 is a failure', { status: 503 }, 'failure'],
    ['599 is a failure', { status: 599 }, 'failure'],
    [
      'a request that could not be built is ignored',
      { error: new TypeError('Invalid URL'), stage: 'build' },
      'ignored',
    ],
    [
      'a connection error is a failure',
      { error: new TypeError('fetch failed'), stage: 'send' },
      'failure',
    ],
    ['an error without a stage is a failure', { error: new Error('reset') }, 'failure'],
    ['an inner timeout is a failure', { error: new TimeoutError(100), stage: 'send' }, 'failure'],
    [
      'a body that broke off is a failure',
      { error: new TypeError('terminated'), stage: 'body' },
      'failure',
    ],
  ];
  for (const [name, result, expected] of table) {
    it(name, () => assert.equal(classifyHttpOutcome(result), expected));
  }

  it("ignores an error once the caller's own signal aborted, at any stage", () => {
    const controller = new AbortController();
    controller.abort();
    const { signal } = controller;
    assert.equal(classifyHttpOutcome({ error: controller.signal.reason }, { signal }), 'ignored');
    assert.equal(
      classifyHttpOutcome({ error: new Error('x'), stage: 'body' }, { signal }),
      'ignored',
    );
  });

  it('counts an abort as a failure while the caller signal is still live (an inner abort)', () => {
    const signal = new AbortController().signal;
    const error = new DOMException('aborted', 'AbortError');
    assert.equal(classifyHttpOutcome({ error, stage: 'send' }, { signal }), 'failure');
  });

  it('counts 429 as a failure when listed in failureStatuses', () => {
    const failureStatuses = [429, 500, 502, 503, 504];
    assert.equal(classifyHttpOutcome({ status: 429 }, { failureStatuses }), 'failure');
    assert.equal(classifyHttpOutcome({ status: 501 }, { failureStatuses }), 'success');
  });

  it('takes a predicate for failureStatuses', () => {
    const failureStatuses = (status: number) => status >= 500 && status !== 501;
    assert.equal(classifyHttpOutcome({ status: 501 }, { failureStatuses }), 'success');
    assert.equal(classifyHttpOutcome({ status: 503 }, { failureStatuses }), 'failure');
  });

  it('rejects a status list with a non-status in it, naming the entry', () => {
    assert.throws(
      () => failureStatusPredicate([500, 1000]),
      (error: unknown) =>
        error instanceof InvalidOptionError && error.option === 'failureStatuses[1]',
    );
    assert.throws(() => failureStatusPredicate('5xx' as never), InvalidOptionError);
  });

  it('rejects a result that is neither a status nor an error', () => {
    assert.throws(() => classifyHttpOutcome(null as never), InvalidOptionError);
    assert.throws(() => classifyHttpOutcome({ status: '500' } as never), /result\.status/);
  });
});
