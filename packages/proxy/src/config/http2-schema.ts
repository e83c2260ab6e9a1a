/**
 * The `http2` block: the defences of HTTP/2 listeners (see `request/http2-defences.ts` for what
 * each one stops). Every key has a default, so the defences are on without a line of config.
 */
import { z } from 'zod';
import { defaults } from './defaults.ts';
import { expected, positiveInt } from './schema-parts.ts';

const BUDGET = 'expected a mapping such as { burst: 100, perSecond: 20 }';

const budget = z.strictObject(
  {
    burst: positiveInt,
    perSecond: z
      .number({ error: expected('expected a number of frames per second') })
      .positive('expected a number of frames per second greater than 0'),
  },
  { error: expected(BUDGET) },
);

/** Schema of the `http2` block. */
export const http2Schema = z.strictObject(
  {
    /** Streams one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
    maxConcurrentStreams: positiveInt.default(defaults.http2.maxConcurrentStreams),
    /** Streams refused over that cap before the connection is closed. */
    maxRejectedStreams: positiveInt.default(defaults.http2.maxRejectedStreams),
    /** RST_STREAM frames a client may send (rapid reset, CVE-2023-44487); then GOAWAY. */
    streamResets: budget.default(defaults.http2.streamResets),
    /** PING and SETTINGS frames a client may send; then GOAWAY(ENHANCE_YOUR_CALM). */
    controlFrames: budget.default(defaults.http2.controlFrames),
    /** Malformed frames tolerated on one connection. */
    maxInvalidFrames: positiveInt.default(defaults.http2.maxInvalidFrames),
    /** Header fields in one request, pseudo-headers included. */
    maxHeaderPairs: positiveInt
      .min(4, 'expected at least 4 (the pseudo-headers of a request)')
      .default(defaults.http2.maxHeaderPairs),
  },
  { error: expected('expected a mapping of HTTP/2 limits') },
);
