/**
 * Stops reading a client connection for good while it stays open for what is still to be
 * written (a refusal past the pipelining limit, a lingering close). node resumes a paused socket
 * by itself whenever a request on it reads its body, so a plain `pause()` does not hold: read on,
 * node's parser would make a request and a response object of everything the client sends.
 */
import type { Socket } from 'node:net';

const stopped = new WeakSet<object>();

/**
 * Pauses `socket` and keeps it paused; a second call does nothing.
 *
 * @example
 * stopReading(req.socket); // nothing more is parsed on this connection
 */
export function stopReading(socket: Socket): void {
  if (stopped.has(socket)) return;
  stopped.add(socket);
  socket.pause();
  socket.on('resume', () => socket.pause());
}
