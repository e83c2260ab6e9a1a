/**
 * Builds the published packages and packs each into a tarball, exactly as `npm publish` would
 * (same `files`, same `prepack`), so checks and install tests look at what users would get.
 */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

/** The workspaces published to npm for library users, in dependency order. */
export const libraryPackages = [
  'breakwater',
  '@breakwater/http',
  '@breakwater/redis',
  '@breakwater/prometheus',
] as const;

/**
 * Every published workspace, in dependency order: the library packages (the metrics package
 * among them, built before the proxy, which uses it), then the proxy (an application with a
 * CLI). `release:check` checks every tarball; the packed-install test installs the library
 * packages.
 */
export const publishedPackages = [...libraryPackages, '@breakwater/proxy'] as const;

/** A packed package: its name and the absolute path of its tarball. */
export interface PackedPackage {
  readonly name: string;
  readonly tarball: string;
}

// npm is run through the Node that runs us, so a script under Node 22 packs with Node 22's npm
// environment and never depends on which `npm` is first on PATH.
const npmCli = process.env.npm_execpath;

/** Runs npm with `args` in `cwd` (default: the repository); resolves with its stdout. */
export async function npm(args: string[], cwd = root): Promise<string> {
  const [file, argv] = npmCli?.endsWith('.js')
    ? [process.execPath, [npmCli, ...args]]
    : ['npm', args];
  const { stdout } = await run(file, argv, { cwd, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** Builds then packs `packages` into `destination`; returns the tarballs in the same order. */
export async function packPackages(
  destination: string,
  packages: readonly string[] = libraryPackages,
): Promise<PackedPackage[]> {
  const workspaces = packages.flatMap((name) => ['-w', name]);
  await mkdir(destination, { recursive: true });
  await npm(['run', 'build', ...workspaces]);
  const out = await npm(['pack', '--json', '--pack-destination', destination, ...workspaces]);
  const packed = JSON.parse(out) as Array<{ name: string; filename: string }>;
  return packages.map((name) => {
    const entry = packed.find((p) => p.name === name);
    if (entry === undefined) throw new Error(`npm pack produced no tarball for ${name}`);
    return { name, tarball: join(destination, entry.filename) };
  });
}
