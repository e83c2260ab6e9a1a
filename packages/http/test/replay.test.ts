import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { idempotentMethods, isReplayableBody } from '../src/replay.ts';

describe('isReplayableBody', () => {
  it('accepts bodies fetch can send again', () => {
    const bodies = [
      undefined,
      null,
      'text',
      new ArrayBuffer(2),
      new Uint8Array(2),
      new Blob(['x']),
      new URLSearchParams('a=1'),
      new FormData(),
    ];
    for (const body of bodies) assert.equal(isReplayableBody(body), true, String(body));
  });

  it('refuses streams and async iterables, which the first attempt uses up', () => {
    assert.equal(isReplayableBody(new Blob(['x']).stream()), false);
    assert.equal(
      isReplayableBody(
        (async function* () {
          yield 'x';
        })(),
      ),
      false,
    );
  });
});

describe('idempotentMethods', () => {
  it('lists the RFC 9110 idempotent methods and not POST or PATCH', () => {
    assert.deepEqual([...idempotentMethods].sort(), [
      'DELETE',
      'GET',
      'HEAD',
      'OPTIONS',
      'PUT',
      'TRACE',
    ]);
  });
});
