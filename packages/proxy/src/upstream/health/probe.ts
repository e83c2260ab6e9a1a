/**
 * The probe seam of active health checking: one attempt to reach a target, reduced to pass or
 * fail. A probe never rejects; every failure, including an abort, is a result.
 */

/** What one probe found. */
export interface ProbeResult {
  readonly ok: boolean;
  /** The HTTP status, for HTTP probes that got a response. */
  readonly status?: number;
  /** Why the probe failed: an error code or a short description. */
  readonly error?: string;
}

/** One probe of one target; `signal` aborts it (timeout or shutdown). */
export interface Probe {
  run(signal: AbortSignal): Promise<ProbeResult>;
  /** Releases the probe's connections. */
  close(): Promise<void>;
}

/** A short, stable description of a caught error: its code when it has one, else its message. */
export function describeError(error: unknown): string {
  if (error && typeof error === 'object') {
    const { code, message, name } = error as { code?: unknown; message?: unknown; name?: unknown };
    if (typeof code === 'string') return code;
    if (name === 'AbortError' || name === 'TimeoutError') return String(name);
    if (typeof message === 'string' && message) return message;
  }
  return String(error);
}
