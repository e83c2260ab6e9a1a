import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFile, utimes } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import { ManualClock } from 'breakwater';
import { ConfigError } from '../../src/config/config-error.ts';
import type { CertificateError } from '../../src/tls/certificate-pair.ts';
import {
  type CertificateRotation,
  CertificateStore,
  type CertificateStoreOptions,
} from '../../src/tls/certificate-store.ts';
import { createTestCa, type PemFiles, type TestCa } from '../support/certificates.ts';
import { useTempDir } from '../support/temp-dir.ts';

const INTERVAL = 1_000;

/** A TLS echo server on loopback serving `store`. */
async function tlsServer(store: CertificateStore): Promise<{ server: Server; port: number }> {
  const server = createServer(store.serverOptions(), (socket) => socket.pipe(socket));
  store.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

/** Opens a connection asking for `serverName` (none when undefined) and returns it when secure. */
async function handshake(port: number, serverName?: string): Promise<TLSSocket> {
  const socket = connect({
    port,
    host: '127.0.0.1',
    ...(serverName === undefined ? {} : { servername: serverName }),
    rejectUnauthorized: false,
  });
  await once(socket, 'secureConnect');
  return socket;
}

/** The subject CN and fingerprint a client asking for `serverName` is shown. */
async function servedTo(port: number, serverName?: string): Promise<{ cn: string; fp: string }> {
  const socket = await handshake(port, serverName);
  const peer = socket.getPeerCertificate();
  socket.destroy();
  return { cn: String(peer.subject.CN), fp: peer.fingerprint256 };
}

describe('CertificateStore', () => {
  const inTempDir = useTempDir('breakwater-certstore-');
  let ca: TestCa;
  let api: PemFiles;
  let wild: PemFiles;
  let www: PemFiles;
  before(async () => {
    ca = await createTestCa(inTempDir('.'));
    [api, wild, www] = await Promise.all([
      ca.issue('api', { names: ['api.test'] }),
      ca.issue('wild', { names: ['*.apps.test'] }),
      ca.issue('www', { names: ['www.test'] }),
    ]);
  });

  const entry = (files: PemFiles, i: number) => ({
    ...files,
    path: `listen[0].tls.certificates[${i}]`,
  });

  describe('picking a certificate by server name', () => {
    let store: CertificateStore;
    let server: Server;
    let port: number;
    before(async () => {
      store = await CertificateStore.load({
        certificates: [entry(api, 0), entry(www, 1), entry(wild, 2)],
      });
      ({ server, port } = await tlsServer(store));
    });
    after(() => {
      store.close();
      server.close();
    });

    test('each of two names gets its own certificate', async () => {
      assert.equal((await servedTo(port, 'api.test')).cn, 'api.test');
      assert.equal((await servedTo(port, 'www.test')).cn, 'www.test');
    });

    test('a name under the wildcard gets the wildcard certificate', async () => {
      assert.equal((await servedTo(port, 'shop.apps.test')).cn, '*.apps.test');
    });

    test('an unknown name and a client without SNI get the first certificate', async () => {
      assert.equal((await servedTo(port, 'unknown.test')).cn, 'api.test');
      assert.equal((await servedTo(port)).cn, 'api.test');
    });

    test('a client that verifies against the CA accepts what it is served', async () => {
      const socket = connect({ port, host: '127.0.0.1', servername: 'shop.apps.test', ca: ca.pem });
      await once(socket, 'secureConnect');
      assert.equal(socket.authorized, true);
      socket.destroy();
    });

    test('lists what it serves, for the admin API and the expiry gauge', () => {
      const listed = store.list();
      assert.deepEqual(
        listed.map((c) => [c.path, c.names, c.keyFile]),
        [
          ['listen[0].tls.certificates[0]', ['api.test'], api.key],
          ['listen[0].tls.certificates[1]', ['www.test'], www.key],
          ['listen[0].tls.certificates[2]', ['*.apps.test'], wild.key],
        ],
      );
      assert.ok(listed.every((c) => c.validTo.getTime() > Date.now() && c.lastError === undefined));
    });
  });

  test('refuses to load, listing every bad pair under its config path', async () => {
    const stray = await ca.strayKey('stray-load');
    await assert.rejects(
      CertificateStore.load({
        certificates: [
          entry(api, 0),
          { cert: inTempDir('absent.pem'), key: api.key, path: 'listen[1].tls.certificates[1]' },
          { cert: www.cert, key: stray, path: 'listen[1].tls.certificates[2]' },
        ],
      }),
      (error) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(
          error.issues.map((i) => i.path),
          ['listen[1].tls.certificates[1].cert', 'listen[1].tls.certificates[2].key'],
        );
        assert.match(error.message, /absent\.pem/);
        assert.match(error.message, /stray-load\.key is not the private key/);
        return true;
      },
    );
  });

  describe('rotation', () => {
    /** A store on its own copies of the api and www pairs, checked on a manual clock. */
    async function rotating(extra: Partial<CertificateStoreOptions> = {}) {
      const name = `rot-${Math.random().toString(36).slice(2)}`;
      const files = await ca.issue(name, { names: ['api.test'] });
      const clock = new ManualClock();
      const rotations: CertificateRotation[] = [];
      const errors: CertificateError[] = [];
      const store = await CertificateStore.load({
        certificates: [entry(files, 0), entry(www, 1)],
        clock,
        checkInterval: INTERVAL,
        onRotate: (r) => rotations.push(r),
        onError: (e) => errors.push(e),
        ...extra,
      });
      const { server, port } = await tlsServer(store);
      /** Lets the clock fire the next check and waits for it to finish. */
      const check = async () => {
        clock.advance(INTERVAL);
        await store.checkFiles();
      };
      const close = () => {
        store.close();
        server.close();
      };
      return { name, files, clock, store, port, rotations, errors, check, close };
    }

    test('a renewed pair is served to new handshakes once its files have settled', async () => {
      const r = await rotating();
      try {
        const before = await servedTo(r.port, 'api.test');
        const open = await handshake(r.port, 'api.test');
        const renewed = await ca.issue(r.name, { names: ['api.test'], days: 2 });
        assert.deepEqual(renewed, r.files);

        await r.check(); // seen changed: waits one interval in case the key is still being written
        assert.equal((await servedTo(r.port, 'api.test')).fp, before.fp);
        await r.check();
        const after = await servedTo(r.port, 'api.test');
        assert.notEqual(after.fp, before.fp);
        assert.equal(r.rotations.length, 1);
        assert.equal(r.rotations[0]!.previous.fingerprint256, before.fp);
        assert.equal(r.rotations[0]!.current.fingerprint256, after.fp);
        assert.equal((await servedTo(r.port)).fp, after.fp, 'clients without SNI follow too');

        // The connection opened before the rotation still carries traffic.
        open.write('still here');
        const [echo] = (await once(open, 'data')) as [Buffer];
        assert.equal(echo.toString(), 'still here');
        open.destroy();
        assert.deepEqual(r.errors, []);
      } finally {
        r.close();
      }
    });

    test('a certificate written before its key is not loaded half-way', async () => {
      const r = await rotating();
      try {
        const staging = await ca.issue(`${r.name}-next`, { names: ['api.test'] });
        await copyFile(staging.cert, r.files.cert);
        await r.check();
        await copyFile(staging.key, r.files.key); // the renewal tool finishes within the interval
        await r.check();
        await r.check();
        assert.deepEqual(r.errors, []);
        assert.equal(r.rotations.length, 1);
        assert.equal(r.store.list()[0]!.fingerprint256, r.rotations[0]!.current.fingerprint256);
      } finally {
        r.close();
      }
    });

    test('a bad new pair keeps the old one serving and is reported once with its path', async () => {
      const r = await rotating();
      try {
        const before = await servedTo(r.port, 'api.test');
        const stray = await ca.strayKey(`${r.name}-stray`);
        await copyFile(stray, r.files.key);
        await r.check();
        await r.check();
        await r.check();
        assert.equal(r.errors.length, 1);
        assert.equal(r.errors[0]!.code, 'ERR_CERTIFICATE_KEY_MISMATCH');
        assert.equal(r.errors[0]!.path, 'listen[0].tls.certificates[0].key');
        assert.equal((await servedTo(r.port, 'api.test')).fp, before.fp);
        assert.equal(r.store.list()[0]!.lastError?.code, 'ERR_CERTIFICATE_KEY_MISMATCH');

        await ca.issue(r.name, { names: ['api.test'] }); // the operator fixes it
        await r.check();
        await r.check();
        assert.notEqual((await servedTo(r.port, 'api.test')).fp, before.fp);
        assert.equal(r.store.list()[0]!.lastError, undefined);
        assert.equal(r.errors.length, 1);
      } finally {
        r.close();
      }
    });

    test('files touched with the same bytes are no rotation', async () => {
      const r = await rotating();
      try {
        const later = new Date(Date.now() + 60_000);
        await utimes(r.files.cert, later, later);
        await r.check();
        await r.check();
        assert.deepEqual(r.rotations, []);
        assert.deepEqual(r.errors, []);
      } finally {
        r.close();
      }
    });

    test('replacing the set swaps every pair, and a bad set keeps the old one', async () => {
      const r = await rotating();
      try {
        await r.store.replace([entry(wild, 0)]);
        assert.equal((await servedTo(r.port)).cn, '*.apps.test');
        const stray = await ca.strayKey(`${r.name}-replace`);
        await assert.rejects(r.store.replace([{ ...entry(api, 0), key: stray }]), ConfigError);
        assert.equal((await servedTo(r.port)).cn, '*.apps.test');
      } finally {
        r.close();
      }
    });

    test('a prepared set is served only once committed', async () => {
      const r = await rotating();
      try {
        const prepared = await r.store.prepare([entry(wild, 0)]);
        assert.equal((await servedTo(r.port)).cn, 'api.test');
        r.store.commit(prepared);
        assert.equal((await servedTo(r.port)).cn, '*.apps.test');
      } finally {
        r.close();
      }
    });

    test('checks only on its clock, and close stops the checks', async () => {
      const r = await rotating();
      assert.equal(r.clock.pendingTimers, 1);
      await r.check();
      assert.equal(r.clock.pendingTimers, 1, 'the next check is scheduled after one finishes');
      r.close();
      assert.equal(r.clock.pendingTimers, 0);
    });
  });
});
