/**
 * Which certificate answers a TLS client hello, by the server name it asked for (SNI). Names are
 * the DNS names a certificate carries; `*.example.com` covers exactly one more label on the left
 * (`api.example.com`, not `example.com` nor `a.b.example.com`), as RFC 6125 §6.4.3 and browsers
 * read it. An exact name beats a wildcard; among equals the certificate listed first wins, as in
 * nginx. The index is immutable: a rotation builds a new one and swaps it in one assignment, so a
 * handshake never sees half of an update.
 */

/**
 * Lower-cases a DNS name and drops one trailing dot (`API.Example.com.` → `api.example.com`).
 *
 * @example
 * normalizeServerName('API.test.'); // 'api.test'
 */
export function normalizeServerName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/**
 * Server names mapped to values (certificates), with wildcards.
 *
 * @example
 * const index = new SniIndex([{ names: ['api.test'], value: api }, { names: ['*.apps.test'], value: wild }]);
 * index.lookup('x.apps.test'); // wild
 * index.lookup('other.test'); // undefined: the caller falls back to its default certificate
 */
export class SniIndex<T> {
  readonly #exact = new Map<string, T>();
  /** Keyed by what follows `*.`: `*.apps.test` is stored under `apps.test`. */
  readonly #wildcard = new Map<string, T>();

  constructor(entries: Iterable<{ readonly names: readonly string[]; readonly value: T }>) {
    for (const { names, value } of entries) {
      for (const raw of names) {
        const name = normalizeServerName(raw);
        if (name.startsWith('*.') && name.length > 2) {
          const parent = name.slice(2);
          if (!this.#wildcard.has(parent)) this.#wildcard.set(parent, value);
        } else if (!name.includes('*') && !this.#exact.has(name)) {
          // A partial wildcard (`a*.test`) is not honoured by clients either; it matches nothing.
          this.#exact.set(name, value);
        }
      }
    }
  }

  /** The value for a client's server name, or `undefined` when no name covers it. */
  lookup(serverName: string): T | undefined {
    const name = normalizeServerName(serverName);
    const exact = this.#exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    if (dot <= 0) return undefined;
    return this.#wildcard.get(name.slice(dot + 1));
  }
}
