/**
 * Checks the certificates of every TLS listener of a config without serving them: each key must
 * be its certificate's, each file readable and each pair acceptable to OpenSSL. A process that
 * hands the config to others (the cluster primary) runs it first, so a certificate the workers
 * could not load is a config error here, not a crash loop there.
 */
import { ConfigError, type ConfigIssue } from '../config/config-error.ts';
import type { ListenerEntry } from '../config/listen-schema.ts';
import { CertificateStore } from './certificate-store.ts';

/**
 * Resolves when every TLS listener's certificates load; rejects with a {@link ConfigError}
 * listing each one that does not, under its config path.
 *
 * @example
 * await checkListenCertificates(config.listen); // throws ConfigError naming listen[0].tls…
 */
export async function checkListenCertificates(listen: readonly ListenerEntry[]): Promise<void> {
  const issues: ConfigIssue[] = [];
  for (const entry of listen) {
    if (entry.tls === undefined) continue;
    try {
      await CertificateStore.check(entry.tls.certificates, { minVersion: entry.tls.minVersion });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      issues.push(...error.issues);
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
}
