/**
 * When a request may be sent again: its method must be idempotent (or allowed by the caller),
 * and its body must be something `fetch` can send twice.
 */

/**
 * RFC 9110 §9.2.2's idempotent methods: sending one twice has the effect of sending it once.
 * `protectedFetch` retries these by default.
 *
 * @example
 * ```ts
 * protectedFetch({ retryMethods: [...idempotentMethods, 'POST'] }); // our POSTs carry idempotency keys
 * ```
 */
export const idempotentMethods: readonly string[] = Object.freeze([
  'GET',
  'HEAD',
  'OPTIONS',
  'PUT',
  'DELETE',
  'TRACE',
]);

/**
 * True when `fetch` can send `body` again from the same value: strings, buffers, typed arrays,
 * `Blob`s, `URLSearchParams` and `FormData` are re-read on every call, while a `ReadableStream`
 * or an async iterable is used up by the first attempt.
 *
 * @example
 * ```ts
 * isReplayableBody('{"a":1}'); // true
 * isReplayableBody(file.stream()); // false
 * ```
 */
export function isReplayableBody(body: unknown): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof Blob ||
    body instanceof URLSearchParams ||
    body instanceof FormData
  );
}
