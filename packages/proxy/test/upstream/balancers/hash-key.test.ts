import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashKeyOf, parseHashOn } from '../../../src/upstream/balancers/hash-key.ts';
import { request } from '../../support/balancing.ts';

test('parses each hashOn form', () => {
  assert.deepEqual(parseHashOn('ip'), { source: 'ip' });
  assert.deepEqual(parseHashOn('path'), { source: 'path' });
  assert.deepEqual(parseHashOn('header:X-User-Id'), { source: 'header', name: 'x-user-id' });
  assert.deepEqual(parseHashOn('cookie:Session'), { source: 'cookie', name: 'Session' });
});

test('rejects bad hashOn values with an error naming the option and value', () => {
  for (const bad of [
    '',
    'IP',
    'header',
    'headerx',
    'header:',
    'header:a b',
    'query:x',
    'cookie:a;b',
  ]) {
    assert.throws(
      () => parseHashOn(bad, 'upstreams.api.hashOn'),
      (error: Error & { code?: string }) =>
        error.code === 'ERR_INVALID_OPTION' &&
        error.message.includes('upstreams.api.hashOn') &&
        error.message.includes(JSON.stringify(bad)),
      bad,
    );
  }
});

test('reads the first value of a header', () => {
  const on = parseHashOn('header:X-Tenant');
  assert.equal(hashKeyOf(on, request({ headers: { 'x-tenant': 'acme' } })), 'acme');
  assert.equal(hashKeyOf(on, request({ headers: { 'x-tenant': ['one', 'two'] } })), 'one');
  assert.equal(hashKeyOf(on, request({ headers: { 'x-tenant': '' } })), undefined);
  assert.equal(hashKeyOf(on, request()), undefined);
});

test('reads one cookie out of a Cookie header', () => {
  const on = parseHashOn('cookie:sid');
  const key = (cookie: string) => hashKeyOf(on, request({ headers: { cookie } }));
  assert.equal(key('sid=abc'), 'abc');
  assert.equal(key('theme=dark; sid=abc; lang=en'), 'abc');
  assert.equal(key('xsid=nope;sid=yes'), 'yes');
  assert.equal(key('sid="quoted"'), 'quoted');
  assert.equal(key('sidx=1; other=2'), undefined);
  assert.equal(key('sid='), undefined);
  assert.equal(hashKeyOf(on, request()), undefined);
});

test('uses the path without its query string', () => {
  const on = parseHashOn('path');
  assert.equal(hashKeyOf(on, request({ path: '/img/1.png?v=2' })), '/img/1.png');
  assert.equal(hashKeyOf(on, request({ path: '/plain' })), '/plain');
});

test('uses the client address, if known', () => {
  const on = parseHashOn('ip');
  assert.equal(hashKeyOf(on, request({ remoteAddress: '::1' })), '::1');
  assert.equal(hashKeyOf(on, request({ remoteAddress: undefined })), undefined);
});
