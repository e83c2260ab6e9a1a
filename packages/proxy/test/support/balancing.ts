/** Shared fixtures for balancer tests. */
import type { BalancedRequest, BalancedTarget } from '../../src/upstream/balancers/balancer.ts';

export interface TestTarget extends BalancedTarget {
  activeRequests: number;
}

export function target(id: string, weight = 1, activeRequests = 0): TestTarget {
  return { id, weight, activeRequests };
}

export function request(overrides: Partial<BalancedRequest> = {}): BalancedRequest {
  return { method: 'GET', path: '/', headers: {}, remoteAddress: '127.0.0.1', ...overrides };
}

/** mulberry32: a small seeded PRNG so distribution tests are reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Picks `times` times and counts picks per target id. */
export function tally(pick: () => BalancedTarget | undefined, times: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < times; i++) {
    const chosen = pick();
    if (!chosen) throw new Error('pick returned undefined');
    counts.set(chosen.id, (counts.get(chosen.id) ?? 0) + 1);
  }
  return counts;
}
