/**
 * HTTP/1.1 requests pipelined on one connection are served one at a time, as nginx and HAProxy
 * serve them: request N+1 is not admitted (no route, no target, no upstream connection, no body
 * read past what node's parser has buffered) until response N has been handed to the socket.
 * node:http emits every pipelined request at once and merely writes the responses in order;
 * forwarding them all at once let one client queue several whole responses (slowhttptest's slow
 * readers pipeline three 1 MiB requests each) in the proxy's memory and the kernel's socket
 * buffers. node keeps a queued response off the socket (`res.socket === null`) and assigns it,
 * with a `'socket'` event, when the one ahead has finished: that event is the request's turn.
 * Requests beyond {@link PIPELINE_DEPTH} waiting on one connection are not kept: the first gets
 * 429 `TOO_MANY_PIPELINED` in its turn with the connection closed, and the socket stops being
 * read so that the parser makes no more of them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { stopReading } from './stop-reading.ts';

/**
 * Requests that may wait their turn on one connection. Pipelining clients send a few (curl and
 * slowhttptest at most a handful); node's parser would otherwise make a request object of every
 * request in whatever the client sends while a response is held.
 */
export const PIPELINE_DEPTH = 32;

/** What a waiting request does when its turn comes or its connection goes first. */
export interface Waiter {
  /** Its turn: the responses ahead have been handed to the socket. */
  readonly serve: () => void;
  /** Its connection closed before its turn; it was never admitted. */
  readonly dropped: () => void;
}

/** What {@link PipelineTurns.admit} decided. */
export type Turn = 'now' | 'waiting' | 'too-many' | 'ignored';

interface Queue {
  readonly waiters: Set<Waiter>;
  /** The waiting requests, in order: the last may still be receiving its body. */
  readonly requests: Set<IncomingMessage>;
  /** Past {@link PIPELINE_DEPTH} once: nothing more on this connection is served. */
  overflowed: boolean;
}

/**
 * The waiting requests of every HTTP/1.1 connection. One per forwarder.
 *
 * @example
 * const turn = turns.admit(req, res);
 * if (turn === 'now') forward(req, res);
 * else if (turn !== 'ignored') turns.wait(req, res, { serve: () => forward(req, res), dropped: () => log499(req) });
 */
export class PipelineTurns {
  readonly #queues = new WeakMap<object, Queue>();

  /**
   * `'now'` when `res` is its connection's current response (serve it at once); `'waiting'`
   * when it is queued behind another (give {@link wait} its waiter); `'too-many'` when it is the
   * first beyond {@link PIPELINE_DEPTH} (it waits for its turn like the others, to be refused
   * then, and the connection is no longer read); `'ignored'` for requests parsed after that
   * one: the connection closes after its refusal, and they are neither served nor waited for.
   */
  admit(req: IncomingMessage, res: ServerResponse): Turn {
    const socket = req.socket;
    let queue = this.#queues.get(socket);
    if (res.socket !== null && queue?.overflowed !== true) return 'now';
    if (queue === undefined) {
      const created: Queue = { waiters: new Set(), requests: new Set(), overflowed: false };
      queue = created;
      this.#queues.set(socket, created);
      // One listener per connection, not one per waiting request.
      socket.once('close', () => {
        this.#queues.delete(socket);
        for (const waiting of created.waiters) waiting.dropped();
        created.waiters.clear();
        created.requests.clear();
      });
    }
    // Refused with the one that overflowed: the connection closes after its answer.
    if (queue.overflowed) return 'ignored';
    if (queue.waiters.size < PIPELINE_DEPTH) return 'waiting';
    queue.overflowed = true;
    // Requests already in the buffer are still parsed; no more is read.
    stopReading(socket);
    return 'too-many';
  }

  /**
   * Queues a request {@link admit} answered `'waiting'` or `'too-many'` for: `waiter.serve`
   * runs in its turn, `waiter.dropped` when its connection closes first. Kept apart from
   * `admit` so that a request served at once (nearly all) builds no waiter.
   */
  wait(req: IncomingMessage, res: ServerResponse, waiter: Waiter): void {
    const queue = this.#queues.get(req.socket);
    if (queue === undefined) throw new Error('wait() without admit()');
    const { waiters, requests } = queue;
    const entry: Waiter = {
      serve: () => {
        waiters.delete(entry);
        requests.delete(req);
        waiter.serve();
      },
      dropped: waiter.dropped,
    };
    waiters.add(entry);
    requests.add(req);
    res.once('socket', entry.serve);
  }

  /**
   * The request waiting its turn on `socket` whose body has not all arrived (at most one: node
   * parses nothing after an unfinished body), or undefined. A parser error on `socket` is in
   * that body: the request was emitted when its head was parsed, before the error.
   */
  bodyArriving(socket: object): IncomingMessage | undefined {
    const requests = this.#queues.get(socket)?.requests;
    if (requests === undefined) return undefined;
    for (const req of requests) if (!req.complete) return req;
    return undefined;
  }
}
