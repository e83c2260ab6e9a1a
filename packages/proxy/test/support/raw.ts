/** Raw-socket client for wire-level proxy tests: bytes in, everything read out. */
import { connect, type Socket } from 'node:net';

/** What a raw exchange read, and whether the peer closed the connection. */
export interface RawReply {
  readonly text: string;
  readonly closed: boolean;
}

/**
 * Writes `bytes` on a new connection and reads until the peer closes it or `quietMs` pass.
 *
 * @example
 * const { text, closed } = await raw(proxy.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', 800);
 */
export function raw(port: number, bytes: string, quietMs = 2_000): Promise<RawReply> {
  return rawSession(port, (socket) => socket.write(bytes), quietMs);
}

/**
 * Opens a connection, lets `drive` write to it once connected (in pieces, slowly, …) and reads
 * until the peer closes it or `quietMs` pass.
 *
 * @example
 * const { closed } = await rawSession(proxy.port, (socket) => socket.write('GET / HTTP/1.1\r\n'));
 */
export function rawSession(
  port: number,
  drive: (socket: Socket) => void,
  quietMs = 2_000,
): Promise<RawReply> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed });
    };
    const timer = setTimeout(() => finish(false), quietMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => finish(true));
    socket.on('connect', () => drive(socket));
  });
}
