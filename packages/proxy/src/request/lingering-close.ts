/**
 * A response can finish before its request body has arrived (the upstream answered 401 or 413
 * without waiting for the upload). That connection cannot carry another request: the rest of the
 * body would be parsed as one. Closing it at once is no better: a socket closed with unread data
 * is reset by the kernel, and the reset can destroy the response in the client's receive buffer
 * before it is read (RFC 9112 §9.6). So, as nginx's lingering close does, the proxy half-closes
 * after the response (the client sees its end), reads and discards what the client still sends
 * for at most {@link LINGER_TIME} ms and {@link LINGER_BYTES} bytes, then closes. Requests
 * pipelined behind the body are not served: the response said `Connection: close` when its head
 * had not yet gone out when the upstream answered.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/** Longest time a connection lingers after its response (nginx's `lingering_time` is 30 s). */
export const LINGER_TIME = 5_000;
/**
 * Request bytes read and discarded after the response past which the connection is cut (looked
 * at every 100 ms, so a fast client may get a little more read before the cut).
 */
export const LINGER_BYTES = 4 * 1024 * 1024;
// How often a lingering connection's bytes and time are checked.
const LINGER_CHECK = 100;

const lingering = new WeakSet<object>();

/** Whether `socket` is lingering: whatever is parsed on it now is not served. */
export function isLingering(socket: object): boolean {
  return lingering.has(socket);
}

/**
 * Lingers on `req`'s connection once `res` has finished, when `req`'s body has not been
 * received by then. Call when the request (HTTP/1.1, with a body) is forwarded.
 *
 * @example
 * lingerIfBodyUnread(req, res); // before the exchange starts
 */
export function lingerIfBodyUnread(req: IncomingMessage, res: NodeJS.EventEmitter): void {
  // 'prefinish' comes before node's own 'finish' listener, which closes a `Connection: close`
  // response's socket with destroySoon(): a close with unread data, the reset avoided here.
  res.once('prefinish', () => {
    if (req.complete) return;
    const socket = req.socket;
    if (socket.destroyed || lingering.has(socket)) return;
    lingering.add(socket);
    socket.destroySoon = () => socket.end();
    // A response that went out keep-alive (its head left before the upstream answered in full)
    // is not closed by node: the half-close after it ends the connection just the same.
    res.once('finish', () => linger(req, socket));
  });
}

function linger(req: IncomingMessage, socket: Socket): void {
  if (socket.destroyed) return;
  socket.end();
  const deadline = performance.now() + LINGER_TIME;
  const limit = socket.bytesRead + LINGER_BYTES;
  // node's parser reads the socket natively (no 'data' events), so what has been read is
  // looked at on a short timer while the connection lingers, at most LINGER_TIME.
  const check = setInterval(() => {
    if (socket.bytesRead > limit || performance.now() >= deadline) socket.destroy();
  }, LINGER_CHECK);
  socket.once('close', () => clearInterval(check));
  // The rest of the body goes nowhere (its upstream request has ended, the stream may have been
  // destroyed with it): node's own way to drop a body nobody reads, as it does for a response
  // sent without reading the request. A push into a stream nobody reads would stop the socket.
  const dump = (req as { _dump?: () => void })._dump;
  if (typeof dump === 'function') dump.call(req);
  else req.resume();
  socket.resume();
}
