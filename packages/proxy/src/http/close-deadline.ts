/**
 * The last word on a connection the proxy gives up on (a malformed request, an oversized head, a
 * refused upgrade, a request body that failed): the answer is written and the socket ended, and
 * the client has {@link CLOSE_DEADLINE_MS} of quiet to close its side. A client that never reads
 * or closes must not pin the socket, and its file descriptor, for ever: past the deadline the
 * socket is destroyed.
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** How long an ended connection may sit idle before it is destroyed (ms). */
export const CLOSE_DEADLINE_MS = 2_000;

/**
 * Destroys `socket` once it has been idle for {@link CLOSE_DEADLINE_MS}: for a socket already
 * answered and ended by someone else. Only a `net.Socket` has the timer (a TLS socket is one);
 * other duplexes close with their own transport.
 *
 * @example
 * socket.end(answer);
 * destroyUnlessClosed(socket);
 */
export function destroyUnlessClosed(socket: Duplex): void {
  if (socket instanceof Socket) socket.setTimeout(CLOSE_DEADLINE_MS, () => socket.destroy());
}

/**
 * Writes `answer` as the last bytes on `socket`, ends it, and destroys it unless the client
 * closes within the deadline.
 *
 * @example
 * endWithDeadline(socket, rawErrorResponse('BAD_REQUEST', 'Malformed request'));
 */
export function endWithDeadline(socket: Duplex, answer: string): void {
  socket.end(answer);
  destroyUnlessClosed(socket);
}
