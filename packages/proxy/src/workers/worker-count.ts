/**
 * How many worker processes `workers: auto | N` means: `auto` is one per core the process may
 * use (`os.availableParallelism()`, which honours CPU affinity), a number is taken as written.
 */
import { availableParallelism } from 'node:os';
import type { ProxyConfig } from '../config/schema.ts';

/**
 * The number of workers for a `workers` setting.
 *
 * @example
 * ```ts
 * workerCount('auto'); // 8 on an 8-core machine
 * workerCount(2); // 2
 * ```
 */
export function workerCount(setting: ProxyConfig['workers']): number {
  return setting === 'auto' ? availableParallelism() : setting;
}
