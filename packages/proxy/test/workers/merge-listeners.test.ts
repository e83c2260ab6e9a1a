import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ListenerView } from '../../src/admin/listeners-view.ts';
import { mergeListeners } from '../../src/workers/merge-listeners.ts';

const certificate = {
  path: 'listen[0].tls',
  certFile: 'cert.pem',
  keyFile: 'key.pem',
  names: ['localhost'],
  subject: 'CN=localhost',
  issuer: 'CN=localhost',
  serialNumber: '01',
  fingerprint256: 'AA:BB',
  validFrom: '2026-01-01T00:00:00.000Z',
  validTo: '2027-01-01T00:00:00.000Z',
  expiresInSeconds: 1000,
};

const https = (open: number, accepted: number, failures = 0): ListenerView => ({
  address: '127.0.0.1:8443',
  kind: 'https',
  protocols: ['h2', 'http/1.1'],
  connections: { open: { h2: open }, accepted: { h2: accepted, 'http/1.1': 1 } },
  tls: {
    minVersion: 'TLSv1.2',
    handshakes: { 'TLSv1.3': accepted },
    handshakeFailures: failures,
    certificates: [certificate],
  },
});
const plain = (open: number): ListenerView => ({
  address: '127.0.0.1:8080',
  kind: 'http',
  protocols: ['http/1.1'],
  connections: { open: { 'http/1.1': open }, accepted: { 'http/1.1': open } },
});

test('sums connections and handshakes over the workers and lists each worker', () => {
  const merged = mergeListeners([
    { pid: 11, listeners: [https(2, 10, 1), plain(1)] },
    { pid: 12, listeners: [https(3, 5), plain(4)] },
  ]);
  assert.equal(merged.length, 2);
  const [tls, http] = merged;
  assert.deepEqual(tls?.connections, { open: { h2: 5 }, accepted: { h2: 15, 'http/1.1': 2 } });
  assert.deepEqual(tls?.tls?.handshakes, { 'TLSv1.3': 15 });
  assert.equal(tls?.tls?.handshakeFailures, 1);
  assert.deepEqual(tls?.tls?.certificates, [certificate]);
  assert.deepEqual(
    tls?.workers.map((row) => [row.pid, row.connections.open.h2, row.handshakeFailures]),
    [
      [11, 2, 1],
      [12, 3, 0],
    ],
  );
  assert.deepEqual(http?.connections.open, { 'http/1.1': 5 });
  assert.equal(http?.tls, undefined);
});

test('shows a certificate reload that failed in any worker', () => {
  const failed = https(0, 0);
  const lastError = { code: 'CERT_RELOAD_FAILED', message: 'no such file' };
  const broken = {
    ...failed,
    tls: { ...failed.tls!, certificates: [{ ...certificate, lastError }] },
  };
  const merged = mergeListeners([
    { pid: 11, listeners: [https(0, 0)] },
    { pid: 12, listeners: [broken] },
  ]);
  assert.deepEqual(merged[0]?.tls?.certificates[0]?.lastError, lastError);
});

test('is empty when no worker answered', () => {
  assert.deepEqual(mergeListeners([]), []);
});
