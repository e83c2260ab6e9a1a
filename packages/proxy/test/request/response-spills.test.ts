/**
 * The spill bounds shared by every response (`ResponseSpills`) with a client that never drains:
 * a file stops at `maxFileSize`, no spill starts once `maxTotalSize` is on disk, and a destroyed
 * spill gives its room back once its file is closed.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import type { SpillClient, SpillOwner } from '../../src/request/response-spill.ts';
import { ResponseSpills } from '../../src/request/response-spills.ts';

const KiB = 1024;

/** A client that is behind for good: every write waits, no 'drain' ever comes. */
function stuckClient(): SpillClient & { written: number } {
  const emitter = new EventEmitter();
  return Object.assign(emitter, {
    written: 0,
    write(chunk: Buffer) {
      this.written += chunk.length;
      return false;
    },
  }) as unknown as SpillClient & { written: number };
}

function owner(): SpillOwner {
  return {
    resume() {},
    handBack() {},
    delivered() {},
    failed() {},
  };
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('response spill bounds', () => {
  let directory = '';
  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'breakwater-spills-test-'));
  });
  after(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  test('a file stops at maxFileSize and no spill starts once maxTotalSize is on disk', async () => {
    const spills = new ResponseSpills(
      { maxFileSize: 256 * KiB, maxTotalSize: 256 * KiB, directory },
      pino({ level: 'silent' }),
    );
    const spill = spills.start(stuckClient(), owner(), 'drain')!;
    const chunk = Buffer.alloc(32 * KiB, 1);
    // A chunk is taken whatever push answers (false only asks for a pause): nine of them, one
    // more than the file holds.
    for (let i = 0; i < 9; i++) spill.push(chunk);
    assert.equal(spill.fileBytes, 256 * KiB, 'exactly maxFileSize in the file');
    assert.equal(spills.fallbacks['max-file-size'], 1);
    assert.equal(spills.diskBytes, 256 * KiB);
    assert.equal(spills.start(stuckClient(), owner(), 'drain'), undefined, 'the total is on disk');
    assert.equal(spills.fallbacks['max-total-size'], 1);
    assert.equal(spills.spilled, 1);
    spill.destroy();
    await waitFor(() => spills.files === 0, 'the file to close');
    assert.equal(spills.diskBytes, 0, 'the room is given back');
  });
});
