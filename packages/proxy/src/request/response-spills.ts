/**
 * The proxy's response spilling (`limits.responseSpill`), shared by every response: where spill
 * files go, the per-file and total bounds on what is on disk, and the counts the metrics export.
 * Each spilled response is a {@link ResponseSpill}; this decides whether one may start or grow.
 */
import { randomUUID } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../config/config-error.ts';
import type { ProxyConfig, ResponseSpillConfig } from '../config/schema.ts';
import type { Logger } from '../logger.ts';
import {
  ResponseSpill,
  type SpillBudget,
  type SpillClient,
  type SpillOwner,
  type SpillStart,
} from './response-spill.ts';

/** Why a spill stopped growing and the rest of its response went back to backpressure. */
export type SpillFallback = 'max-file-size' | 'max-total-size' | 'error';

// One warning per this many ms about failing spill files; the rest are counted in the metrics.
const FAILURE_LOG_INTERVAL = 10_000;

/**
 * Starts spills and keeps their bounds and counts.
 *
 * @example
 * const spills = new ResponseSpills({ maxFileSize: 2 ** 30, maxTotalSize: 2 ** 32, directory: '/var/tmp' }, logger);
 * const spill = spills.start(res, owner); // undefined when the total is already on disk
 */
export class ResponseSpills implements SpillBudget {
  readonly directory: string;
  readonly maxFileSize: number;
  readonly maxTotalSize: number;
  /** Responses that spilled to disk, since the start. */
  spilled = 0;
  /** Bytes written to spill files, since the start. */
  bytesWritten = 0;
  /** Spill files open (or being opened) now. */
  files = 0;
  /** Bytes held for spill files now (written or on their way), against `maxTotalSize`. */
  diskBytes = 0;
  /** Spills that stopped growing, by reason. */
  readonly fallbacks: Record<SpillFallback, number> = {
    'max-file-size': 0,
    'max-total-size': 0,
    error: 0,
  };
  readonly #logger: Logger;
  #lastLogged = -Infinity;
  #unlogged = 0;

  constructor(config: ResponseSpillConfig, logger: Logger) {
    this.directory = config.directory;
    this.maxFileSize = config.maxFileSize;
    this.maxTotalSize = config.maxTotalSize;
    this.#logger = logger;
  }

  /**
   * Starts spilling the rest of a response written to `client`, or returns `undefined` when the
   * total bound is reached already (the response then waits for its client, as without spilling).
   * Feeding `client` from the file begins at its `startOn` event.
   */
  start(client: SpillClient, owner: SpillOwner, startOn: SpillStart): ResponseSpill | undefined {
    if (this.diskBytes >= this.maxTotalSize) {
      this.fallbacks['max-total-size']++;
      return undefined;
    }
    this.spilled++;
    return new ResponseSpill(this, client, owner, startOn);
  }

  /**
   * Reserves room for `bytes` more in a file already holding `fileBytes`; returns why not when a
   * bound is in the way (counted).
   */
  reserve(fileBytes: number, bytes: number): SpillFallback | undefined {
    let refused: SpillFallback | undefined;
    if (fileBytes + bytes > this.maxFileSize) refused = 'max-file-size';
    else if (this.diskBytes + bytes > this.maxTotalSize) refused = 'max-total-size';
    if (refused !== undefined) {
      this.fallbacks[refused]++;
      return refused;
    }
    this.diskBytes += bytes;
    return undefined;
  }

  /** Gives back room reserved by {@link reserve} (the file is closed, or a write failed). */
  release(bytes: number): void {
    this.diskBytes -= bytes;
  }

  /**
   * A spill file could not be opened, written, read or removed. Logged at most once every 10 s
   * (a full disk fails every spill at once); every failure that stops a spill from growing is
   * counted (its response goes on with backpressure; a failed read cuts the response).
   */
  failed(error: unknown, what: string, stopsSpill: boolean): void {
    if (stopsSpill) this.fallbacks.error++;
    const now = performance.now();
    if (now - this.#lastLogged < FAILURE_LOG_INTERVAL) {
      this.#unlogged++;
      return;
    }
    this.#logger.warn(
      { err: error, directory: this.directory, alsoFailedSinceLastWarning: this.#unlogged },
      `response spill: ${what} failed`,
    );
    this.#lastLogged = now;
    this.#unlogged = 0;
  }
}

/**
 * Resolves when `limits.responseSpill.directory` takes a spill file (one is created and removed);
 * rejects with a {@link ConfigError} naming that path otherwise. A proxy checks it before it
 * listens, so a directory it cannot write is a config error at start, not a warning under load.
 *
 * @example
 * await checkSpillDirectory(config.limits); // throws ConfigError naming limits.responseSpill.directory
 */
export async function checkSpillDirectory(limits: ProxyConfig['limits']): Promise<void> {
  const spill = limits.responseSpill;
  if (spill === false) return;
  const path = join(spill.directory, `breakwater-spill-check-${process.pid}-${randomUUID()}`);
  try {
    const file = await open(path, 'wx', 0o600);
    await file.close();
    await unlink(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigError([
      {
        path: 'limits.responseSpill.directory',
        message: `cannot create spill files in ${spill.directory} (${reason})`,
      },
    ]);
  }
}
