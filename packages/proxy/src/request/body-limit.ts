/** Enforces `limits.maxBodySize` on bodies whose length is not declared up front (chunked). */
import { Transform, type TransformCallback } from 'node:stream';
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
