import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { text } from 'node:stream/consumers';
import { test } from 'node:test';
import pino from 'pino';
import { clientErrorListener } from '../../src/http/client-error.ts';
import type { ProxyErrorCode } from '../../src/http/proxy-error.ts';

const logger = pino({ level: 'silent' });

function parserError(code: string): Error {
  return Object.assign(new Error(`parser: ${code}`), { code });
}

test('answers a request the parser refused with the JSON error, and counts it', async () => {
  const refused: ProxyErrorCode[] = [];
  const listener = clientErrorListener(logger, {
    answered: new WeakSet(),
    refused: (code) => refused.push(code),
  });
  const socket = new PassThrough();
  listener(parserError('HPE_HEADER_OVERFLOW'), socket);
  assert.match(await text(socket), /^HTTP\/1\.1 431 .*"code":"HEADERS_TOO_LARGE"/s);
  assert.deepEqual(refused, ['HEADERS_TOO_LARGE']);
});

test('leaves a parser error in the middle of a body to the request reading it', () => {
  const refused: ProxyErrorCode[] = [];
  const handedOver: string[] = [];
  const listener = clientErrorListener(logger, {
    answered: new WeakSet(),
    bodyFailed: (_socket, code) => {
      handedOver.push(code);
      return true;
    },
    refused: (code) => refused.push(code),
  });
  const socket = new PassThrough();
  listener(parserError('HPE_INVALID_CHUNK_SIZE'), socket);
  assert.deepEqual(handedOver, ['HPE_INVALID_CHUNK_SIZE']);
  // That request answers (and is counted) itself: nothing written here, nothing counted twice.
  assert.equal(socket.writableLength, 0);
  assert.equal(socket.writableEnded, false);
  assert.deepEqual(refused, []);
});

test('answers a request the parser refused only after the response in flight before it, once', async () => {
  const refused: ProxyErrorCode[] = [];
  const listener = clientErrorListener(logger, {
    answered: new WeakSet(),
    refused: (code) => refused.push(code),
  });
  const socket = new PassThrough();
  // node:http's response to a request pipelined before the refused one, still being written.
  const inFlight = new PassThrough();
  Reflect.set(socket, '_httpMessage', inFlight);
  listener(parserError('HPE_INVALID_METHOD'), socket);
  // The failed parser reports again on every later read.
  listener(parserError('HPE_INVALID_METHOD'), socket);
  assert.equal(socket.writableLength, 0);
  assert.equal(socket.writableEnded, false);
  Reflect.set(socket, '_httpMessage', null);
  inFlight.emit('finish');
  assert.match(await text(socket), /^HTTP\/1\.1 400 .*"code":"BAD_REQUEST"/s);
  assert.deepEqual(refused, ['BAD_REQUEST']);
});
