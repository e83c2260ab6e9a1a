/**
 * The responses node:http is still writing on an HTTP/1.1 connection. node keeps the response
 * being written on the socket (`_httpMessage`) and assigns the next pipelined request's response
 * there once it has finished. What is written on the socket by other means (a parser error's raw
 * answer, an upgrade's tunnel) must wait for them, or it lands inside or ahead of one of them.
 */
import type { Duplex } from 'node:stream';

/** The response node is writing on `socket`, or undefined. */
export function responseInFlight(socket: Duplex): Duplex | undefined {
  const message: unknown = Reflect.get(socket, '_httpMessage');
  return typeof message === 'object' && message !== null ? (message as Duplex) : undefined;
}

/**
 * Calls `then` once every response in flight on `socket` has finished (at once when none is),
 * unless the socket is no longer writable by then.
 *
 * @example
 * afterResponses(socket, () => socket.end(rawErrorResponse('BAD_REQUEST', 'Malformed request')));
 */
export function afterResponses(socket: Duplex, then: () => void): void {
  const response = responseInFlight(socket);
  if (response === undefined) {
    if (socket.writable) then();
    return;
  }
  // node's own 'finish' listener, added first, has moved the next response onto the socket.
  response.once('finish', () => afterResponses(socket, then));
}
