import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { ConfigError } from '../../src/config/config-error.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { checkListenCertificates } from '../../src/tls/check-listen-certificates.ts';
import { createTestCa, type TestCa } from '../support/certificates.ts';
import { useTempDir } from '../support/temp-dir.ts';

function listenWith(pairs: readonly { cert: string; key: string }[]) {
  const certificates = pairs.map(({ cert, key }) => `{ cert: ${cert}, key: ${key} }`).join(', ');
  return loadConfig(
    `
listen:
  - 127.0.0.1:0
  - { address: 127.0.0.1:0, tls: { certificates: [ ${certificates} ] } }
upstreams: { app: { targets: [ { url: http://127.0.0.1:1 } ] } }
routes: [ { upstream: app } ]
`,
    {},
  ).listen;
}

describe('checkListenCertificates', () => {
  const inTempDir = useTempDir('breakwater-check-certs-');
  let ca: TestCa;
  before(async () => {
    ca = await createTestCa(inTempDir('.'));
  });

  test('resolves when every TLS listener can load its certificates', async () => {
    const good = await ca.issue('good', { names: ['api.test'] });
    await checkListenCertificates(listenWith([good]));
  });

  test('rejects with a ConfigError naming each pair that cannot load, by its config path', async () => {
    const good = await ca.issue('fine', { names: ['api.test'] });
    const other = await ca.issue('other', { names: ['www.test'] });
    const stray = await ca.strayKey('stray');
    await assert.rejects(
      checkListenCertificates(listenWith([good, { cert: other.cert, key: stray }])),
      (error) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(
          error.issues.map(({ path }) => path),
          ['listen[1].tls.certificates[1].key'],
        );
        assert.match(error.issues[0]!.message, /is not the private key of the certificate/);
        return true;
      },
    );
  });
});
