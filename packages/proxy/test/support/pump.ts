/** Writing a large body the way a well-behaved peer does: only as fast as the other side reads. */
import type { Writable } from 'node:stream';

/**
 * Writes `total` bytes into `sink` as repeats of `chunk`, waiting for `'drain'` whenever the
 * sink pushes back, then ends it. Returns how many bytes were handed over so far: a count that
 * stops growing shows the backpressure reached the writer.
 *
 * @example
 * const sent = pumpBody(req, 200 * 1024 * 1024, Buffer.alloc(64 * 1024));
 * // … later
 * assert.ok(sent() < 48 * 1024 * 1024);
 */
export function pumpBody(sink: Writable, total: number, chunk: Buffer): () => number {
  let sent = 0;
  const pump = () => {
    while (sent < total) {
      sent += chunk.length;
      if (!sink.write(chunk)) {
        sink.once('drain', pump);
        return;
      }
    }
    sink.end();
  };
  pump();
  return () => sent;
}
