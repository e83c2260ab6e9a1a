/**
 * The fixed word lists the config accepts: the balancing algorithms an upstream can name and the
 * attempt results outlier detection can count. They live in `config/` because the schema
 * validates against them; the upstream layer imports them from here, never the other way round.
 */

/** The balancing algorithms an upstream can name in its `balance` option. */
export type BalanceKind =
  | 'round-robin'
  | 'weighted-round-robin'
  | 'least-connections'
  | 'least-request'
  | 'random'
  | 'consistent-hash';

/** Every {@link BalanceKind}, for config schemas and error messages. */
export const balanceKinds: readonly BalanceKind[] = [
  'round-robin',
  'weighted-round-robin',
  'least-connections',
  'least-request',
  'random',
  'consistent-hash',
];

/** Which attempt results count against a target. */
export type FailOn = 'connect-error' | 'timeout' | 'reset' | '5xx' | 'gateway-errors';

/** Every {@link FailOn} value, for config schemas. */
export const failOnValues: readonly FailOn[] = [
  'connect-error',
  'timeout',
  'reset',
  '5xx',
  'gateway-errors',
];
