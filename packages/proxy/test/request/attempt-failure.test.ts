import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientAbortedError, classifyError } from '../../src/request/attempt-failure.ts';
import { BodyTooLargeError } from '../../src/request/request-body.ts';

function withCode(code: string): Error {
  return Object.assign(new Error(code), { code });
}

test('classifies connection failures, timeouts and resets by error code', () => {
  assert.deepEqual(
    [
      'ECONNREFUSED',
      'UND_ERR_CONNECT_TIMEOUT',
      'UND_ERR_HEADERS_TIMEOUT',
      'UND_ERR_BODY_TIMEOUT',
      'ECONNRESET',
      'UND_ERR_SOCKET',
    ].map((code) => {
      const failure = classifyError(withCode(code));
      return `${failure.outcome} ${failure.code}`;
    }),
    [
      'connect-error UPSTREAM_CONNECT_FAILED',
      'connect-error UPSTREAM_CONNECT_FAILED',
      'timeout UPSTREAM_TIMEOUT',
      'timeout UPSTREAM_TIMEOUT',
      'reset UPSTREAM_RESET',
      'reset UPSTREAM_RESET',
    ],
  );
});

test('blames neither target nor proxy for client aborts and oversized bodies', () => {
  assert.equal(classifyError(new ClientAbortedError()).outcome, 'aborted');
  const tooLarge = classifyError(new BodyTooLargeError(10));
  assert.deepEqual([tooLarge.outcome, tooLarge.code], ['rejected', 'BODY_TOO_LARGE']);
  assert.equal(classifyError(withCode('UND_ERR_INVALID_ARG')).outcome, 'rejected');
});

test('treats an unknown error as an upstream error, keeping its message', () => {
  const failure = classifyError(new Error('something odd'));
  assert.equal(failure.code, 'UPSTREAM_ERROR');
  assert.match(failure.message, /something odd/);
});
