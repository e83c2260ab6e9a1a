import assert from 'node:assert/strict';
import { test } from 'node:test';
import { headerNameProblem, isFramingLookAlike } from '../../src/http/header-names.ts';

test('recognises look-alikes of the framing fields, whatever the separators or case', () => {
  for (const name of [
    'Content_Length',
    'content_length',
    'Transfer_Encoding',
    'Transfer---Encoding',
    'Transfer___Encoding',
    'TRANSFER_ENCODING',
    'ContentLength',
    'Content.Length',
    'Transfer-_-Encoding',
  ]) {
    assert.equal(isFramingLookAlike(name), true, name);
  }
});

test('leaves the framing fields themselves and unrelated names alone', () => {
  for (const name of [
    'Content-Length',
    'content-length',
    'Transfer-Encoding',
    'Content-Type',
    'X_Id',
    'Content-Language',
    'Content-Lengths',
  ]) {
    assert.equal(isFramingLookAlike(name), false, name);
  }
});

test('refuses a look-alike under every underscore rule, and other underscores only under refuse', () => {
  for (const rule of ['drop', 'forward', 'refuse'] as const) {
    assert.match(
      headerNameProblem(['Host', 'a', 'Transfer_Encoding', 'chunked'], rule) ?? '',
      /look-alike.*Transfer_Encoding/,
    );
  }
  assert.equal(headerNameProblem(['Host', 'a', 'X_Id', '1'], 'drop'), undefined);
  assert.equal(headerNameProblem(['Host', 'a', 'X_Id', '1'], 'forward'), undefined);
  assert.match(headerNameProblem(['Host', 'a', 'X_Id', '1'], 'refuse') ?? '', /underscore.*X_Id/);
});
