/**
 * One collection from the workers at a time, shared by the admin requests that wait for it. Each
 * `GET /api/upstreams`, `/api/listeners` or `/metrics` in a cluster asks every worker over IPC;
 * without sharing, a flood of them (a dashboard or a script polling in a loop) sends one question
 * per request to every worker, and their answers queue on the same channel as reload results and
 * the dashboard's reports.
 */

/**
 * Wraps `collect` so that at most one run is out and one more waits. A caller that comes while a
 * run is out gets the next run (started when that one ends), never the one already asked, so its
 * answer is never older than its request: a drain made just before still shows.
 *
 * @example
 * ```ts
 * const view = coalesce(() => askEveryWorker('view'));
 * await Promise.all([view(), view(), view()]); // two rounds of questions, not three
 * ```
 */
export function coalesce<T>(collect: () => Promise<T>): () => Promise<T> {
  let current: Promise<T> | undefined;
  let queued: Promise<T> | undefined;
  const start = (): Promise<T> => {
    const run = collect();
    current = run;
    const clear = () => {
      if (current === run) current = undefined;
    };
    run.then(clear, clear);
    return run;
  };
  return () => {
    if (current === undefined) return start();
    queued ??= current.then(nothing, nothing).then(() => {
      queued = undefined;
      return start();
    });
    return queued;
  };
}

function nothing(): void {}
