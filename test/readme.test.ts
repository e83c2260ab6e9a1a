/**
 * The README stays true: every block a test marks with `// README: name` … `// README end` must
 * appear in README.md verbatim (after removing the block's common indentation), so an example
 * in the README is always one that a test runs.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..');

async function testFiles(): Promise<string[]> {
  const files: string[] = [];
  for (const pkg of await readdir(join(root, 'packages'))) {
    const dir = join(root, 'packages', pkg, 'test');
    const names = await readdir(dir, { recursive: true }).catch(() => []);
    for (const name of names) if (name.endsWith('.test.ts')) files.push(join(dir, name));
  }
  return files;
}

function dedent(lines: string[]): string {
  const indents = lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)?.[0].length ?? 0);
  const cut = Math.min(...indents);
  return lines.map((l) => l.slice(cut)).join('\n');
}

function snippets(source: string): Array<{ name: string; code: string }> {
  const found: Array<{ name: string; code: string }> = [];
  const lines = source.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = /^\s*\/\/ README: (\S+)\s*$/.exec(lines[i] ?? '');
    if (!start) continue;
    const end = lines.findIndex((l, j) => j > i && /^\s*\/\/ README end\s*$/.test(l));
    assert.ok(end > i, `README block "${start[1]}" has no "// README end"`);
    found.push({ name: start[1] ?? '', code: dedent(lines.slice(i + 1, end)) });
    i = end;
  }
  return found;
}

test('every README example marked in a test appears in README.md verbatim', async () => {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const all = [];
  for (const file of await testFiles()) {
    for (const snippet of snippets(await readFile(file, 'utf8'))) all.push({ file, ...snippet });
  }
  assert.ok(all.length >= 5, `expected the README examples to be marked, found ${all.length}`);
  for (const { file, name, code } of all) {
    assert.ok(readme.includes(code), `README.md lacks example "${name}" from ${file}:\n${code}`);
  }
});
