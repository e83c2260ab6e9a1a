/**
 * The certificates of one TLS listener: it picks a certificate per handshake by server name (SNI,
 * wildcards allowed, the first certificate for clients that send no name or an unknown one), and
 * it follows the files on disk so a renewed certificate is served without a restart.
 *
 * Rotation, certbot-style: the files are polled on a {@link Clock} (a `stat` of each, cheap, and
 * unlike `fs.watch` it sees a symlink swapped under `live/`). A pair whose files changed is
 * reloaded once they have stayed unchanged for one whole interval, because renewal tools write the
 * certificate and the key one after the other and a pair read between the two writes would not
 * match. A pair that loads is swapped in with one assignment: handshakes from then on get it,
 * connections already open keep theirs. A pair that does not load (unreadable, not PEM, key of
 * another certificate) leaves the old one serving and is reported once, with its config path,
 * until its files change again.
 */
import { stat } from 'node:fs/promises';
import type { SecureContext } from 'node:tls';
import { type Clock, systemClock, type TimerHandle } from 'breakwater';
import { ConfigError, type ConfigIssue } from '../config/config-error.ts';
import {
  CertificateError,
  type CertificatePair,
  type CertificateSource,
  type ContextSettings,
  loadCertificatePair,
} from './certificate-pair.ts';
import { SniIndex } from './sni-index.ts';

/** Options of {@link CertificateStore.load}. */
export interface CertificateStoreOptions {
  /** At least one pair; the first also answers clients without (or with an unknown) SNI name. */
  readonly certificates: readonly CertificateSource[];
  /** Protocol settings for every context (`minVersion` …). */
  readonly settings?: ContextSettings;
  /** Milliseconds between checks of the files; `0` never checks. */
  readonly checkInterval?: number;
  readonly clock?: Clock;
  /** Called after a changed pair has been swapped in. */
  readonly onRotate?: (rotation: CertificateRotation) => void;
  /** Called when a changed pair cannot be loaded; the old one keeps serving. */
  readonly onError?: (error: CertificateError) => void;
}

/** A pair replaced by a newer version of its files. */
export interface CertificateRotation {
  readonly previous: CertificatePair;
  readonly current: CertificatePair;
}

/** What the admin API and metrics show of one served certificate. */
export interface CertificateInfo {
  /** Config path of the entry (`listen[0].tls.certificates[1]`). */
  readonly path: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly names: readonly string[];
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  readonly fingerprint256: string;
  readonly validFrom: Date;
  readonly validTo: Date;
  /** The last failed reload of this entry's files, while they stay as they were then. */
  readonly lastError?: { readonly code: string; readonly message: string };
}

/** The served pair of one config entry and what the file checker knows about its files. */
interface Entry {
  pair: CertificatePair;
  /** Stamp of the files the served pair was read from. */
  loadedStamp: string;
  /** A differing stamp seen at the last check, waiting to stay put for one interval. */
  pendingStamp?: string;
  /** Stamp of files that failed to load, so the same failure is reported once. */
  failedStamp?: string;
  lastError?: CertificateError;
}

const PREPARED = Symbol('prepared');

/** A checked set waiting for {@link CertificateStore.commit}. */
export interface PreparedCertificates {
  readonly [PREPARED]: { readonly served: Served; readonly settings: ContextSettings };
}

/** The served state, replaced as a whole so a handshake sees either all of an update or none. */
interface Served {
  readonly entries: readonly Entry[];
  readonly index: SniIndex<CertificatePair>;
}

/**
 * A listener's certificates.
 *
 * @example
 * const store = await CertificateStore.load({
 *   certificates: [{ cert: 'api.pem', key: 'api.key', path: 'listen[0].tls.certificates[0]' }],
 *   settings: { minVersion: 'TLSv1.2' },
 *   checkInterval: 5_000,
 *   onError: (error) => log.error({ err: error, path: error.path }, 'certificate not reloaded'),
 * });
 * const server = http2.createSecureServer({ ...store.serverOptions(), allowHTTP1: true });
 * store.attach(server);
 */
export class CertificateStore {
  #served: Served;
  #settings: ContextSettings;
  readonly #clock: Clock;
  readonly #checkInterval: number;
  readonly #onRotate: ((rotation: CertificateRotation) => void) | undefined;
  readonly #onError: ((error: CertificateError) => void) | undefined;
  readonly #defaultListeners = new Set<(pair: CertificatePair) => void>();
  #timer: TimerHandle | undefined;
  #checking: Promise<void> | undefined;
  #closed = false;

  private constructor(served: Served, options: CertificateStoreOptions) {
    this.#served = served;
    this.#settings = options.settings ?? {};
    this.#clock = options.clock ?? systemClock;
    this.#checkInterval = options.checkInterval ?? 0;
    this.#onRotate = options.onRotate;
    this.#onError = options.onError;
    this.#schedule();
  }

  /**
   * Reads and checks every pair. Throws a {@link ConfigError} listing every pair that cannot be
   * served, each under the config path of the offending field.
   */
  static async load(options: CertificateStoreOptions): Promise<CertificateStore> {
    const served = await loadAll(options.certificates, options.settings ?? {});
    return new CertificateStore(served, options);
  }

  /**
   * Reads and checks every pair as {@link load} does, and keeps nothing: for a process that
   * serves no TLS itself but must refuse a config its TLS listeners could not start with (the
   * cluster primary, before its workers are given the config).
   */
  static async check(
    certificates: readonly CertificateSource[],
    settings: ContextSettings = {},
  ): Promise<void> {
    await loadAll(certificates, settings);
  }

  /**
   * The `SNICallback` of the listener: the pair whose names cover `serverName`, else the first.
   * Synchronous and allocation-free, since it runs on every handshake.
   */
  readonly SNICallback = (
    serverName: string,
    callback: (error: Error | null, context?: SecureContext) => void,
  ): void => {
    callback(null, this.select(serverName).context);
  };

  /** The pair a client asking for `serverName` gets. */
  select(serverName: string): CertificatePair {
    const served = this.#served;
    return served.index.lookup(serverName) ?? served.entries[0]!.pair;
  }

  /** The pair served to clients that send no server name. */
  get defaultPair(): CertificatePair {
    return this.#served.entries[0]!.pair;
  }

  /**
   * Options to create the TLS server with: the SNI callback, the default pair and the protocol
   * settings. Use {@link attach} too, or a rotated default pair never reaches no-SNI clients.
   */
  serverOptions(): ContextSettings & {
    SNICallback: CertificateStore['SNICallback'];
    cert: Buffer;
    key: Buffer;
  } {
    const pair = this.defaultPair;
    return {
      ...this.#settings,
      SNICallback: this.SNICallback,
      cert: pair.certPem,
      key: pair.keyPem,
    };
  }

  /**
   * Keeps `server`'s own context (the one for clients without SNI) on the current default pair.
   * Returns a function that stops doing so.
   */
  attach(server: { setSecureContext(options: object): void }): () => void {
    const update = (pair: CertificatePair): void => {
      server.setSecureContext({ ...this.#settings, cert: pair.certPem, key: pair.keyPem });
    };
    this.#defaultListeners.add(update);
    return () => this.#defaultListeners.delete(update);
  }

  /** What is being served, in config order. */
  list(): CertificateInfo[] {
    return this.#served.entries.map(({ pair, lastError }) => ({
      path: pair.source.path,
      certFile: pair.source.cert,
      keyFile: pair.source.key,
      names: pair.names,
      subject: pair.subject,
      issuer: pair.issuer,
      serialNumber: pair.serialNumber,
      fingerprint256: pair.fingerprint256,
      validFrom: pair.validFrom,
      validTo: pair.validTo,
      ...(lastError && { lastError: { code: lastError.code, message: lastError.message } }),
    }));
  }

  /**
   * Reads and checks a new set (a config reload) without serving it yet, so a reload touching
   * several listeners can check them all before swapping any. Throws a {@link ConfigError} when
   * any pair cannot be served; nothing changes then.
   */
  async prepare(
    certificates: readonly CertificateSource[],
    settings: ContextSettings = this.#settings,
  ): Promise<PreparedCertificates> {
    const served = await loadAll(certificates, settings);
    return { [PREPARED]: { served, settings } };
  }

  /** Serves a set from {@link prepare}. */
  commit(prepared: PreparedCertificates): void {
    if (this.#closed) return;
    const { served, settings } = prepared[PREPARED];
    this.#settings = settings;
    this.#served = served;
    this.#announceDefault();
  }

  /** {@link prepare} then {@link commit}: the old set keeps serving when the new one is bad. */
  async replace(
    certificates: readonly CertificateSource[],
    settings: ContextSettings = this.#settings,
  ): Promise<void> {
    this.commit(await this.prepare(certificates, settings));
  }

  /**
   * Checks the files once and swaps in every pair that changed and has settled (see the file's
   * opening comment). The store calls this every `checkInterval`; calling it between is harmless.
   */
  checkFiles(): Promise<void> {
    this.#checking ??= this.#check().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  /** Stops checking the files. Connections and the served pairs are left alone. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#defaultListeners.clear();
  }

  #schedule(): void {
    if (this.#closed || this.#checkInterval <= 0) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      void this.checkFiles().finally(() => this.#schedule());
    }, this.#checkInterval);
  }

  async #check(): Promise<void> {
    const served = this.#served;
    const stamps = await Promise.all(served.entries.map(({ pair }) => stampOf(pair.source)));
    const changed: Array<{ entry: Entry; stamp: string }> = [];
    served.entries.forEach((entry, i) => {
      const stamp = stamps[i]!;
      if (stamp === entry.loadedStamp) {
        entry.pendingStamp = undefined;
        entry.failedStamp = undefined;
        entry.lastError = undefined;
      } else if (stamp !== entry.pendingStamp) {
        entry.pendingStamp = stamp; // changed since the last look: let it settle
      } else if (stamp !== entry.failedStamp) {
        changed.push({ entry, stamp });
      }
    });
    if (changed.length === 0) return;

    const rotations: CertificateRotation[] = [];
    const replaced = new Map<Entry, Entry>();
    await Promise.all(
      changed.map(async ({ entry, stamp }) => {
        try {
          const pair = await loadCertificatePair(entry.pair.source, this.#settings);
          if (pair.certPem.equals(entry.pair.certPem) && pair.keyPem.equals(entry.pair.keyPem)) {
            entry.loadedStamp = stamp; // rewritten with the same bytes (a touch): nothing to do
            entry.pendingStamp = undefined;
            return;
          }
          replaced.set(entry, { pair, loadedStamp: stamp });
          rotations.push({ previous: entry.pair, current: pair });
        } catch (cause) {
          const error =
            cause instanceof CertificateError
              ? cause
              : new CertificateError(
                  'ERR_CERTIFICATE_INVALID',
                  entry.pair.source.path,
                  entry.pair.source.cert,
                  `reloading ${entry.pair.source.cert} failed: ${String(cause)}`,
                  { cause },
                );
          entry.failedStamp = stamp;
          entry.lastError = error;
          this.#onError?.(error);
        }
      }),
    );
    // A replace() during the loads wins: its pairs are newer than these files' old versions.
    if (replaced.size === 0 || this.#closed || this.#served !== served) return;
    const entries = served.entries.map((entry) => replaced.get(entry) ?? entry);
    this.#served = { entries, index: indexOf(entries) };
    if (replaced.has(served.entries[0]!)) this.#announceDefault();
    for (const rotation of rotations) this.#onRotate?.(rotation);
  }

  #announceDefault(): void {
    const pair = this.defaultPair;
    for (const listener of this.#defaultListeners) listener(pair);
  }
}

async function loadAll(
  certificates: readonly CertificateSource[],
  settings: ContextSettings,
): Promise<Served> {
  if (certificates.length === 0) {
    throw new ConfigError([{ path: '', message: 'a TLS listener needs at least one certificate' }]);
  }
  const results = await Promise.allSettled(
    certificates.map(async (source) => {
      const stamp = await stampOf(source);
      const pair = await loadCertificatePair(source, settings);
      return { pair, loadedStamp: stamp } satisfies Entry;
    }),
  );
  const issues: ConfigIssue[] = [];
  const entries: Entry[] = [];
  for (const result of results) {
    if (result.status === 'fulfilled') entries.push(result.value);
    else if (result.reason instanceof CertificateError) {
      issues.push({ path: result.reason.path, message: result.reason.message });
    } else throw result.reason;
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return { entries, index: indexOf(entries) };
}

function indexOf(entries: readonly Entry[]): SniIndex<CertificatePair> {
  return new SniIndex(entries.map(({ pair }) => ({ names: pair.names, value: pair })));
}

/**
 * What identifies one version of a pair's files: device, inode, size and times of both. `stat`
 * follows symlinks, so certbot's swap of `live/x/cert.pem` to a new `archive/` file shows as a new
 * inode. A missing file has a stamp too, so it counts as a change (and then fails to load).
 */
async function stampOf(source: CertificateSource): Promise<string> {
  const [cert, key] = await Promise.all([fileStamp(source.cert), fileStamp(source.key)]);
  return `${cert}|${key}`;
}

async function fileStamp(file: string): Promise<string> {
  try {
    const s = await stat(file);
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch (error) {
    return `missing:${(error as { code?: string }).code ?? 'unknown'}`;
  }
}
