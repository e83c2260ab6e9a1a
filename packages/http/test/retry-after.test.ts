import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRetryAfter, retryAfterOf, retryAfterSeconds } from '../src/retry-after.ts';

describe('parseRetryAfter', () => {
  it('reads delay seconds', () => {
    assert.equal(parseRetryAfter('0'), 0);
    assert.equal(parseRetryAfter('120'), 120_000);
    assert.equal(parseRetryAfter(' 3 '), 3_000);
  });

  it('reads an HTTP-date against the given server time', () => {
    const now = Date.parse('Wed, 21 Oct 2026 07:27:00 GMT');
    assert.equal(parseRetryAfter('Wed, 21 Oct 2026 07:28:00 GMT', now), 60_000);
  });

  it('treats a date in the past as no wait', () => {
    const now = Date.parse('Wed, 21 Oct 2026 07:27:00 GMT');
    assert.equal(parseRetryAfter('Wed, 21 Oct 2026 07:00:00 GMT', now), 0);
  });

  it('returns undefined for missing or invalid values', () => {
    for (const value of [null, undefined, '', 'soon', '-5', '1.5', 'Mon, 99 Foo 2026']) {
      assert.equal(parseRetryAfter(value), undefined, String(value));
    }
  });
});

describe('retryAfterOf', () => {
  it("measures a date against the response's own Date header", () => {
    const response = new Response(null, {
      status: 503,
      headers: {
        date: 'Wed, 21 Oct 2026 07:27:00 GMT',
        'retry-after': 'Wed, 21 Oct 2026 07:27:30 GMT',
      },
    });
    assert.equal(retryAfterOf(response), 30_000);
  });

  it('is undefined without the header', () => {
    assert.equal(retryAfterOf(new Response(null, { status: 503 })), undefined);
  });
});

describe('retryAfterSeconds', () => {
  it('rounds up to whole seconds, never below one', () => {
    assert.equal(retryAfterSeconds(4_001), 5);
    assert.equal(retryAfterSeconds(5_000), 5);
    assert.equal(retryAfterSeconds(1), 1);
    assert.equal(retryAfterSeconds(0), 1);
  });
});
