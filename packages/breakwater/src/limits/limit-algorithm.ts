/**
 * The seam between an adaptive concurrency limiter and the rule that moves its limit: the
 * limiter gathers the latencies of one window of calls into a {@link WindowSample}, and the
 * algorithm answers with the limit it would like next. Smoothing and the min/max bounds are the
 * limiter's, so every algorithm gets them alike.
 */

/** What one window of completed calls looked like. */
export interface WindowSample {
  /** Mean latency of the window's calls, in ms (the short-term RTT). */
  readonly rtt: number;
  /** The most calls that were in flight at once when one of the window's calls was admitted. */
  readonly maxInFlight: number;
  /** True when a call of the window was dropped (timed out or refused downstream). */
  readonly dropped: boolean;
}

/** A rule that proposes the next limit from the current one and a window's sample. */
export interface LimitAlgorithm {
  /** The limit it proposes; the limiter smooths and bounds it. */
  next(limit: number, sample: WindowSample): number;
}
