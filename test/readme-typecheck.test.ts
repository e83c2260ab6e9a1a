/**
 * Every TypeScript block of every README and guide compiles as written: each ```ts block of
 * README.md, packages/*\/README.md and docs/*.md becomes its own module, and one strict `tsc` run
 * checks them all (the repository's compiler settings, packages resolved from the workspace).
 * A deliberately partial block is marked with `<!-- not-compiled: NAME -->` on the line before
 * its fence, and NAME must be listed in {@link partialBlocks} below.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

/** The blocks allowed to stay partial, by the name their marker gives. Keep this short. */
const partialBlocks = new Set<string>();

interface Block {
  readonly file: string;
  readonly line: number;
  readonly code: string;
}

async function markdownFiles(): Promise<string[]> {
  const files = [join(root, 'README.md')];
  for (const pkg of await readdir(join(root, 'packages'))) {
    const readme = join(root, 'packages', pkg, 'README.md');
    if (
      await readFile(readme).then(
        () => true,
        () => false,
      )
    )
      files.push(readme);
  }
  const docs = await readdir(join(root, 'docs')).catch(() => []);
  for (const name of docs) if (name.endsWith('.md')) files.push(join(root, 'docs', name));
  return files;
}

function tsBlocks(file: string, text: string): { blocks: Block[]; skipped: string[] } {
  const blocks: Block[] = [];
  const skipped: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i] ?? '')) continue;
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    assert.ok(end > i, `${file}:${i + 1}: unterminated code block`);
    const marker = /^<!-- not-compiled: (\S+) -->$/.exec(lines[i - 1] ?? '');
    if (marker?.[1] !== undefined) {
      assert.ok(partialBlocks.has(marker[1]), `${file}:${i + 1}: "${marker[1]}" is not listed`);
      skipped.push(marker[1]);
    } else {
      blocks.push({ file, line: i + 2, code: lines.slice(i + 1, end).join('\n') });
    }
    i = end;
  }
  return { blocks, skipped };
}

test('every TypeScript block in the READMEs and docs type-checks as written', async () => {
  const blocks: Block[] = [];
  for (const file of await markdownFiles()) {
    const found = tsBlocks(relative(root, file), await readFile(file, 'utf8'));
    blocks.push(...found.blocks);
  }
  assert.ok(blocks.length >= 10, `expected the READMEs' blocks, found ${blocks.length}`);

  // Inside the repository, so `breakwater`, `@breakwater/http` and the frameworks resolve.
  await mkdir(join(root, '.tmp'), { recursive: true });
  const dir = await mkdtemp(join(root, '.tmp', 'readme-blocks-'));
  try {
    const names = new Map<string, Block>();
    for (const [index, block] of blocks.entries()) {
      const name = `block-${index}.ts`;
      names.set(name, block);
      // `export {}` makes a block without imports a module too: top-level await, own scope.
      await writeFile(join(dir, name), `${block.code}\nexport {};\n`);
    }
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: '../../tsconfig.base.json',
        compilerOptions: { noEmit: true, skipLibCheck: true },
        include: ['*.ts'],
      }),
    );
    const output = await run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], {
      cwd: dir,
      maxBuffer: 16 * 1024 * 1024,
    }).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    // Point each error at the README line it came from.
    const located = output.replace(/(block-\d+\.ts)\((\d+),(\d+)\)/g, (_all, name, line, col) => {
      const block = names.get(name);
      return block ? `${block.file}:${block.line + Number(line) - 1}:${col}` : `${name}(${line})`;
    });
    assert.equal(located, '', `README blocks that do not compile:\n${located}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
