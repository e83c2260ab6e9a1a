import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { requestIdOf } from '../../src/http/request-id.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function request(rawHeaders: string[]) {
  // node's view: repeated X-Request-Id fields joined with ", ".
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === 'x-request-id') values.push(rawHeaders[i + 1]!);
  }
  const headers = values.length === 0 ? {} : { 'x-request-id': values.join(', ') };
  return { headers, rawHeaders };
}

describe('requestIdOf', () => {
  test("keeps the client's id", () => {
    assert.equal(requestIdOf(request(['X-Request-Id', 'abc-1'])), 'abc-1');
  });

  test('generates a UUID when the client sent none, an empty one or an overlong one', () => {
    assert.match(requestIdOf(request([])), UUID);
    assert.match(requestIdOf(request(['X-Request-Id', ''])), UUID);
    assert.match(requestIdOf(request(['X-Request-Id', 'x'.repeat(201)])), UUID);
  });

  test('generates a different id for every request', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 1000; i++) ids.add(requestIdOf(request([])));
    assert.equal(ids.size, 1000);
  });

  test('keeps the first of two X-Request-Id fields', () => {
    assert.equal(
      requestIdOf(request(['Host', 'a', 'X-Request-Id', 'first', 'x-request-id', 'second'])),
      'first',
    );
  });

  test('generates a UUID when the first of two fields is empty', () => {
    assert.match(requestIdOf(request(['X-Request-Id', '', 'X-Request-Id', 'second'])), UUID);
  });
});
