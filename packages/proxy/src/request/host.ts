/**
 * What a request in flight (an `Exchange` or an upgrade tunnel) needs of the proxy around it: a
 * narrow interface, so the request path depends on these few members and not on the `Forwarder`
 * that implements them.
 */
import type { UnderscoreRule } from '../config/choices.ts';
import type { TrustedProxies } from '../http/trusted-proxies.ts';
import type { Logger } from '../logger.ts';
import type { AttemptOutcome } from '../upstream/attempt-result.ts';
import type { Target } from '../upstream/target.ts';
import type { UpstreamPool } from '../upstream/upstream-pool.ts';
import type { AccessLog } from './access-log.ts';
import type { ResponseSpills } from './response-spills.ts';
import type { SlowReaders } from './slow-readers.ts';

/**
 * Called once per attempt with how it ended. `status` is 0 when no response arrived;
 * `durationMs` is 0 for an attempt that started before the listener was added.
 */
export type AttemptListener = (
  pool: UpstreamPool,
  target: Target,
  outcome: AttemptOutcome,
  status: number,
  durationMs: number,
) => void;

/** The proxy as a request in flight sees it. */
export interface RequestHost {
  /** Keep the client's Host header (true) or send the target's. */
  readonly preserveHost: boolean;
  /** Peers whose X-Forwarded-* and Forwarded fields are believed. */
  readonly trustedProxies: TrustedProxies;
  /** This proxy's Via entry (`http/forwarding-headers.ts` viaEntry), unique per proxy. */
  readonly via: string;
  /** Request headers whose names contain `_`: dropped, forwarded or refused (400). */
  readonly underscoresInHeaders: UnderscoreRule;
  /** Request bodies with a declared length up to this size are read before a target is chosen. */
  readonly requestBuffer: number;
  /** Response bytes held for a client that is behind before the rest spills (or the upstream is paused). */
  readonly responseBuffer: number;
  /** Where responses of clients more than `responseBuffer` behind go; `undefined`: spilling is off. */
  readonly responseSpills: ResponseSpills | undefined;
  /** Cuts off clients that read too slowly; told of every response whose client is behind. */
  readonly slowReaders: SlowReaders;
  /** Set during shutdown: responses close their connections so keep-alive clients go away. */
  readonly closing: boolean;
  readonly logger: Logger;
  /** Where finished requests are logged and counted. */
  readonly accessLog: AccessLog;
  /** Whether anyone listens to attempts: without a listener, attempts are not timed. */
  readonly attemptsObserved: boolean;
  /** Reports one ended attempt to the attempt listeners. */
  reportAttempt: AttemptListener;
  /** Called once when a forwarded exchange has ended, successfully or not. */
  exchangeFinished(): void;
}
