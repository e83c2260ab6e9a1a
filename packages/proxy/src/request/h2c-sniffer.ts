/**
 * HTTP/2 with prior knowledge (h2c) beside HTTP/1.1 on one plain port. Node's plain HTTP/2 server
 * speaks only HTTP/2, so the HTTP/1.1 server owns the port and looks at the first bytes of each
 * connection: the 24-byte HTTP/2 connection preface (RFC 9113 §3.4) sends it to the HTTP/2
 * server, anything else goes on to HTTP/1.1 as if nothing had looked. The HTTP/1.1 server keeps
 * listening itself, so its timeouts, connection tracking and `close()` work unchanged. A client
 * that sends nothing is closed after `headersTimeout`, as a silent HTTP/1.1 client is.
 */
import type { Server as HttpServer } from 'node:http';
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** Whether `head` is the preface or could still become it. `undefined`: need more bytes. */
function prefaceState(head: Buffer): boolean | undefined {
  const n = Math.min(head.length, PREFACE.length);
  if (head.compare(PREFACE, 0, n, 0, n) !== 0) return false;
  return n === PREFACE.length ? true : undefined;
}

/**
 * Makes `h1` hand connections that open with the HTTP/2 preface to `h2`; `classified` hears
 * which way each connection went. Returns a function that closes the HTTP/2 sessions still open
 * (for shutdown; `h1.close()` stops new connections).
 *
 * @example
 * const h1 = http.createServer(options, handle);
 * const h2 = http2.createServer(http2Options, handle);
 * const closeSessions = acceptH2cPriorKnowledge(h1, h2, limits.headersTimeout);
 * h1.listen(8080);
 */
export function acceptH2cPriorKnowledge(
  h1: HttpServer,
  h2: Http2Server,
  headersTimeout: number,
  classified?: (socket: Socket, protocol: 'h2' | 'http/1.1') => void,
): () => void {
  const http1Listeners = h1.listeners('connection') as ((socket: Socket) => void)[];
  h1.removeAllListeners('connection');
  const sessions = new Set<ServerHttp2Session>();
  h2.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  h1.on('connection', (socket: Socket) => {
    let head: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), headersTimeout);
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const state = prefaceState(head);
      if (state === undefined) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      // Paused, so the bytes read so far wait in the socket's buffer for whoever takes it over:
      // the HTTP/2 session reads them out itself, node:http's parser once resumed.
      socket.pause();
      socket.unshift(head);
      classified?.(socket, state ? 'h2' : 'http/1.1');
      if (state) h2.emit('connection', socket);
      else {
        for (const listener of http1Listeners) listener.call(h1, socket);
        socket.resume();
      }
    };
    const onClose = (): void => clearTimeout(timer);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.on('error', () => {});
  });
  return () => {
    for (const session of sessions) session.close();
  };
}
