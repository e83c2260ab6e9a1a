import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { test } from 'node:test';
import { BodyLimit, BodyTooLargeError, readAhead } from '../../src/request/request-body.ts';

function bodyOf(...chunks: string[]): Readable {
  return Readable.from(chunks.map((chunk) => Buffer.from(chunk)));
}

function readAheadOf(source: Readable, limit: number): Promise<Buffer | Readable> {
  return new Promise((resolve, reject) =>
    readAhead(source, limit, { done: resolve, failed: reject }),
  );
}

test('keeps a body that fits in memory, as a Buffer that can be sent again', async () => {
  const body = await readAheadOf(bodyOf('abc', 'def'), 6);
  assert.ok(Buffer.isBuffer(body));
  assert.equal(body.toString(), 'abcdef');
});

test('hands a body larger than the limit on as one stream, nothing lost', async () => {
  const body = await readAheadOf(bodyOf('abc', 'def', 'ghi'), 4);
  assert.ok(!Buffer.isBuffer(body));
  assert.equal(await text(body), 'abcdefghi');
});

test('reports a body that fails while it is read ahead', async () => {
  const source = new Readable({ read() {} });
  const result = readAheadOf(source, 100);
  source.push('ab');
  source.destroy(new BodyTooLargeError(1));
  await assert.rejects(result, BodyTooLargeError);
});

test('BodyLimit passes up to the limit and fails past it', async () => {
  assert.equal(await text(bodyOf('abc', 'de').pipe(new BodyLimit(5))), 'abcde');
  await assert.rejects(text(bodyOf('abc', 'def').pipe(new BodyLimit(5))), {
    code: 'ERR_BODY_TOO_LARGE',
  });
});
