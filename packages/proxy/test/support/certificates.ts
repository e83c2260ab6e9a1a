/**
 * Certificates made at test time with the system's `openssl` (Debian's openssl 3): a private CA,
 * leaf certificates it signs for any set of DNS names (wildcards too), and a key that matches no
 * certificate. Tests never check key material into the repository and never depend on a clock
 * that makes a fixed certificate expire. EC P-256 keys keep each `openssl` call to milliseconds.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A certificate and its key, as file paths. */
export interface PemFiles {
  readonly cert: string;
  readonly key: string;
}

/** What to put in a leaf certificate. */
export interface LeafOptions {
  /** DNS names for the subjectAltName; the first is also the subject CN. `*.apps.test` allowed. */
  readonly names: readonly string[];
  /** Validity in days from now; 1 unless told. */
  readonly days?: number;
}

/** A CA living in one directory that signs leaf certificates into that directory. */
export interface TestCa {
  /** Path of the CA certificate (PEM), for a client's `ca` option or `curl --cacert`. */
  readonly certPath: string;
  /** The CA certificate's PEM text. */
  readonly pem: string;
  /**
   * Writes `<file>.pem` and `<file>.key` in the CA's directory (overwriting them, which is what a
   * rotation test wants) and returns their paths.
   */
  issue(file: string, options: LeafOptions): Promise<PemFiles>;
  /** Writes a fresh key to `<file>.key` that belongs to no certificate and returns its path. */
  strayKey(file: string): Promise<string>;
}

// A config of our own so the result does not depend on the machine's /etc/ssl/openssl.cnf.
const OPENSSL_CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * Creates a CA in `dir` (an existing, writable directory, usually from `useTempDir`).
 *
 * @example
 * const ca = await createTestCa(inTempDir('.'));
 * const api = await ca.issue('api', { names: ['api.test'] });
 * tls.connect({ port, servername: 'api.test', ca: ca.pem });
 */
export async function createTestCa(dir: string): Promise<TestCa> {
  const config = join(dir, 'openssl.cnf');
  await writeFile(config, OPENSSL_CONFIG);
  const certPath = join(dir, 'test-ca.pem');
  const keyPath = join(dir, 'test-ca.key');
  await run('openssl', [
    'req',
    '-x509',
    '-config',
    config,
    '-extensions',
    'ca',
    ...EC_KEY,
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-days',
    '2',
    '-subj',
    '/CN=Breakwater Test CA',
  ]);
  const pem = await readFile(certPath, 'utf8');
  return {
    certPath,
    pem,
    async issue(file, { names, days = 1 }) {
      if (names.length === 0) throw new TypeError('a leaf certificate needs at least one name');
      const cert = join(dir, `${file}.pem`);
      const key = join(dir, `${file}.key`);
      const san = names.map((name) => `DNS:${name}`).join(',');
      await run('openssl', [
        'req',
        '-x509',
        '-config',
        config,
        '-extensions',
        'leaf',
        ...EC_KEY,
        '-CA',
        certPath,
        '-CAkey',
        keyPath,
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        String(days),
        '-subj',
        `/CN=${names[0]}`,
        '-addext',
        `subjectAltName=${san}`,
      ]);
      return { cert, key };
    },
    async strayKey(file) {
      const key = join(dir, `${file}.key`);
      await run('openssl', [
        'genpkey',
        '-algorithm',
        'EC',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-out',
        key,
      ]);
      return key;
    },
  };
}
