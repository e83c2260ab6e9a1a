/**
 * One try of an exchange against one target: the undici dispatch handler. It holds what one try
 * needs (target, breaker permit, status, discard count) and hands every undici event to its
 * owner, the exchange, which decides.
 */
import type { ConcurrencyPermit, Permit } from 'breakwater';
import type { Dispatcher } from 'undici';
import type { Target } from '../upstream/target.ts';
import { ClientAbortedError } from './attempt-failure.ts';

type Headers = Record<string, string | string[] | undefined>;

/** What an {@link Attempt} reports to: the exchange it belongs to. */
export interface AttemptOwner {
  /** Whether the client has gone away (an attempt not yet started by undici is aborted). */
  readonly clientGone: boolean;
  responseStarted(
    attempt: Attempt,
    statusCode: number,
    headers: Headers,
    statusMessage: string | undefined,
  ): void;
  responseData(attempt: Attempt, controller: Dispatcher.DispatchController, chunk: Buffer): void;
  responseEnded(attempt: Attempt, trailers: Headers): void;
  attemptFailed(attempt: Attempt, error: Error): void;
}

/**
 * @example
 * target.pool.dispatch(options, new Attempt(exchange, target, permit, 1));
 */
export class Attempt implements Dispatcher.DispatchHandler {
  readonly exchange: AttemptOwner;
  readonly target: Target;
  /** The breaker permit, until settled. */
  permit: Permit | undefined;
  /** The target's concurrency permit, until the attempt ends. */
  concurrency: ConcurrencyPermit | undefined = undefined;
  /** Ms from the start to the response headers; -1 until they arrive (or when not timed). */
  answeredAfter = -1;
  /** 1-based. */
  readonly number: number;
  /** When the attempt began (ms, `performance.now()`); 0 when no listener needs its duration. */
  startedAt = 0;
  status = 0;
  /** A retryable status arrived: the body is dropped and the request tried elsewhere. */
  discarding = false;
  /** Bytes of a retried response's body dropped so far. */
  discarded = 0;
  ended = false;
  #controller: Dispatcher.DispatchController | undefined;
  // An abort asked for before undici started the dispatch (still queued for a connection).
  #pendingAbort: Error | undefined;

  constructor(exchange: AttemptOwner, target: Target, permit: Permit | undefined, number: number) {
    this.exchange = exchange;
    this.target = target;
    this.permit = permit;
    this.number = number;
  }

  /**
   * Aborts the dispatch; false when undici has not started it yet, in which case it is aborted
   * as soon as undici starts it (and nothing reaches the target).
   */
  abort(reason: Error): boolean {
    if (this.#controller === undefined) {
      this.#pendingAbort ??= reason;
      return false;
    }
    this.#controller.abort(reason);
    return true;
  }

  resume(): void {
    this.#controller?.resume();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.exchange.clientGone) controller.abort(new ClientAbortedError());
    else if (this.#pendingAbort !== undefined) controller.abort(this.#pendingAbort);
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    statusMessage?: string,
  ): void {
    // 1xx interim responses: node:http already answered Expect: 100-continue itself.
    if (statusCode < 200) return;
    this.exchange.responseStarted(this, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.exchange.responseData(this, controller, chunk);
  }

  onResponseEnd(
    _controller: Dispatcher.DispatchController,
    trailers: Record<string, string | string[] | undefined>,
  ): void {
    this.exchange.responseEnded(this, trailers);
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    this.exchange.attemptFailed(this, error);
  }
}
