/**
 * One certificate and its private key, read from files and checked before anything serves them:
 * the certificate parses, the key parses, the key belongs to the certificate
 * (`X509Certificate.checkPrivateKey`), and OpenSSL accepts both in a secure context. Each failure
 * is a {@link CertificateError} naming the config path and the file, so "which of my twelve
 * certificates is wrong" never needs a debugger. A pair that passes carries what SNI, the admin
 * API and the expiry gauge need: its DNS names, validity dates and the ready secure context.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { BreakwaterError } from 'breakwater';

/** Where a pair comes from: its two files and the config path of its entry. */
export interface CertificateSource {
  /** PEM file holding the certificate, optionally followed by its intermediate chain. */
  readonly cert: string;
  /** PEM file holding the unencrypted private key. */
  readonly key: string;
  /** Config path of this entry, e.g. `listen[0].tls.certificates[1]`. */
  readonly path: string;
}

/** Stable codes of {@link CertificateError}. */
export type CertificateErrorCode =
  | 'ERR_CERTIFICATE_UNREADABLE'
  | 'ERR_CERTIFICATE_INVALID'
  | 'ERR_CERTIFICATE_KEY_MISMATCH';

/**
 * A certificate or key that cannot be served. `path` is the config path of the offending field
 * (`listen[0].tls.certificates[1].key`), `file` the file it points at.
 *
 * @example
 * try { await loadCertificatePair(source, {}); } catch (error) {
 *   if (error instanceof CertificateError) console.error(error.path, error.file, error.message);
 * }
 */
export class CertificateError extends BreakwaterError {
  readonly path: string;
  readonly file: string;

  constructor(
    code: CertificateErrorCode,
    path: string,
    file: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
    this.path = path;
    this.file = file;
  }
}

/** A checked pair, ready to serve. */
export interface CertificatePair {
  readonly source: CertificateSource;
  /** Lower-case DNS names from subjectAltName, or the subject CN when there is none. */
  readonly names: readonly string[];
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  readonly fingerprint256: string;
  readonly validFrom: Date;
  readonly validTo: Date;
  /** The file contents, so a rotation that rewrote identical bytes is recognised as no change. */
  readonly certPem: Buffer;
  readonly keyPem: Buffer;
  readonly context: SecureContext;
}

/**
 * Protocol settings every context of a listener shares: a context picked by SNI replaces the
 * listener's for that connection, so it must carry the same floor.
 */
export type ContextSettings = Pick<
  SecureContextOptions,
  'minVersion' | 'maxVersion' | 'ciphers' | 'ecdhCurve' | 'honorCipherOrder'
>;

/**
 * Reads and checks one pair.
 *
 * @example
 * const pair = await loadCertificatePair(
 *   { cert: '/etc/bw/api.pem', key: '/etc/bw/api.key', path: 'listen[0].tls.certificates[0]' },
 *   { minVersion: 'TLSv1.2' },
 * );
 * pair.names; // ['api.example.com']
 */
export async function loadCertificatePair(
  source: CertificateSource,
  settings: ContextSettings,
): Promise<CertificatePair> {
  const certPath = `${source.path}.cert`;
  const keyPath = `${source.path}.key`;
  const [certPem, keyPem] = await Promise.all([
    readPem(certPath, source.cert),
    readPem(keyPath, source.key),
  ]);

  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch (cause) {
    throw new CertificateError(
      'ERR_CERTIFICATE_INVALID',
      certPath,
      source.cert,
      `${source.cert} is not a PEM certificate (${describe(cause)})`,
      { cause },
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (cause) {
    throw new CertificateError(
      'ERR_CERTIFICATE_INVALID',
      keyPath,
      source.key,
      `${source.key} is not an unencrypted PEM private key (${describe(cause)})`,
      { cause },
    );
  }
  if (!x509.checkPrivateKey(key)) {
    throw new CertificateError(
      'ERR_CERTIFICATE_KEY_MISMATCH',
      keyPath,
      source.key,
      `${source.key} is not the private key of the certificate in ${source.cert}`,
    );
  }
  let context: SecureContext;
  try {
    context = createSecureContext({ ...settings, cert: certPem, key: keyPem });
  } catch (cause) {
    throw new CertificateError(
      'ERR_CERTIFICATE_INVALID',
      source.path,
      source.cert,
      `${source.cert} with ${source.key} was refused by OpenSSL (${describe(cause)})`,
      { cause },
    );
  }
  return {
    source,
    names: dnsNames(x509),
    subject: x509.subject,
    issuer: x509.issuer,
    serialNumber: x509.serialNumber,
    fingerprint256: x509.fingerprint256,
    validFrom: x509.validFromDate,
    validTo: x509.validToDate,
    certPem,
    keyPem,
    context,
  };
}

async function readPem(path: string, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (cause) {
    throw new CertificateError(
      'ERR_CERTIFICATE_UNREADABLE',
      path,
      file,
      `cannot read ${file} (${describe(cause)})`,
      { cause },
    );
  }
}

/**
 * DNS names a certificate is valid for. Node prints subjectAltName as `DNS:a, DNS:b, IP
 * Address:…` and quotes a value holding a comma; no valid DNS name holds one, so a quoted entry is
 * skipped rather than half-parsed.
 */
function dnsNames(x509: X509Certificate): string[] {
  const names: string[] = [];
  for (const entry of (x509.subjectAltName ?? '').split(', ')) {
    if (entry.startsWith('DNS:') && !entry.startsWith('DNS:"')) {
      names.push(entry.slice(4).toLowerCase());
    }
  }
  if (names.length > 0) return names;
  // RFC 6125 lets clients fall back to the CN only without DNS SANs; we index it the same way.
  const cn = x509.subject.split('\n').find((line) => line.startsWith('CN='));
  return cn === undefined ? [] : [cn.slice(3).toLowerCase()];
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
