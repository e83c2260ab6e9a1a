/**
 * Property-based tests of the balancers, through `createBalancer` (what the config builds): for random
 * pools (1–6 targets, weights 1–10), every balancer only ever picks a candidate, and the weighted
 * ones give each target its weight's share in the long run: smooth weighted round robin exactly
 * over every whole cycle, weighted random and consistent hashing within a tolerance.
 *
 * `npm test` runs a fixed seed; more runs with `FC_RUNS=…`, another seed with `FC_SEED=…`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { balanceKinds } from '../../../src/config/choices.ts';
import type { BalancedRequest, BalancedTarget } from '../../../src/upstream/balancers/balancer.ts';
import { createBalancer } from '../../../src/upstream/balancers/create.ts';

const RUNS = positiveIntegerFromEnv('FC_RUNS', 100);
const SEED = positiveIntegerFromEnv('FC_SEED', 20_261_201);

function positiveIntegerFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

const pools: fc.Arbitrary<BalancedTarget[]> = fc
  .array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 6 })
  .map((weights) =>
    weights.map((weight, i) => ({ id: `http://10.0.0.${i + 1}:80`, weight, activeRequests: 0 })),
  );

function requestFor(path: string): BalancedRequest {
  return { method: 'GET', path, headers: {}, remoteAddress: '127.0.0.1' };
}

/** mulberry32: a seeded source of randomness for the random balancers. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shares(pool: readonly BalancedTarget[], picks: readonly (BalancedTarget | undefined)[]) {
  const counts = new Map(pool.map((t) => [t.id, 0]));
  for (const picked of picks) counts.set(picked!.id, (counts.get(picked!.id) ?? 0) + 1);
  return pool.map((t) => (counts.get(t.id) ?? 0) / picks.length);
}

function expectedShares(pool: readonly BalancedTarget[]): number[] {
  const total = pool.reduce((sum, t) => sum + t.weight, 0);
  return pool.map((t) => t.weight / total);
}

describe('balancers over random pools', () => {
  it('pick only candidates, and nothing from an empty list, whatever the algorithm', () => {
    fc.assert(
      fc.property(
        pools,
        fc.constantFrom(...balanceKinds),
        fc.integer(),
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 50 }),
        (pool, balance, seed, activity) => {
          const balancer = createBalancer({
            balance,
            ...(balance === 'least-request' || balance === 'random'
              ? { random: seeded(seed) }
              : {}),
          });
          const targets = pool.map((t) => ({ ...t }));
          assert.equal(balancer.pick([], requestFor('/')), undefined);
          activity.forEach((active, i) => {
            const target = targets[i % targets.length]!;
            target.activeRequests = active;
            const picked = balancer.pick(targets, requestFor(`/r${i}`));
            assert.ok(
              picked !== undefined && targets.includes(picked),
              `${balance} picked a non-candidate`,
            );
          });
        },
      ),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('smooth weighted round robin gives exactly the weights over every whole cycle', () => {
    fc.assert(
      fc.property(pools, fc.integer({ min: 1, max: 5 }), (pool, cycles) => {
        const balancer = createBalancer({ balance: 'weighted-round-robin' });
        const total = pool.reduce((sum, t) => sum + t.weight, 0);
        for (let cycle = 0; cycle < cycles; cycle++) {
          const picks = Array.from({ length: total }, () => balancer.pick(pool, requestFor('/')));
          assert.deepEqual(
            shares(pool, picks).map((s) => Math.round(s * total)),
            pool.map((t) => t.weight),
          );
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('weighted random gives each target its weight share within 2 points over 20 000 picks', () => {
    fc.assert(
      fc.property(pools, fc.integer(), (pool, seed) => {
        const balancer = createBalancer({ balance: 'random', random: seeded(seed) });
        const picks = Array.from({ length: 20_000 }, () => balancer.pick(pool, requestFor('/')));
        const expected = expectedShares(pool);
        shares(pool, picks).forEach((share, i) => {
          assert.ok(
            Math.abs(share - expected[i]!) < 0.02,
            `share ${share} for weight ${expected[i]}`,
          );
        });
      }),
      { numRuns: Math.ceil(RUNS / 3), seed: SEED },
    );
  });

  it('consistent hashing spreads random keys by weight within 5 points', () => {
    fc.assert(
      fc.property(pools, fc.integer(), (pool, seed) => {
        const balancer = createBalancer({ balance: 'consistent-hash', hashOn: 'path' });
        const random = seeded(seed);
        const picks = Array.from({ length: 20_000 }, () =>
          balancer.pick(pool, requestFor(`/users/${Math.floor(random() * 2 ** 32)}`)),
        );
        const expected = expectedShares(pool);
        shares(pool, picks).forEach((share, i) => {
          assert.ok(
            Math.abs(share - expected[i]!) < 0.05,
            `share ${share} for weight ${expected[i]}`,
          );
        });
      }),
      { numRuns: Math.ceil(RUNS / 3), seed: SEED },
    );
  });
});
