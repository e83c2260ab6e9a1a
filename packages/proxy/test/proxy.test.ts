import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { loadConfig } from '../src/config/load-config.ts';
import { createLogger } from '../src/logger.ts';
import { startProxy } from '../src/proxy.ts';
import { httpRequest, proxyYaml, startServer, startTestProxy } from './support/proxy-harness.ts';

describe('startProxy', () => {
  test('listens on every configured address', async () => {
    const upstream = await startServer((_req, res) => res.end('ok'));
    const proxy = await startTestProxy(
      proxyYaml([upstream.url]).replace(
        'listen: 127.0.0.1:0',
        'listen: [127.0.0.1:0, 127.0.0.1:0]',
      ),
    );
    try {
      assert.equal(proxy.proxyAddresses.length, 2);
      for (const address of proxy.proxyAddresses) {
        assert.equal((await httpRequest(`http://127.0.0.1:${address.port}/`)).body, 'ok');
      }
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  test('rejects when a port is taken, leaving nothing listening', async () => {
    const taken = await startServer(() => {});
    const config = loadConfig(
      proxyYaml(['http://127.0.0.1:1']).replace('127.0.0.1:0', `127.0.0.1:${taken.port}`),
    );
    try {
      await assert.rejects(startProxy(config, { logger: createLogger('silent') }), {
        name: 'ListenError',
        code: 'ERR_LISTEN',
        syscallCode: 'EADDRINUSE',
        path: 'listen',
        address: `127.0.0.1:${taken.port}`,
      });
    } finally {
      await taken.close();
    }
  });
});

describe('graceful shutdown', () => {
  test('finishes an in-flight request, then refuses new connections', async () => {
    let release: () => void = () => {};
    const { promise: requestArrived, resolve: arrived } = Promise.withResolvers<void>();
    const upstream = await startServer((_req, res) => {
      arrived();
      release = () => res.end('finished');
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url], 'shutdownTimeout: 10s'));
    try {
      const inFlight = httpRequest(`${proxy.url}/slow`);
      await requestArrived;
      const closed = proxy.close();
      // The listener stops accepting while the request is still running.
      await new Promise((resolve) => setTimeout(resolve, 50));
      await assert.rejects(
        new Promise((resolve, reject) => {
          const req = request(`${proxy.url}/new`, { agent: false }, resolve);
          req.on('error', reject);
          req.end();
        }),
        { code: 'ECONNREFUSED' },
      );
      release();
      const response = await inFlight;
      assert.equal(response.status, 200);
      assert.equal(response.body, 'finished');
      assert.equal(response.headers.connection, 'close');
      await closed;
      const refused = await new Promise<boolean>((resolve) => {
        const socket = connect(proxy.port, '127.0.0.1');
        socket.on('connect', () => {
          socket.destroy();
          resolve(false);
        });
        socket.on('error', () => resolve(true));
      });
      assert.equal(refused, true, 'still refused once closed');
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  test('stops waiting for in-flight requests after shutdownTimeout', async () => {
    const { promise: requestArrived, resolve: arrived } = Promise.withResolvers<void>();
    const upstream = await startServer(() => arrived());
    const proxy = await startTestProxy(proxyYaml([upstream.url], 'shutdownTimeout: 200ms'));
    try {
      const inFlight = httpRequest(`${proxy.url}/hang`).then(
        () => 'answered',
        (error: unknown) => error,
      );
      await requestArrived;
      await proxy.close();
      const outcome = await inFlight;
      assert.ok(outcome instanceof Error, 'the hanging request was cut off');
    } finally {
      await upstream.close();
    }
  });
});
