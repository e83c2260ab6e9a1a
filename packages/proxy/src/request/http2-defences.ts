/**
 * The defences of an HTTP/2 listener against the attacks that hurt edge proxies, on by default.
 * Most are nghttp2's own (Node's HTTP/2 engine), set through the server options; this file maps
 * our config onto them and adds the one guard nghttp2 lacks, a budget for PING and SETTINGS frames
 * per connection. What each covers:
 *
 * - Concurrent streams: `SETTINGS_MAX_CONCURRENT_STREAMS`; a stream beyond it is refused
 *   (RST_STREAM REFUSED_STREAM), and a client that keeps opening them past
 *   `maxRejectedStreams` loses the connection (`maxSessionRejectedStreams`).
 * - Rapid reset (CVE-2023-44487): nghttp2's token bucket for RST_STREAM frames received
 *   (`streamResetBurst` / `streamResetRate`); an empty bucket ends the connection with GOAWAY.
 * - Header lists: `SETTINGS_MAX_HEADER_LIST_SIZE` is the listener's `maxHeaderSize` (nghttp2
 *   enforces it once the client has acknowledged our SETTINGS; the request handler checks the same
 *   size again for clients that never do), at most `maxHeaderPairs` fields.
 * - CONTINUATION flood (CVE-2024-27983 family): nghttp2 ends the connection after 8 CONTINUATION
 *   frames in one header block. Node offers no option for that number; together with the
 *   header-list cap it bounds a header block.
 * - PING / SETTINGS floods (CVE-2019-9512 / -9515): nghttp2 ends a connection whose unsent
 *   acknowledgements pile up (a client that does not read); {@link guardControlFrames} ends one
 *   that sends them faster than its budget even while reading the acknowledgements.
 * - Invalid frames: `maxSessionInvalidFrames`.
 */
import { constants, type ServerHttp2Session, type ServerOptions } from 'node:http2';
import type { Clock } from 'breakwater';
import type { Http2Config } from '../config/schema.ts';

/** A token bucket: `burst` at once, refilled at `perSecond`. */
export type FrameBudget = Http2Config['controlFrames'];

/**
 * Server options for `http2.createSecureServer` / `http2.createServer` that apply `defences`
 * and the listener's header size limit.
 *
 * @example
 * const server = http2.createSecureServer({
 *   ...http2ServerOptions(config.http2, config.limits),
 *   ...store.serverOptions(),
 *   allowHTTP1: true,
 * });
 */
export function http2ServerOptions(
  defences: Http2Config,
  limits: { readonly maxHeaderSize: number },
): ServerOptions {
  return {
    settings: {
      maxConcurrentStreams: defences.maxConcurrentStreams,
      maxHeaderListSize: limits.maxHeaderSize,
      enablePush: false,
    },
    maxSessionRejectedStreams: defences.maxRejectedStreams,
    maxSessionInvalidFrames: defences.maxInvalidFrames,
    // nghttp2 counts pseudo-headers too; it needs at least 4.
    maxHeaderListPairs: Math.max(4, defences.maxHeaderPairs),
    streamResetBurst: defences.streamResets.burst,
    streamResetRate: defences.streamResets.perSecond,
  };
}

/**
 * Closes `session` with GOAWAY(ENHANCE_YOUR_CALM) once its client has sent more PING and SETTINGS
 * frames than `budget` allows. The bucket refills lazily when a frame arrives: no timer runs for
 * an idle connection. `onExceeded` is told before the connection goes (for a log line).
 *
 * @example
 * server.on('session', (session) =>
 *   guardControlFrames(session, defences.controlFrames, clock, () => log.warn('PING/SETTINGS flood')),
 * );
 */
export function guardControlFrames(
  session: ServerHttp2Session,
  budget: FrameBudget,
  clock: Clock,
  onExceeded?: () => void,
): void {
  let tokens = budget.burst;
  let refilledAt = clock.now();
  const take = (): void => {
    const now = clock.now();
    tokens = Math.min(budget.burst, tokens + ((now - refilledAt) / 1000) * budget.perSecond);
    refilledAt = now;
    if (tokens >= 1) {
      tokens -= 1;
      return;
    }
    if (session.destroyed) return;
    onExceeded?.();
    session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    session.destroy();
  };
  session.on('ping', take);
  session.on('remoteSettings', take);
}
