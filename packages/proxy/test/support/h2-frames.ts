/**
 * Raw HTTP/2 frames for tests that play a misbehaving client: a rapid-reset loop, a CONTINUATION
 * flood, a PING or SETTINGS flood. A well-behaved client library refuses to send these, so the
 * tests write frames by hand (RFC 9113 §4.1 framing, HPACK literals without Huffman or indexing,
 * RFC 7541 §6.2.2) and read back only the frame types they assert on.
 */
import { once } from 'node:events';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';

/** Frame types (RFC 9113 §6). */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flags = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** One frame: 9-byte header and payload. */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

/** An HPACK integer with an `prefixBits`-bit prefix (RFC 7541 §5.1). */
function hpackInteger(value: number, prefixBits: number, firstByteFlags = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByteFlags | value]);
  const bytes = [firstByteFlags | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** A header block of literal fields without indexing and without Huffman coding. */
export function headerBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.concat(
    fields.flatMap(([name, value]) => [
      Buffer.from([0x00]),
      hpackInteger(Buffer.byteLength(name), 7),
      Buffer.from(name),
      hpackInteger(Buffer.byteLength(value), 7),
      Buffer.from(value),
    ]),
  );
}

/** The header block of `GET path` on `authority`. */
export function getRequest(authority: string, path = '/', scheme = 'https'): Buffer {
  return headerBlock([
    [':method', 'GET'],
    [':scheme', scheme],
    [':authority', authority],
    [':path', path],
  ]);
}

/** A raw HTTP/2 connection that remembers the frame types it received. */
export interface RawH2 {
  readonly socket: Socket;
  send(...frames: Buffer[]): boolean;
  /** Resolves with the GOAWAY error code when the server sends one, or `undefined` on close. */
  readonly goaway: Promise<number | undefined>;
  /** Frames received so far, by type. */
  readonly received: Map<number, number>;
  /** Resolves once the connection has closed. */
  readonly closed: Promise<void>;
}

/**
 * Opens a connection (TLS with ALPN `h2` when `tls` is set, else h2c prior knowledge), sends the
 * preface and an empty SETTINGS frame, and acknowledges the server's SETTINGS.
 */
export async function rawH2(
  port: number,
  options: { readonly tls?: { readonly servername?: string } } = {},
): Promise<RawH2> {
  const socket: Socket = options.tls
    ? connectTls({
        port,
        host: '127.0.0.1',
        ALPNProtocols: ['h2'],
        rejectUnauthorized: false,
        ...(options.tls.servername !== undefined && { servername: options.tls.servername }),
      })
    : connectTcp({ port, host: '127.0.0.1' });
  await once(socket, options.tls ? 'secureConnect' : 'connect');
  socket.on('error', () => {});
  const received = new Map<number, number>();
  let resolveGoaway: (code: number | undefined) => void = () => {};
  const goaway = new Promise<number | undefined>((resolve) => {
    resolveGoaway = resolve;
  });
  const closed = once(socket, 'close').then(() => resolveGoaway(undefined));
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 9) {
      const length = buffered.readUIntBE(0, 3);
      if (buffered.length < 9 + length) break;
      const type = buffered[3]!;
      const flags = buffered[4]!;
      const payload = buffered.subarray(9, 9 + length);
      buffered = buffered.subarray(9 + length);
      received.set(type, (received.get(type) ?? 0) + 1);
      if (type === FrameType.SETTINGS && (flags & Flags.ACK) === 0 && !socket.destroyed) {
        socket.write(frame(FrameType.SETTINGS, Flags.ACK, 0));
      }
      if (type === FrameType.GOAWAY) resolveGoaway(payload.readUInt32BE(4));
    }
  });
  socket.write(Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0)]));
  return {
    socket,
    send: (...frames) => !socket.destroyed && socket.write(Buffer.concat(frames)),
    goaway,
    received,
    closed: closed.then(() => undefined),
  };
}
