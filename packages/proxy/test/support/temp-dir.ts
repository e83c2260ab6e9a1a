/** A scratch directory for tests that write config files. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';

/**
 * Makes a fresh temporary directory before the enclosing suite runs and removes it after; call it
 * inside `describe`. Returns a function giving the path of a file in that directory.
 *
 * @example
 * describe('hot reload', () => {
 *   const inTempDir = useTempDir('breakwater-reload-');
 *   test('…', async () => writeFile(inTempDir('proxy.yaml'), yaml));
 * });
 */
export function useTempDir(prefix: string): (name: string) => string {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return (name) => join(dir, name);
}
