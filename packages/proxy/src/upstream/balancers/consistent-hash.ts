import type { BalancedRequest, BalancedTarget, Balancer } from './balancer.ts';
import { hashString, mix32 } from './hash.ts';
import { type HashOn, hashKeyOf, parseHashOn } from './hash-key.ts';

/** Options for {@link ConsistentHashBalancer}. */
export interface ConsistentHashOptions {
  /** Where the request key comes from: `header:NAME`, `cookie:NAME`, `ip` or `path`. */
  readonly hashOn: string;
  /** Ring points per unit of weight. Default: 160. More points, more even shares, bigger ring. */
  readonly pointsPerWeight?: number;
}

/** A ring built for one candidate list: sorted point hashes and the candidate slot of each. */
interface Ring {
  readonly ids: readonly string[];
  readonly weights: readonly number[];
  readonly hashes: Uint32Array;
  readonly slots: Uint32Array;
}

// Caps the ring so a large pool or large weights cannot make a rebuild slow; shares stay within
// a few percent of their weights well below this size.
const MAX_POINTS = 1 << 17;
// Slots share a float64 with the 32-bit hash during the sort: 2^32 × 2^20 stays below 2^53.
const SLOT_BITS = 2 ** 20;
const RECENT_RINGS = 4;

/**
 * Consistent hashing on a ring with virtual nodes (Karger et al.; ketama's layout): every target
 * owns `weight × pointsPerWeight` points on a 32-bit circle, and a request goes to the owner of
 * the first point at or after its key's hash. Adding or removing one of n targets moves only
 * about 1/n of the keys, and only to or from that target; keys never move between the others.
 * A ring (rather than Maglev) is used for exactly that property: Maglev's table rebuild shuffles
 * a few keys between unaffected targets.
 *
 * The key comes from `hashOn`. When the request has no such key: a missing header or cookie
 * falls back to the client address (the same client still sticks to one target), and a missing
 * address falls back to round robin.
 *
 * The ring is rebuilt only when the candidate set (ids and weights) changes. The same array, or
 * a new array with the same ids and weights in the same order, reuses it without allocating; the
 * last few rings are kept, so a target flapping in and out does not rebuild on every request.
 *
 * @example
 * ```ts
 * const balancer = new ConsistentHashBalancer({ hashOn: 'cookie:session' });
 * balancer.pick(targets, request); // the same session → the same target while the set is stable
 * ```
 */
export class ConsistentHashBalancer<T extends BalancedTarget = BalancedTarget>
  implements Balancer<T>
{
  readonly #hashOn: HashOn;
  readonly #pointsPerWeight: number;
  #ring: Ring | undefined;
  #ringFor: readonly T[] | undefined;
  readonly #recent = new Map<string, Ring>();
  #roundRobin = 0;

  constructor(options: ConsistentHashOptions) {
    this.#hashOn = parseHashOn(options.hashOn);
    const points = options.pointsPerWeight ?? 160;
    if (!Number.isInteger(points) || points < 1) {
      throw new RangeError(`pointsPerWeight must be a positive integer, got ${String(points)}`);
    }
    this.#pointsPerWeight = points;
  }

  pick(candidates: readonly T[], request: BalancedRequest): T | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    if (n === 1) return candidates[0];
    let key = hashKeyOf(this.#hashOn, request);
    if (key === undefined && this.#hashOn.source !== 'ip') key = request.remoteAddress || undefined;
    if (key === undefined) {
      if (this.#roundRobin >= n) this.#roundRobin = 0;
      return candidates[this.#roundRobin++];
    }
    const ring = this.#ringOf(candidates);
    return candidates[ring.slots[lookup(ring.hashes, hashString(key))] as number];
  }

  #ringOf(candidates: readonly T[]): Ring {
    if (candidates === this.#ringFor && this.#ring) return this.#ring;
    if (this.#ring && sameTargets(this.#ring, candidates)) {
      this.#ringFor = candidates;
      return this.#ring;
    }
    const signature = signatureOf(candidates);
    let ring = this.#recent.get(signature);
    if (ring === undefined) {
      ring = buildRing(candidates, this.#pointsPerWeight);
      if (this.#recent.size >= RECENT_RINGS) {
        const oldest = this.#recent.keys().next().value as string;
        this.#recent.delete(oldest);
      }
      this.#recent.set(signature, ring);
    }
    this.#ring = ring;
    this.#ringFor = candidates;
    return ring;
  }
}

function sameTargets(ring: Ring, candidates: readonly BalancedTarget[]): boolean {
  if (ring.ids.length !== candidates.length) return false;
  for (let i = 0; i < candidates.length; i++) {
    const target = candidates[i] as BalancedTarget;
    if (ring.ids[i] !== target.id || ring.weights[i] !== target.weight) return false;
  }
  return true;
}

function signatureOf(candidates: readonly BalancedTarget[]): string {
  let signature = '';
  for (const target of candidates) signature += `${target.id}\u0000${target.weight}\u0001`;
  return signature;
}

function buildRing(candidates: readonly BalancedTarget[], pointsPerWeight: number): Ring {
  if (candidates.length >= SLOT_BITS) {
    throw new RangeError(`consistent hash supports at most ${SLOT_BITS - 1} targets`);
  }
  let totalWeight = 0;
  for (const target of candidates) totalWeight += target.weight;
  const scale = Math.min(pointsPerWeight, MAX_POINTS / totalWeight);
  const counts = candidates.map((target) => Math.max(1, Math.round(target.weight * scale)));
  let total = 0;
  for (const count of counts) total += count;
  const packed = new Float64Array(total);
  let k = 0;
  for (let slot = 0; slot < candidates.length; slot++) {
    const idHash = hashString((candidates[slot] as BalancedTarget).id);
    // Point positions depend only on the id and the point number, never on the slot or the
    // other targets: that is what keeps unaffected keys in place when the set changes. The
    // point number is spread by the golden ratio before mixing so that ids whose hashes differ
    // in a few low bits do not land on each other's points.
    for (let point = 0; point < (counts[slot] as number); point++) {
      const position = mix32(idHash ^ Math.imul(point + 1, 0x9e3779b9));
      packed[k++] = position * SLOT_BITS + slot;
    }
  }
  packed.sort();
  const hashes = new Uint32Array(total);
  const slots = new Uint32Array(total);
  for (let i = 0; i < total; i++) {
    const value = packed[i] as number;
    const slot = value % SLOT_BITS;
    slots[i] = slot;
    hashes[i] = (value - slot) / SLOT_BITS;
  }
  return {
    ids: candidates.map((target) => target.id),
    weights: candidates.map((target) => target.weight),
    hashes,
    slots,
  };
}

/** Index of the first point at or after `hash`, wrapping past the end of the circle to 0. */
function lookup(hashes: Uint32Array, hash: number): number {
  let lo = 0;
  let hi = hashes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((hashes[mid] as number) < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo === hashes.length ? 0 : lo;
}
