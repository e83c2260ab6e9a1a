import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toOriginForm, toOriginFormRequest } from '../../src/http/request-target.ts';
import { proxyYaml, rawExchange, startServer, startTestProxy } from '../support/proxy-harness.ts';

describe('toOriginForm', () => {
  test('turns an absolute-form target into a path and Host', () => {
    assert.deepEqual(toOriginForm('http://api.example.com:8080/v1/users?x=1'), {
      path: '/v1/users?x=1',
      host: 'api.example.com:8080',
    });
  });

  test('refuses asterisk-form, authority-form and junk', () => {
    assert.equal(toOriginForm('*'), undefined);
    assert.equal(toOriginForm('example.com:443'), undefined);
    assert.equal(toOriginForm('http://'), undefined);
  });
});

describe('toOriginFormRequest', () => {
  test('leaves an origin-form request alone', () => {
    const req = { url: '/a?b', headers: { host: 'h' } };
    assert.equal(toOriginFormRequest(req), '/a?b');
    assert.deepEqual(req, { url: '/a?b', headers: { host: 'h' } });
  });

  test('rewrites an absolute-form request to origin-form with the authority as Host', () => {
    const req = { url: 'http://other.example:81/ws?q=1', headers: { host: 'public.example' } };
    assert.equal(toOriginFormRequest(req), '/ws?q=1');
    assert.deepEqual(req, { url: '/ws?q=1', headers: { host: 'other.example:81' } });
  });

  test('returns undefined for a target it cannot forward and changes nothing', () => {
    const req = { url: '*', headers: { host: 'h' } };
    assert.equal(toOriginFormRequest(req), undefined);
    assert.deepEqual(req, { url: '*', headers: { host: 'h' } });
  });
});

test('forwards absolute-form in origin-form with the target authority as Host, and answers 400 to OPTIONS *', async () => {
  const upstream = await startServer((req, res) => res.end(`${req.headers.host} ${req.url}`));
  const proxy = await startTestProxy(proxyYaml([upstream.url]));
  try {
    const absolute = await rawExchange(
      proxy.port,
      'GET http://shop.example/cart?id=3 HTTP/1.1\r\nHost: ignored.example\r\nConnection: close\r\n\r\n',
    );
    assert.match(absolute, /^HTTP\/1\.1 200 /);
    assert.match(absolute, /shop\.example \/cart\?id=3$/);
    const asterisk = await rawExchange(
      proxy.port,
      'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    assert.match(asterisk, /^HTTP\/1\.1 400 /);
    assert.match(asterisk, /"code":"BAD_REQUEST"/);
  } finally {
    await proxy.close();
    await upstream.close();
  }
});
