/** A promise settled by hand, for tests whose work finishes when the test says so. */

/**
 * A promise with its `resolve` and `reject` handed out.
 *
 * @example
 * const gate = deferred();
 * const running = policy.execute(() => gate.promise);
 * gate.resolve();
 */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
