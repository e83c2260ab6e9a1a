import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../../examples/breakwater.yaml', import.meta.url));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=source', CLI, ...args],
      { timeout: 15_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('breakwater CLI', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'breakwater-cli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('validate prints OK and exits 0 for a good file', async () => {
    const result = await run(['validate', EXAMPLE]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^OK /);
  });

  test('validate prints every problem with its path and exits 1 for a bad file', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(
      file,
      'listen: 127.0.0.1:8080\nupstreams:\n  api:\n    targets: [ { url: "nope" } ]\nroutes: [ { upstream: web } ]\n',
    );
    const result = await run(['validate', file]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /upstreams\.api\.targets\[0\]\.url: expected an http:\/\/ URL/);
    assert.match(result.stderr, /routes\[0\]\.upstream: unknown upstream "web"/);
  });

  test('prints the version and help', async () => {
    const version = await run(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
    const help = await run(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /breakwater start --config FILE|start --config FILE/);
  });

  test('exits 2 on an unknown command', async () => {
    const result = await run(['launch']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown command "launch"/);
  });
});
