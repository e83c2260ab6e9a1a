import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { before, describe, test } from 'node:test';
import { CertificateError, loadCertificatePair } from '../../src/tls/certificate-pair.ts';
import { createTestCa, type TestCa } from '../support/certificates.ts';
import { useTempDir } from '../support/temp-dir.ts';

describe('loadCertificatePair', () => {
  const inTempDir = useTempDir('breakwater-pair-');
  let ca: TestCa;
  before(async () => {
    ca = await createTestCa(inTempDir('.'));
  });
  const path = 'listen[0].tls.certificates[2]';

  test('reads the names, validity and a ready context of a matching pair', async () => {
    const files = await ca.issue('wild', { names: ['*.apps.test', 'Apps.test'], days: 3 });
    const pair = await loadCertificatePair({ ...files, path }, { minVersion: 'TLSv1.2' });
    assert.deepEqual(pair.names, ['*.apps.test', 'apps.test']);
    assert.equal(pair.subject, 'CN=*.apps.test');
    assert.equal(pair.issuer, 'CN=Breakwater Test CA');
    const days = (pair.validTo.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 2.9 && days <= 3, `valid for ${days} days`);
    assert.ok(pair.context.context, 'an OpenSSL context was built');
  });

  test('a key of another certificate is refused, naming the key field and its file', async () => {
    const files = await ca.issue('mismatch', { names: ['api.test'] });
    const key = await ca.strayKey('stray');
    await assert.rejects(loadCertificatePair({ cert: files.cert, key, path }, {}), (error) => {
      assert.ok(error instanceof CertificateError);
      assert.equal(error.code, 'ERR_CERTIFICATE_KEY_MISMATCH');
      assert.equal(error.path, `${path}.key`);
      assert.equal(error.file, key);
      assert.match(error.message, /is not the private key of the certificate in/);
      return true;
    });
  });

  test('a missing file is unreadable, naming the field and the file', async () => {
    const files = await ca.issue('missing', { names: ['api.test'] });
    const cert = inTempDir('nowhere.pem');
    await assert.rejects(loadCertificatePair({ cert, key: files.key, path }, {}), {
      code: 'ERR_CERTIFICATE_UNREADABLE',
      path: `${path}.cert`,
      file: cert,
      message: new RegExp(`cannot read ${cert} \\(ENOENT`),
    });
  });

  test('a file that is not PEM is invalid, naming the field', async () => {
    const files = await ca.issue('garbage', { names: ['api.test'] });
    await writeFile(files.key, 'not a key\n');
    await assert.rejects(loadCertificatePair({ ...files, path }, {}), {
      code: 'ERR_CERTIFICATE_INVALID',
      path: `${path}.key`,
    });
    await writeFile(files.cert, 'not a certificate\n');
    await assert.rejects(loadCertificatePair({ ...files, path }, {}), {
      code: 'ERR_CERTIFICATE_INVALID',
      path: `${path}.cert`,
    });
  });
});
