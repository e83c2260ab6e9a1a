/**
 * A fast, non-cryptographic 32-bit string hash for placing keys and targets on a hash ring.
 * FNV-1a alone spreads similar short strings ("10.0.0.1", "10.0.0.2") poorly across the high
 * bits a ring compares first, so its result goes through MurmurHash3's finaliser, which makes
 * every input bit affect every output bit.
 */

/**
 * Hashes the UTF-16 code units of `text` to an unsigned 32-bit integer. Stable across processes
 * and releases: rings built by different proxies place the same key on the same target.
 *
 * @example
 * ```ts
 * hashString('user-42'); // always the same number in [0, 2^32)
 * ```
 */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

/**
 * MurmurHash3's 32-bit finaliser: a bijection on 32-bit integers with full avalanche, used to
 * derive well-spread virtual-node positions from one target hash.
 *
 * @example
 * ```ts
 * mix32(hashString('a') + 1);
 * ```
 */
export function mix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
