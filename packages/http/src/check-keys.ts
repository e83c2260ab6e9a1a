/**
 * Rejects option keys nobody reads, so a typo (`retries: 5`) fails at startup instead of being
 * silently ignored.
 */
import { InvalidOptionError } from 'breakwater';

/** Throws an {@link InvalidOptionError} naming the first key of `options` not in `known`. */
export function checkKeys(prefix: string, options: object, known: ReadonlySet<string>): void {
  for (const key of Object.keys(options)) {
    if (!known.has(key)) {
      throw new InvalidOptionError(
        `${prefix}${key}`,
        `one of ${[...known].join(', ')}`,
        (options as Record<string, unknown>)[key],
      );
    }
  }
}
