/**
 * What a result was measured on: without the machine, the load on it and the versions of every
 * contestant, a benchmark number is not worth reading.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const rootDirectory = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The machine and runtime a run happened on. */
export interface MachineInfo {
  readonly date: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  /** 1, 5 and 15 minute load averages when the run started: other work on the machine skews numbers. */
  readonly loadAverage: readonly number[];
}

/** Describes this machine now. */
export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverage: os.loadavg().map((load) => Math.round(load * 100) / 100),
  };
}

/** The installed version of an npm package (as hoisted in the root node_modules), or `undefined`. */
export function packageVersion(name: string): string | undefined {
  try {
    const manifest: unknown = JSON.parse(
      readFileSync(join(rootDirectory, 'node_modules', name, 'package.json'), 'utf8'),
    );
    if (typeof manifest === 'object' && manifest !== null && 'version' in manifest) {
      return String(manifest.version);
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * The first line a system tool prints for its version, or `undefined` when it is not installed.
 * nginx prints it to stderr and wrk exits 1 after printing it, so both streams are read and the
 * exit code is ignored.
 */
export function toolVersion(command: string, args: readonly string[]): string | undefined {
  const path = which(command);
  if (path === undefined) return undefined;
  const result = spawnSync(path, args, { encoding: 'utf8', timeout: 5_000 });
  const text = `${result.stdout ?? ''}\n${result.stderr ?? ''}`;
  return text
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line !== '');
}

/** Where an executable lives on PATH (or in the sbin directories), or `undefined`. */
export function which(command: string): string | undefined {
  // BENCH_HIDE=wrk,nginx,haproxy pretends they are missing, to try the fallbacks.
  if ((process.env.BENCH_HIDE ?? '').split(',').includes(command)) return undefined;
  // nginx and haproxy live in /usr/sbin, which a non-root PATH may lack.
  const directories = [
    ...(process.env.PATH ?? '').split(':'),
    '/usr/sbin',
    '/sbin',
    '/usr/local/sbin',
  ];
  for (const directory of directories) {
    if (directory === '') continue;
    const candidate = join(directory, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** One line for a table caption: "2026-11-23, Intel Xeon … (2 cores, 23.5 GiB), Node v24.21.0". */
export function describeMachine(machine: MachineInfo): string {
  return (
    `${machine.date.slice(0, 16).replace('T', ' ')} UTC · ${machine.cpu} (${machine.cores} cores, ` +
    `${machine.memoryGiB} GiB) · ${machine.os} · Node ${machine.node} · ` +
    `load average at start ${machine.loadAverage.join(' / ')}`
  );
}
