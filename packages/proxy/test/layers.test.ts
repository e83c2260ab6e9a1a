/**
 * The layering rules of `.dependency-cruiser.cjs` (run by `npm run lint:layers`) really fail:
 * depcruise runs on a temporary copy of `src/` with one deliberate upward import or cycle added.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEPCRUISE = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const run = promisify(execFile);

/** Runs depcruise over a copy of the proxy's src/ after `change` edits it. */
async function cruise(change: (src: string) => void): Promise<{ code: number; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'bw-layers-'));
  const src = join(dir, 'packages/proxy/src');
  cpSync(fileURLToPath(new URL('../src/', import.meta.url)), src, { recursive: true });
  change(src);
  try {
    const { stdout } = await run(
      process.execPath,
      [DEPCRUISE, 'packages/proxy/src', '--config', CONFIG, '--output-type', 'err'],
      { cwd: dir },
    );
    return { code: 0, output: stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, output: failed.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('layering rules', () => {
  test('pass on the proxy as it is', async () => {
    const { code, output } = await cruise(() => {});
    assert.equal(code, 0, output);
  });

  test('fail on an upward import, naming the rule and the files', async () => {
    const { code, output } = await cruise((src) => {
      appendFileSync(
        join(src, 'upstream/target.ts'),
        "\nimport type { Forwarder } from '../request/forwarder.ts';\nexport type F = Forwarder;\n",
      );
    });
    assert.notEqual(code, 0);
    assert.match(output, /upstream-below-request/);
    assert.match(output, /upstream\/target\.ts → .*request\/forwarder\.ts/);
  });

  test('fail on an import cycle', async () => {
    const { code, output } = await cruise((src) => {
      appendFileSync(
        join(src, 'upstream/selection.ts'),
        "\nimport type { UpstreamPool } from './upstream-pool.ts';\nexport type P = UpstreamPool;\n",
      );
    });
    assert.notEqual(code, 0);
    assert.match(output, /no-circular/);
  });

  test('fail when config/ reaches up into upstream/', async () => {
    const { code, output } = await cruise((src) => {
      appendFileSync(
        join(src, 'config/schema.ts'),
        "\nimport type { Target } from '../upstream/target.ts';\nexport type T = Target;\n",
      );
    });
    assert.notEqual(code, 0);
    assert.match(output, /config-is-the-bottom/);
  });
});
