/**
 * Clients that read responses too slowly (slowhttptest's slow read, or a stalled phone) are cut
 * off, as Kestrel's `MinResponseDataRate` and nginx's `send_timeout` do: otherwise each one holds
 * a response buffer, a socket and, while the response streams, an upstream connection, for as
 * long as it likes. A client is watched only while the proxy has data waiting for it (a write
 * returned false, or its response is spilled to disk); it must then take at least
 * `bytesPerSecond` on average over every `gracePeriod`-long window, and never go `sendTimeout`
 * without taking a byte. One shared timer checks every watched response; none runs while no
 * client is behind.
 *
 * Progress is measured on the client's connection, and a cut ends the connection. On HTTP/2 that
 * is the session, shared by all the client's streams: a stream held back by its own flow-control
 * window while the connection takes bytes for other streams is the client choosing its order,
 * not a slow reader; a connection that takes too little while any of its streams has data
 * waiting is, and all its streams go with it (as Kestrel aborts the HTTP/2 connection).
 */
import type { Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import { isHttp2Response, type ProxiedResponse } from '../http/client-message.ts';

/** The minimum response data rate; `false` turns the rate check off. */
export interface MinResponseRate {
  readonly bytesPerSecond: number;
  /** How long a client may be slower before the rate counts (ms). */
  readonly gracePeriod: number;
}

/** Options of {@link SlowReaders}. */
export interface SlowReadersOptions {
  readonly minResponseRate: MinResponseRate | false;
  /** Longest time without a byte taken while data waits (ms). */
  readonly sendTimeout: number;
  /** Told about each cut: `'min-rate'` or `'send-timeout'`. */
  readonly onCut?: (reason: SlowReaderCut) => void;
}

/** Why a slow reader was cut off. */
export type SlowReaderCut = 'min-rate' | 'send-timeout';

/**
 * How long a response stays watched: until its client drains what waits in memory, or until
 * the response closes (a spilled response has data waiting in its file until the end).
 */
export type WatchUntil = 'drain' | 'close';

interface Watched {
  readonly res: ProxiedResponse;
  until: WatchUntil;
  /** Start of the current measuring window, and the bytes sent by then. */
  windowStart: number;
  windowStartSent: number;
  lastSent: number;
  lastProgressAt: number;
  readonly stop: () => void;
}

/** The connection a response goes out on: its socket and, for HTTP/2, the session over it. */
interface Connection {
  readonly socket: Socket;
  readonly session: Http2Session | undefined;
}

/**
 * The client's connection, or `undefined` once it is gone (the response's close follows). A
 * pipelined HTTP/1.1 response queued behind an earlier one has no socket yet: its client's pace
 * is its connection's, so it is measured (and cut) there.
 */
function connectionOf(res: ProxiedResponse): Connection | undefined {
  if (isHttp2Response(res)) {
    const { stream } = res;
    const session = stream.session;
    // The compatibility response has no `destroyed` of its own: its stream's tells. A destroyed
    // session has let go of its socket, and reading `socket` then throws.
    if (stream.destroyed || session === undefined || session.destroyed) return undefined;
    // A proxy of the session's socket: it reads through to the socket, but refuses destroy().
    return { socket: session.socket, session };
  }
  const socket = res.socket ?? res.req?.socket ?? null;
  return socket === null || socket.destroyed ? undefined : { socket, session: undefined };
}

/**
 * Bytes the connection has handed to the kernel: written minus what still waits in user space.
 * An HTTP/2 session writes to the socket's handle from C++, past its writable buffer: those
 * count once handed to libuv, at most one write of frames ahead of the kernel.
 */
function sent({ socket }: Connection): number {
  return socket.bytesWritten - socket.writableLength;
}

/**
 * Closes the client's connection. A reset, not a close: a close would leave the kernel trickling
 * its send buffer to the client for minutes; a reset drops it at once. The exchanges then see
 * their client gone and abort their upstream attempts, which frees the upstream connections.
 */
function closeConnection({ socket, session }: Connection): void {
  destroySocket(socket, session !== undefined);
  // Then every stream of the session ends now rather than at the socket's close. Not the other
  // way round: a destroyed session ends its socket itself, after its writes, which a client that
  // does not read never lets finish; and a socket destroyed after that was seen never to close.
  session?.destroy();
}

function destroySocket(socket: Socket, http2: boolean): void {
  // A TLS socket's handle is not TCP: resetAndDestroy() throws ERR_INVALID_HANDLE_TYPE.
  if ((socket as { encrypted?: boolean }).encrypted !== true) socket.resetAndDestroy();
  else if (!http2) socket.destroy();
  // An HTTP/2 session's `socket` refuses destroy() but lets [Symbol.asyncDispose]() through to
  // the socket: it destroys it all the same, with an AbortError.
  else void socket[Symbol.asyncDispose]().catch(() => {});
}

/**
 * Watches responses whose client has fallen behind and destroys those below the minimum rate.
 *
 * @example
 * const slowReaders = new SlowReaders({ minResponseRate: { bytesPerSecond: 240, gracePeriod: 5_000 }, sendTimeout: 60_000 });
 * if (!res.write(chunk)) slowReaders.watch(res);
 */
export class SlowReaders {
  readonly #options: SlowReadersOptions;
  readonly #watched = new Map<ProxiedResponse, Watched>();
  readonly #interval: number;
  #timer: NodeJS.Timeout | undefined;
  /** Clients cut off so far, by reason. */
  readonly cut: Record<SlowReaderCut, number> = { 'min-rate': 0, 'send-timeout': 0 };

  constructor(options: SlowReadersOptions) {
    this.#options = options;
    const grace =
      options.minResponseRate === false ? Infinity : options.minResponseRate.gracePeriod;
    // Often enough to act within about half of the shortest allowance, at most once a second.
    this.#interval = Math.max(25, Math.min(1_000, grace / 2, options.sendTimeout / 2));
  }

  /**
   * Starts watching `res` (its client has data waiting): until it drains, or with `'close'`
   * until the response closes. Watching again with `'close'` extends a watch to the close.
   */
  watch(res: ProxiedResponse, until: WatchUntil = 'drain'): void {
    const current = this.#watched.get(res);
    if (current !== undefined) {
      if (until === 'close' && current.until === 'drain') {
        current.until = 'close';
        res.off('drain', current.stop);
      }
      return;
    }
    const connection = connectionOf(res);
    if (res.destroyed || connection === undefined) return;
    const now = performance.now();
    const stop = () => {
      res.off('drain', stop);
      res.off('close', stop);
      this.#watched.delete(res);
      if (this.#watched.size === 0 && this.#timer !== undefined) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
    const startSent = sent(connection);
    this.#watched.set(res, {
      res,
      until,
      windowStart: now,
      windowStartSent: startSent,
      lastSent: startSent,
      lastProgressAt: now,
      stop,
    });
    if (until === 'drain') res.once('drain', stop);
    res.once('close', stop);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#check(), this.#interval);
      this.#timer.unref();
    }
  }

  /** Responses watched now. */
  get watching(): number {
    return this.#watched.size;
  }

  /** Stops the timer and forgets every response (at shutdown). */
  close(): void {
    for (const watched of [...this.#watched.values()]) watched.stop();
  }

  #check(): void {
    const now = performance.now();
    const { minResponseRate, sendTimeout } = this.#options;
    for (const watched of [...this.#watched.values()]) {
      const connection = connectionOf(watched.res);
      // Gone, maybe cut a moment ago for another of its streams: only its close is left.
      if (connection === undefined) {
        watched.stop();
        continue;
      }
      const bytes = sent(connection);
      if (bytes > watched.lastSent) {
        watched.lastSent = bytes;
        watched.lastProgressAt = now;
      }
      let reason: SlowReaderCut | undefined;
      if (now - watched.lastProgressAt >= sendTimeout) reason = 'send-timeout';
      else if (minResponseRate !== false) {
        // Measured over windows of one grace period each, not from the start: the kernel takes a
        // burst into its send buffer when the client falls behind, and that burst must not pay
        // for minutes of trickling afterwards.
        const elapsed = now - watched.windowStart;
        if (elapsed >= minResponseRate.gracePeriod) {
          const rate = ((bytes - watched.windowStartSent) * 1000) / elapsed;
          if (rate < minResponseRate.bytesPerSecond) reason = 'min-rate';
          watched.windowStart = now;
          watched.windowStartSent = bytes;
        }
      }
      if (reason === undefined) continue;
      watched.stop();
      this.cut[reason]++;
      this.#options.onCut?.(reason);
      closeConnection(connection);
      watched.res.destroy();
    }
  }
}
