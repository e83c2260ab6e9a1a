/**
 * The fixed word lists the config accepts: the balancing algorithms an upstream can name, the
 * attempt results outlier detection can count and what becomes of header names with underscores. They live in `config/` because the schema
 * validates against them; the upstream layer imports them from here, never the other way round.
 */

/** The balancing algorithms an upstream can name in its `balance` option. */
export type BalanceKind =
  | 'round-robin'
  | 'weighted-round-robin'
  | 'least-connections'
  | 'least-request'
  | 'random'
  | 'consistent-hash'
  | 'peak-ewma';

/** Every {@link BalanceKind}, for config schemas and error messages. */
export const balanceKinds: readonly BalanceKind[] = [
  'round-robin',
  'weighted-round-robin',
  'least-connections',
  'least-request',
  'random',
  'consistent-hash',
  'peak-ewma',
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

/**
 * What happens to a request header whose name contains `_` (`underscoresInHeaders`, after
 * nginx's `underscores_in_headers`); see `http/header-names.ts`.
 */
export type UnderscoreRule = 'drop' | 'forward' | 'refuse';

/** Every {@link UnderscoreRule}, for the config schema. */
export const underscoreRules: readonly UnderscoreRule[] = ['drop', 'forward', 'refuse'];

/**
 * How cluster workers get their connections (`cluster.accept`): `round-robin` is node:cluster's
 * hand-off (the primary accepts, workers take turns); `reuse-port` gives each worker its own
 * listening socket on the same port (`SO_REUSEPORT`, Linux, Node ≥ 23.1) and the kernel spreads
 * connections by a hash of their addresses.
 */
export type ClusterAccept = 'round-robin' | 'reuse-port';

/** Every {@link ClusterAccept}, for the config schema. */
export const clusterAccepts: readonly ClusterAccept[] = ['round-robin', 'reuse-port'];
