/**
 * The request body on its way upstream: `limits.maxBodySize` for bodies whose length is not
 * declared up front (chunked), and the read-ahead that keeps a small body in memory so that a
 * retry can send it again.
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
