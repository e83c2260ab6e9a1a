/**
 * `npm run release:check`: builds and packs every published package, then runs publint and
 * are-the-types-wrong on the tarballs — the files users would install, not the workspace. Any
 * message from either fails the check. are-the-types-wrong runs with its `esm-only` profile: the
 * packages are ES modules only (CommonJS callers use `require(esm)`, Node >= 20.19 / 22.12), so
 * "a CommonJS TypeScript program must use import()" is by design, not a finding.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packPackages, publishedPackages } from './pack-packages.ts';

const run = promisify(execFile);
const bin = (name: string) => join(import.meta.dirname, '..', 'node_modules', '.bin', name);

async function check(label: string, file: string, args: string[]): Promise<string | undefined> {
  try {
    const { stdout, stderr } = await run(file, args, { maxBuffer: 16 * 1024 * 1024 });
    const output = `${stdout}${stderr}`;
    // publint exits 0 on suggestions and warnings; any message it prints is a finding for us.
    if (label.startsWith('publint') && !/All good!/.test(output)) return `${label}\n${output}`;
    return undefined;
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    return `${label}\n${stdout}${stderr}`;
  }
}

const destination = await mkdtemp(join(tmpdir(), 'breakwater-release-check-'));
try {
  const packed = await packPackages(destination, publishedPackages);
  const findings = await Promise.all(
    packed.flatMap(({ name, tarball }) => [
      check(`publint ${name}`, bin('publint'), ['run', tarball, '--strict']),
      check(`attw ${name}`, bin('attw'), [tarball, '--profile', 'esm-only', '--format', 'ascii']),
    ]),
  );
  const failed = findings.filter((finding) => finding !== undefined);
  for (const finding of failed) console.error(finding);
  if (failed.length > 0) process.exitCode = 1;
  else
    console.log(`release:check: publint and attw clean on ${packed.map((p) => p.name).join(', ')}`);
} finally {
  await rm(destination, { recursive: true, force: true });
}
