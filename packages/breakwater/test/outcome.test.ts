import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ignore, MarkedOutcome, markAsSuccess, unwrapOutcome } from 'breakwater';

describe('outcome marks', () => {
  it('ignore() carries the original error and the ignored outcome', () => {
    const error = new Error('not found');
    const marked = ignore(error);
    assert.ok(marked instanceof MarkedOutcome);
    assert.equal(marked.error, error);
    assert.equal(marked.outcome, 'ignored');
  });

  it('markAsSuccess() carries the original error and the success outcome', () => {
    const marked = markAsSuccess('no');
    assert.equal(marked.error, 'no');
    assert.equal(marked.outcome, 'success');
  });

  it('unwrapOutcome() returns the original error and leaves other values alone', () => {
    const error = new Error('x');
    assert.equal(unwrapOutcome(ignore(error)), error);
    assert.equal(unwrapOutcome(markAsSuccess(error)), error);
    assert.equal(unwrapOutcome(error), error);
    assert.equal(unwrapOutcome(undefined), undefined);
  });
});
