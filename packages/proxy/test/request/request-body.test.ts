import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { test } from 'node:test';
import {
  BodyLimit,
  BodyTooLargeError,
  ReplayTee,
  readAhead,
} from '../../src/request/request-body.ts';

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

// Read through a call: an earlier assertion narrows `tee.body` to undefined for the compiler.
function keptBody(tee: ReplayTee): Buffer | undefined {
  return tee.body;
}

function settled(tee: ReplayTee): Promise<void> {
  return new Promise((resolve) => tee.whenSettled(resolve));
}

test('ReplayTee streams the body at once and keeps a copy of one that fits', async () => {
  const source = new Readable({ read() {} });
  const tee = new ReplayTee(source, 10);
  source.push('abc');
  // The first part is on the stream before the body has ended: nothing waits for the rest.
  const first: Buffer = await new Promise((resolve) => tee.stream.once('data', resolve));
  assert.equal(first.toString(), 'abc');
  assert.equal(tee.reading, true);
  assert.equal(tee.body, undefined);
  const rest = text(tee.stream);
  source.push('def');
  source.push(null);
  await settled(tee);
  assert.equal(keptBody(tee)?.toString(), 'abcdef');
  assert.equal(await rest, 'def');
});

test('ReplayTee drops the copy of a body past its limit and streams it all', async () => {
  const tee = new ReplayTee(bodyOf('abc', 'def', 'ghi'), 4);
  assert.equal(await text(tee.stream), 'abcdefghi');
  await settled(tee);
  assert.equal(tee.reading, false);
  assert.equal(tee.body, undefined);
});

test('ReplayTee reads the body to its end after the attempt dropped the stream', async () => {
  const source = new Readable({ read() {} });
  const tee = new ReplayTee(source, 100);
  source.push('abc');
  tee.stream.destroy();
  source.push('def');
  source.push(null);
  await settled(tee);
  assert.equal(tee.body?.toString(), 'abcdef');
});

test('ReplayTee settles without a copy when the body fails', async () => {
  const source = new Readable({ read() {} });
  const tee = new ReplayTee(source, 100);
  source.push('ab');
  source.destroy(new BodyTooLargeError(1));
  await settled(tee);
  assert.equal(tee.body, undefined);
  assert.equal(tee.stream.destroyed, true);
});
