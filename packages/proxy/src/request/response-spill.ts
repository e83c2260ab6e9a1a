/**
 * One response spilled to disk, as nginx's proxy_buffering does with proxy_temp_path: once a
 * client is more than `limits.responseBuffer` behind, the rest of the body is read off the
 * upstream as fast as it comes and appended to a temp file, and the client is fed from that file
 * at its own pace. The upstream connection goes back to the pool as soon as the upstream is done,
 * however slow the client.
 *
 * The file is unlinked as soon as it is open: it lives as long as its descriptor, so neither an
 * abort nor a crash leaves it on disk. Its descriptor is closed only once no read or write is in
 * flight on it (closing under a pending operation could hit a reused descriptor number).
 *
 * Memory per spill stays small: at most {@link WRITE_QUEUE_LIMIT} on its way to the file (the
 * upstream is paused beyond), and {@link FEED_BLOCKS} blocks of {@link FEED_BLOCK} bytes on their
 * way to the client. When the file reaches `maxFileSize` (or the total on disk reaches
 * `maxTotalSize`, or the file cannot be written), it stops growing: the upstream is paused until
 * the client has taken the file, then the rest streams with backpressure, as nginx does past
 * proxy_max_temp_file_size.
 */
import { randomUUID } from 'node:crypto';
import { close, open, read, unlink, writev } from 'node:fs';
import { join } from 'node:path';

/** Bytes read from the file per write to the client. */
const FEED_BLOCK = 16 * 1024;
/** Blocks written to the client and not yet handed to its connection. */
const FEED_BLOCKS = 2;
/** Bytes waiting for the file before the upstream is paused (the disk is behind). */
const WRITE_QUEUE_LIMIT = 64 * 1024;

/** The client's response as a spill writes to it (an HTTP/1.1 or HTTP/2 response). */
export interface SpillClient {
  /** `callback` runs once the chunk is handed to the connection (or failed). */
  write(chunk: Buffer, callback: (error?: Error | null) => void): boolean;
  once(event: SpillStart, listener: () => void): unknown;
  off(event: SpillStart, listener: () => void): unknown;
}

/**
 * When feeding the client from the file may begin: at the `'drain'` after the write that fell
 * behind (what was written before goes out first).
 */
export type SpillStart = 'drain';

/** What a spill reports to: the exchange whose response it carries. */
export interface SpillOwner {
  /** The spill takes upstream data again (it asked for a pause by returning false from push). */
  resume(): void;
  /**
   * The file stopped growing and the client has everything in it: the rest of the response is
   * the owner's to write, with backpressure. The upstream is still paused; resume it.
   */
  handBack(): void;
  /** Everything, up to the upstream's end, was written to the client: time to end it. */
  delivered(): void;
  /** The spill cannot go on (the file could not be read): the response must be cut. */
  failed(error: Error): void;
}

/** The bounds and counts a spill answers to ({@link ResponseSpills}). */
export interface SpillBudget {
  readonly directory: string;
  bytesWritten: number;
  files: number;
  /** Reserves room for `bytes` more in a file holding `fileBytes`; a reason when refused. */
  reserve(fileBytes: number, bytes: number): string | undefined;
  release(bytes: number): void;
  /** A file operation failed; `stopsSpill` when the spill stops growing because of it. */
  failed(error: unknown, what: string, stopsSpill: boolean): void;
}

/**
 * The rest of one response, through a temp file.
 *
 * @example
 * const spill = new ResponseSpill(spills, res, exchange);
 * if (!spill.push(chunk)) controller.pause(); // resumed by exchange.resume()
 * spill.end(); // upstream done; exchange.delivered() follows once the client has it all
 */
export class ResponseSpill {
  readonly #budget: SpillBudget;
  readonly #client: SpillClient;
  readonly #owner: SpillOwner;
  #fd: number | undefined;
  /** File operations in flight (open, unlink, write, read): the descriptor waits for them. */
  #operations = 0;
  #fileClosed = false;
  /** Bytes accepted for the file (written, or queued for writing), reserved in the budget. */
  #fileBytes = 0;
  /** Bytes on disk. */
  #written = 0;
  /** Bytes of the file sent to the client. */
  #readOffset = 0;
  #queue: Buffer[] = [];
  #queueBytes = 0;
  #writing = false;
  #reading = false;
  /** The file takes no more: later chunks wait here, with the upstream paused. */
  #full = false;
  #tail: Buffer[] = [];
  /** Whether push returned false and the owner waits for resume() or handBack(). */
  #paused = false;
  /** The upstream's response ended. */
  #ended = false;
  /** Delivered, handed back or destroyed: nothing more reaches the client from here. */
  #closed = false;
  /** What the client had before the spill began has gone out: feeding from the file may start. */
  #clientReady = false;
  #blocksInFlight = 0;
  readonly #startOn: SpillStart;

  constructor(budget: SpillBudget, client: SpillClient, owner: SpillOwner, startOn: SpillStart) {
    this.#budget = budget;
    this.#client = client;
    this.#owner = owner;
    this.#startOn = startOn;
    budget.files++;
    client.once(startOn, this.#onClientReady);
    this.#open();
  }

  /** Bytes of the response that went to the file. */
  get fileBytes(): number {
    return this.#fileBytes;
  }

  /**
   * Takes the next chunk of the upstream's body. False asks the owner to pause the upstream
   * until {@link SpillOwner.resume} (the disk is behind) or {@link SpillOwner.handBack} (the file
   * is full).
   */
  push(chunk: Buffer): boolean {
    if (this.#closed) return true;
    if (!this.#full) {
      const refused = this.#budget.reserve(this.#fileBytes, chunk.length);
      if (refused === undefined) {
        this.#fileBytes += chunk.length;
        this.#queue.push(chunk);
        this.#queueBytes += chunk.length;
        this.#write();
        if (this.#queueBytes < WRITE_QUEUE_LIMIT) return true;
        this.#paused = true;
        return false;
      }
      this.#full = true;
    }
    this.#tail.push(chunk);
    this.#paused = true;
    this.#feed();
    return false;
  }

  /** The upstream's response ended; the owner hears {@link SpillOwner.delivered} once it is out. */
  end(): void {
    this.#ended = true;
    this.#feed();
  }

  /** Stops at once (client gone, upstream failed, shutdown): the file is closed, nothing leaks. */
  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.off(this.#startOn, this.#onClientReady);
    this.#queue = [];
    this.#tail = [];
    this.#closeFile();
  }

  readonly #onClientReady = (): void => {
    // Feeding waits a tick so the file's bytes follow anything node still flushes from memory.
    process.nextTick(() => {
      this.#clientReady = true;
      this.#feed();
    });
  };

  #open(): void {
    const path = join(this.#budget.directory, `breakwater-spill-${process.pid}-${randomUUID()}`);
    this.#operations++;
    open(path, 'wx+', 0o600, (error, fd) => {
      this.#operations--;
      if (error !== null) {
        this.#budget.failed(error, 'opening a spill file', !this.#closed);
        this.#stopGrowing();
        this.#closeFileOnceIdle();
        this.#feed();
        return;
      }
      this.#fd = fd;
      // Unlinked at once: the data lives as long as the descriptor, and no path is left behind.
      this.#operations++;
      unlink(path, (unlinkError) => {
        this.#operations--;
        if (unlinkError !== null) this.#budget.failed(unlinkError, `removing ${path}`, false);
        this.#closeFileOnceIdle();
      });
      this.#write();
    });
  }

  /** Writes what is queued for the file, one write at a time. */
  #write(): void {
    const fd = this.#fd;
    if (fd === undefined || this.#writing || this.#queue.length === 0 || this.#closed) return;
    const chunks = this.#queue;
    const bytes = this.#queueBytes;
    this.#queue = [];
    this.#queueBytes = 0;
    this.#writing = true;
    this.#operations++;
    writev(fd, chunks, this.#written, (error, written) => {
      this.#operations--;
      this.#writing = false;
      if (this.#closed) {
        this.#closeFileOnceIdle();
        return;
      }
      if (error !== null) {
        // A full disk, say: what did not reach the file waits in memory, in order, and the
        // response goes on with backpressure once the client has what the file holds.
        this.#budget.failed(error, 'writing a spill file', true);
        this.#queue = [...chunks, ...this.#queue];
        this.#queueBytes += bytes;
        this.#stopGrowing();
      } else {
        this.#written += written;
        this.#budget.bytesWritten += written;
        // Regular files take whole writes, but a short one must not lose the rest.
        if (written < bytes) {
          this.#queue = [...skipBytes(chunks, written), ...this.#queue];
          this.#queueBytes += bytes - written;
        }
        this.#write();
      }
      this.#feed();
      if (this.#paused && !this.#full && this.#queueBytes < WRITE_QUEUE_LIMIT) {
        this.#paused = false;
        this.#owner.resume();
      }
    });
  }

  /** The file takes nothing more: what is still queued for it moves to the tail (memory). */
  #stopGrowing(): void {
    this.#full = true;
    if (this.#queueBytes > 0) {
      this.#budget.release(this.#queueBytes);
      this.#fileBytes -= this.#queueBytes;
      this.#tail = [...this.#queue, ...this.#tail];
      this.#queue = [];
      this.#queueBytes = 0;
    }
  }

  /** Sends the client what it can take next: the file in order, then the tail. */
  #feed(): void {
    if (this.#closed || !this.#clientReady || this.#reading) return;
    if (this.#blocksInFlight >= FEED_BLOCKS) return;
    if (this.#readOffset < this.#written) {
      this.#read();
      return;
    }
    // Caught up with the disk: what is left is on its way to the file, or in the tail.
    if (this.#queue.length > 0 || this.#writing || (this.#fd === undefined && !this.#full)) return;
    if (!this.#full && !this.#ended) return;
    for (const chunk of this.#tail) this.#send(chunk);
    this.#tail = [];
    if (!this.#ended && !this.#full) return;
    this.#closed = true;
    this.#client.off(this.#startOn, this.#onClientReady);
    this.#closeFile();
    if (this.#ended) this.#owner.delivered();
    else this.#owner.handBack();
  }

  #read(): void {
    const fd = this.#fd!;
    const length = Math.min(FEED_BLOCK, this.#written - this.#readOffset);
    const block = Buffer.allocUnsafeSlow(length);
    this.#reading = true;
    this.#operations++;
    read(fd, block, 0, length, this.#readOffset, (error, bytesRead) => {
      this.#operations--;
      this.#reading = false;
      if (this.#closed) {
        this.#closeFileOnceIdle();
        return;
      }
      if (error !== null || bytesRead === 0) {
        const failure = error ?? new Error('spill file shorter than written');
        this.#budget.failed(failure, 'reading a spill file', false);
        this.destroy();
        this.#owner.failed(failure);
        return;
      }
      this.#readOffset += bytesRead;
      this.#send(bytesRead === length ? block : block.subarray(0, bytesRead));
      this.#feed();
    });
  }

  #send(chunk: Buffer): void {
    this.#blocksInFlight++;
    this.#client.write(chunk, this.#onSent);
  }

  readonly #onSent = (error?: Error | null): void => {
    this.#blocksInFlight--;
    if (error == null) this.#feed();
  };

  #closeFileOnceIdle(): void {
    if (this.#closed) this.#closeFile();
    // A spill whose file never opened has nothing to close but its count.
    else if (this.#fd === undefined && this.#operations === 0 && this.#full) this.#closeFile();
  }

  /** Closes the descriptor once no operation is in flight on it; gives back the budget. */
  #closeFile(): void {
    if (this.#fileClosed || this.#operations > 0) return;
    this.#fileClosed = true;
    const fd = this.#fd;
    this.#fd = undefined;
    this.#budget.release(this.#fileBytes);
    this.#budget.files--;
    if (fd !== undefined) {
      close(fd, (error) => {
        if (error !== null) this.#budget.failed(error, 'closing a spill file', false);
      });
    }
  }
}

/** `chunks` without their first `bytes` bytes. */
function skipBytes(chunks: readonly Buffer[], bytes: number): Buffer[] {
  const rest: Buffer[] = [];
  let skip = bytes;
  for (const chunk of chunks) {
    if (skip >= chunk.length) skip -= chunk.length;
    else {
      rest.push(skip === 0 ? chunk : chunk.subarray(skip));
      skip = 0;
    }
  }
  return rest;
}
