import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { clusterSync } from 'breakwater/cluster';

const run = promisify(execFile);
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

interface Report {
  readonly from: string;
  readonly event: string;
  readonly data?: { readonly origin?: string; readonly granted?: boolean };
}

describe('clusterSync between real workers', () => {
  it('carries a transition to the other workers and the primary, grants one lease, takes it back from its holder, and lets a late worker read the state', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--conditions=@breakwater/source', fixture('transport-workers.ts')],
      { timeout: 15_000 },
    );
    const { reports, primaryDeliveries } = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      reports: Report[];
      primaryDeliveries: unknown[];
    };
    const delivered = reports.filter((r) => r.event === 'delivered');
    const publisher = 'w1';
    assert.deepEqual(
      delivered
        .slice(0, 2)
        .map((r) => r.from)
        .sort(),
      ['w2', 'w3'],
      'every other worker, not the publisher',
    );
    assert.ok(delivered.every((r) => r.data?.origin === publisher));
    assert.equal(primaryDeliveries.length, 1);
    assert.equal(reports.filter((r) => r.event === 'other').length, 0, 'other names untouched');
    const leases = reports.filter((r) => r.event === 'lease');
    assert.equal(leases.slice(0, 3).filter((r) => r.data?.granted).length, 1);
    const holder = leases.slice(0, 3).find((r) => r.data?.granted)?.from;
    assert.equal(leases[3]?.data?.granted, true, 'given back, the lease goes to the next asker');
    assert.notEqual(leases[3]?.from, holder);
    assert.ok(
      delivered.some((r) => r.from === 'w4'),
      'the late worker got the shared state',
    );
  });

  it('goes on alone when the channel fails after a send, instead of crashing the worker', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--conditions=@breakwater/source', fixture('failing-channel.ts')],
      { timeout: 15_000 },
    );
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      code: number;
      statuses: string[];
    };
    assert.equal(result.code, 0, 'the worker exited on its own, not from an unhandled error');
    assert.ok(result.statuses.includes('alone'), `statuses: ${result.statuses.join(', ')}`);
  });

  it('rejects an instance id that would break the counts format', () => {
    assert.throws(() => clusterSync({ instanceId: 'a|b' }), /instanceId/);
    assert.throws(() => clusterSync({ flushInterval: 0 }), /flushInterval/);
  });
});
