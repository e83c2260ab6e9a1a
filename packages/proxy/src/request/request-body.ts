/**
 * The request body on its way upstream: `limits.maxBodySize` for bodies whose length is not
 * declared up front (chunked), the read-ahead that keeps a small body in memory before a target
 * is chosen, and the replay copy kept of a chunked body while it streams, so that a retry can
 * send it again.
 */
import { PassThrough, type Readable, Transform, type TransformCallback } from 'node:stream';
import { BreakwaterError } from 'breakwater';

/** A request body grew past `limits.maxBodySize`. */
export class BodyTooLargeError extends BreakwaterError {
  readonly limit: number;

  constructor(limit: number) {
    super('ERR_BODY_TOO_LARGE', `Request body exceeds ${limit} bytes`);
    this.limit = limit;
  }
}

/**
 * The client's request body broke its own framing (a chunk size line that is not hex, …) after
 * the request was admitted, perhaps with its head and first chunks already upstream. `reason` is
 * the parser's code (`HPE_INVALID_CHUNK_SIZE`).
 */
export class MalformedBodyError extends BreakwaterError {
  readonly reason: string;

  constructor(reason: string) {
    super('ERR_MALFORMED_BODY', `Malformed request body${reason === '' ? '' : ` (${reason})`}`);
    this.reason = reason;
  }
}

/**
 * The client's request body did not arrive within `limits.requestTimeout` (node's HTTP/1.1
 * server gave up on it), perhaps with its head and first bytes already upstream.
 */
export class BodyTimeoutError extends BreakwaterError {
  constructor() {
    super('ERR_BODY_TIMEOUT', 'Request body was not received within limits.requestTimeout');
  }
}

/** How a request body that node's parser gave up on in the middle failed. */
export type BodyFailure = MalformedBodyError | BodyTimeoutError;

/**
 * Passes bytes through until more than `limit` have gone by, then fails with
 * {@link BodyTooLargeError}; the forwarder answers 413 and closes the connection.
 *
 * @example
 * const limited = request.pipe(new BodyLimit(1_048_576));
 */
export class BodyLimit extends Transform {
  readonly #limit: number;
  #seen = 0;

  constructor(limit: number) {
    super();
    this.#limit = limit;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.#limit) callback(new BodyTooLargeError(this.#limit));
    else callback(null, chunk);
  }
}

/**
 * `req` limited to `limit` bytes: past it, the stream fails with {@link BodyTooLargeError}.
 *
 * @example
 * const body = limitBody(req, config.limits.maxBodySize);
 */
export function limitBody(req: Readable, limit: number): Readable {
  const limited = new BodyLimit(limit);
  req.on('error', (error) => limited.destroy(error));
  return req.pipe(limited);
}

/** Where {@link readAhead} reports. */
export interface ReadAheadResult {
  /** The body: a Buffer (it fit, and can be sent again) or a stream (too large, sent once). */
  done(body: Buffer | Readable): void;
  /** The body failed while it was being read ahead (client gone, or past maxBodySize). */
  failed(error: unknown): void;
}

/**
 * Reads `source` into memory up to `limit` bytes so the body can be replayed on a retry. A body
 * that turns out larger is handed on as one stream (what was read, then the rest) and is never
 * retried. Errors after the body was handed on belong to whoever reads that stream.
 *
 * @example
 * readAhead(req, 65_536, { done: (body) => send(body), failed: (error) => answer(error) });
 */
export function readAhead(source: Readable, limit: number, result: ReadAheadResult): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let handedOn = false;
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
    if (size <= limit) return;
    // Too large to keep: send what was read, then the rest, as one stream.
    handedOn = true;
    source.off('data', onData);
    source.off('end', onEnd);
    source.pause();
    const stream = new PassThrough();
    source.once('error', (error) => stream.destroy(error));
    for (const part of chunks) stream.write(part);
    source.pipe(stream);
    result.done(stream);
  };
  const onEnd = () => {
    handedOn = true;
    result.done(Buffer.concat(chunks, size));
  };
  source.on('data', onData);
  source.once('end', onEnd);
  source.once('error', (error: unknown) => {
    if (!handedOn) result.failed(error);
  });
}

/**
 * A streamed body and the copy of it kept for a retry: {@link stream} is what the first attempt
 * sends, at the client's pace (nothing waits for the body to end); up to `limit` bytes are kept
 * on the side. Once the source has ended within the limit, {@link body} is the whole body, which
 * a retry can send again; past the limit the copy is dropped and the body is sent once only.
 * The source is read to its end even when the first attempt failed and dropped the stream, so a
 * retry can wait for a body that is still arriving ({@link whenSettled}).
 *
 * @example
 * const tee = new ReplayTee(req, 65_536);
 * dispatch(tee.stream);
 * // after a failure:
 * tee.whenSettled(() => (tee.body === undefined ? answerFailure() : retry(tee.body)));
 */
export class ReplayTee {
  /** The body for the first attempt. */
  readonly stream = new PassThrough();
  /** The whole body, once it has ended within the limit. */
  body: Buffer | undefined;
  #state: 'reading' | 'complete' | 'too-large' | 'failed' = 'reading';
  #chunks: Buffer[] = [];
  #size = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(source: Readable, limit: number) {
    const stream = this.stream;
    // The stream's errors are the attempt's business: undici reports them to its handler.
    stream.on('error', () => {});
    const resume = () => source.resume();
    // The attempt dropped the stream (it failed): keep reading for a replay while one may come.
    stream.once('close', () => {
      if (this.#state === 'reading') resume();
    });
    source.on('data', (chunk: Buffer) => {
      if (this.#state === 'reading') {
        this.#size += chunk.length;
        if (this.#size <= limit) this.#chunks.push(chunk);
        else this.#settle('too-large');
      }
      if (!stream.destroyed) {
        if (!stream.write(chunk)) {
          source.pause();
          stream.once('drain', resume);
        }
      } else if (this.#state !== 'reading') {
        // Nothing can use the rest: the attempt is gone and no retry can send this body.
        source.pause();
      }
    });
    source.once('end', () => {
      if (this.#state === 'reading') {
        this.body = Buffer.concat(this.#chunks, this.#size);
        this.#settle('complete');
      }
      stream.end();
    });
    source.once('error', (error: unknown) => {
      this.#settle('failed');
      stream.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  }

  /** Whether the body is still arriving and may yet fit (a retry would have to wait for it). */
  get reading(): boolean {
    return this.#state === 'reading';
  }

  /** Calls `callback` once the body has ended, grown past the limit or failed (now if it has). */
  whenSettled(callback: () => void): void {
    if (this.#state === 'reading') this.#waiting.push(callback);
    else callback();
  }

  #settle(state: 'complete' | 'too-large' | 'failed'): void {
    if (this.#state !== 'reading') return;
    this.#state = state;
    this.#chunks = [];
    for (const callback of this.#waiting.splice(0)) callback();
  }
}
