import type { Clock } from 'breakwater';
import { InvalidOptionError } from 'breakwater';
import { type BalanceKind, balanceKinds } from '../../config/choices.ts';
import type { BalancedTarget, Balancer } from './balancer.ts';
import { ConsistentHashBalancer } from './consistent-hash.ts';
import { LeastConnectionsBalancer } from './least-connections.ts';
import { LeastRequestBalancer } from './least-request.ts';
import { PeakEwmaBalancer } from './peak-ewma.ts';
import { RandomBalancer } from './random.ts';
import { RoundRobinBalancer } from './round-robin.ts';
import { WeightedRoundRobinBalancer } from './weighted-round-robin.ts';

/** Options for {@link createBalancer}. */
export interface CreateBalancerOptions {
  readonly balance: BalanceKind;
  /**
   * Only for `consistent-hash`: `header:NAME`, `cookie:NAME`, `ip` or `path`. Default: `ip`.
   * Given with any other `balance` it is an error, not silently ignored.
   */
  readonly hashOn?: string | undefined;
  /** Only for `peak-ewma`: the time constant of its latency average, in ms. Default: 10 000. */
  readonly decay?: number | undefined;
  /** Source of randomness in [0, 1) for the random kinds. Default: `Math.random`. */
  readonly random?: (() => number) | undefined;
  /** Time for `peak-ewma`'s decay. Default: the system clock. */
  readonly clock?: Clock | undefined;
}

/**
 * Builds the balancer an upstream's config names. One balancer per upstream: the stateful ones
 * (round robin, smooth weighted round robin, the hash ring cache) keep their state inside it.
 * Throws an `InvalidOptionError` (code `ERR_INVALID_OPTION`) for an unknown kind or a bad `hashOn`.
 *
 * @example
 * ```ts
 * const balancer = createBalancer<Target>({ balance: 'consistent-hash', hashOn: 'header:x-user' });
 * const target = balancer.pick(eligibleTargets, request);
 * ```
 */
export function createBalancer<T extends BalancedTarget = BalancedTarget>(
  options: CreateBalancerOptions,
): Balancer<T> {
  const { balance, hashOn, decay, random, clock } = options;
  if (decay !== undefined && balance !== 'peak-ewma') {
    throw new InvalidOptionError(
      'decay',
      `no decay unless balance is "peak-ewma" (balance is "${balance}")`,
      decay,
    );
  }
  if (hashOn !== undefined && balance !== 'consistent-hash') {
    throw new InvalidOptionError(
      'hashOn',
      `no hashOn unless balance is "consistent-hash" (balance is "${balance}")`,
      hashOn,
    );
  }
  switch (balance) {
    case 'round-robin':
      return new RoundRobinBalancer<T>();
    case 'weighted-round-robin':
      return new WeightedRoundRobinBalancer<T>();
    case 'least-connections':
      return new LeastConnectionsBalancer<T>();
    case 'least-request':
      return new LeastRequestBalancer<T>(random ? { random } : {});
    case 'random':
      return new RandomBalancer<T>(random ? { random } : {});
    case 'consistent-hash':
      return new ConsistentHashBalancer<T>({ hashOn: hashOn ?? 'ip' });
    case 'peak-ewma':
      return new PeakEwmaBalancer<T>({
        ...(decay !== undefined ? { decay } : {}),
        ...(random ? { random } : {}),
        ...(clock ? { clock } : {}),
      });
    default:
      throw new InvalidOptionError('balance', `one of ${balanceKinds.join(', ')}`, balance);
  }
}
