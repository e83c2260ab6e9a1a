/**
 * The IPC envelopes between node:cluster workers and the primary's sync hub. Every envelope is
 * marked with `breakwaterSync`, so other IPC traffic (the application's own) passes untouched.
 */
import type { SyncMessage } from '../sync.ts';

/** A worker publishes a transition or its counts. */
export interface PublishEnvelope {
  readonly breakwaterSync: 'publish';
  readonly message: SyncMessage;
}

/** A worker asks for the half-open trial lease of `epoch`. */
export interface LeaseEnvelope {
  readonly breakwaterSync: 'lease';
  readonly id: number;
  readonly name: string;
  readonly epoch: number;
  readonly ttlMs: number;
  /** The lease holder: the worker's instance id and which of its breakers asks (`id|n`). */
  readonly origin: string;
}

/** A worker gives back the trial lease of `epoch` it holds (its breaker was disposed). */
export interface ReleaseEnvelope {
  readonly breakwaterSync: 'release';
  readonly name: string;
  readonly epoch: number;
  /** The holder it was granted to, as in {@link LeaseEnvelope}. */
  readonly origin: string;
}

/** A worker attached a breaker (or started) and asks for the shared state of `name`. */
export interface ReadEnvelope {
  readonly breakwaterSync: 'read';
  readonly name: string;
}

/** The primary hands a worker another instance's message, or the shared state. */
export interface DeliverEnvelope {
  readonly breakwaterSync: 'deliver';
  readonly message: SyncMessage;
}

/** The primary answers a lease request. */
export interface LeaseAnswerEnvelope {
  readonly breakwaterSync: 'lease-answer';
  readonly id: number;
  readonly granted: boolean;
  readonly retryInMs: number;
}

export type ToPrimary = PublishEnvelope | LeaseEnvelope | ReleaseEnvelope | ReadEnvelope;
export type ToWorker = DeliverEnvelope | LeaseAnswerEnvelope;

/** True for anything that carries the sync marker, well-formed or not. */
export function isSyncEnvelope(value: unknown): value is { readonly breakwaterSync: unknown } {
  return typeof value === 'object' && value !== null && 'breakwaterSync' in value;
}
