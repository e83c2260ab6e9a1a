#!/usr/bin/env node
/**
 * The `breakwater` command: `start --config FILE`, `validate FILE`, `--help`, `--version`.
 * Exit codes: 0 ok, 1 invalid config or failed start (one line on stderr naming the config path
 * and address; the JSON log has the detail), 2 wrong usage.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkListenHosts } from './config/bound-addresses.ts';
import { ConfigError } from './config/config-error.ts';
import { loadConfigFile } from './config/load-config.ts';
import { ListenError } from './listen-error.ts';
import { createLogger } from './logger.ts';
import { startProxy } from './proxy.ts';
import { checkSpillDirectory } from './request/response-spills.ts';
import { acceptIssues } from './workers/accept-mode.ts';
import { startCluster } from './workers/primary.ts';
import { workerCount } from './workers/worker-count.ts';

const USAGE = `Usage: breakwater <command> [options]

Commands:
  start --config FILE   Start the proxy with the YAML config FILE (-c FILE)
        [--workers N]   Worker processes: a number, or auto (one per core, the default);
                        overrides the file's workers setting; 1 runs no cluster
  validate FILE         Check a config file; prints OK or every problem (exit 1 on errors):
                        the schema, colliding listen addresses, listen hosts that do not resolve

Options:
  -h, --help            Show this help
  -v, --version         Show the version

Signals: SIGTERM / SIGINT stop accepting connections, let in-flight requests finish
(bounded by shutdownTimeout) and exit 0. A second signal exits at once.
SIGHUP re-reads the config file and applies it without dropping requests; an invalid
file is logged and the running config stays. With several workers, SIGUSR2 replaces
them one at a time (with cluster.accept: round-robin, the default, without refusing a
connection); without workers it is logged and ignored.`;

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined && !values.help ? 2 : 0;
  }
  switch (command) {
    case 'validate': {
      const file = rest[0] ?? values.config;
      if (file === undefined || rest.length > 1)
        return usageError('validate takes exactly one FILE');
      let config: Awaited<ReturnType<typeof loadConfigFile>>;
      try {
        config = await loadConfigFile(file);
      } catch (error) {
        return reportConfigError(error);
      }
      // What start would fail on that only the network can tell: listen hosts that do not resolve.
      const hosts = await checkListenHosts(config);
      for (const warning of hosts.warnings) {
        process.stderr.write(`warning: ${file}: ${warning.path}: ${warning.message}\n`);
      }
      if (hosts.errors.length > 0) return reportConfigError(new ConfigError(hosts.errors, file));
      // What start refuses before forking workers; with one process nothing is accepted apart.
      if (workerCount(config.workers) > 1) {
        const accept = acceptIssues(config);
        if (accept.length > 0) return reportConfigError(new ConfigError(accept, file));
      } else if (config.cluster.accept === 'reuse-port') {
        process.stderr.write(
          `warning: ${file}: cluster.accept: reuse-port has no effect with one worker (workers: ${config.workers})\n`,
        );
      }
      try {
        await checkSpillDirectory(config.limits);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        return reportConfigError(new ConfigError(error.issues, file));
      }
      process.stdout.write(`OK ${file}\n`);
      return 0;
    }
    case 'start': {
      const file = values.config ?? rest[0];
      if (file === undefined) return usageError('start needs --config FILE');
      let config: Awaited<ReturnType<typeof loadConfigFile>>;
      try {
        config = await loadConfigFile(file);
      } catch (error) {
        return reportConfigError(error);
      }
      if (values.workers !== undefined) {
        const workers = parseWorkers(values.workers);
        if (workers === undefined)
          return usageError(
            `--workers expects auto or a whole number from 1 to 1024, got ${JSON.stringify(values.workers)}`,
          );
        config = { ...config, workers };
      }
      const logger = createLogger(config.log.level);
      let proxy: { reloadFile(): Promise<unknown>; close(): Promise<void> };
      let restart: (() => Promise<void>) | undefined;
      try {
        if (workerCount(config.workers) === 1) {
          proxy = await startProxy(config, { logger, configFile: file });
        } else {
          const running = await startCluster(config, { logger, configFile: file });
          proxy = running;
          restart = running.restart;
        }
      } catch (error) {
        logger.fatal({ err: error }, 'failed to start');
        // One line a person reads first; the JSON line above keeps the detail.
        const reason =
          error instanceof ListenError
            ? error.message
            : `failed to start: ${error instanceof Error ? error.message : String(error)}`;
        process.stderr.write(`breakwater: ${file}: ${reason}\n`);
        return 1;
      }
      return new Promise<number>((resolve) => {
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) {
            logger.warn({ signal }, 'second signal; exiting now');
            process.exit(1);
          }
          stopping = true;
          logger.info({ signal }, 'signal received; draining');
          proxy.close().then(
            () => resolve(0),
            (error: unknown) => {
              logger.error({ err: error }, 'error while shutting down');
              resolve(1);
            },
          );
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
        // reloadFile() never rejects and logs its own result.
        process.on('SIGHUP', () => {
          logger.info({ signal: 'SIGHUP', file }, 'reloading config');
          void proxy.reloadFile();
        });
        // Handled in one process too: SIGUSR2's default action ends the process, and a deploy
        // script sending it after an upgrade must not kill a proxy that runs without workers
        // (`workers: 1`, or `auto` on one core).
        process.on('SIGUSR2', () => {
          if (restart === undefined) {
            logger.warn(
              { signal: 'SIGUSR2' },
              'no workers (one process): nothing to restart; signal ignored',
            );
            return;
          }
          logger.info({ signal: 'SIGUSR2' }, 'rolling restart of the workers');
          restart().catch((error: unknown) =>
            logger.error({ err: error }, 'rolling restart failed'),
          );
        });
      });
    }
    default:
      return usageError(`unknown command "${command}"`);
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      workers: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
}

/** `--workers`: `auto` or a whole number 1–1024, as the config file's `workers` allows. */
function parseWorkers(text: string): number | 'auto' | undefined {
  if (text === 'auto') return 'auto';
  if (!/^\d{1,4}$/.test(text)) return undefined;
  const count = Number(text);
  return count >= 1 && count <= 1024 ? count : undefined;
}

function usageError(message: string): number {
  process.stderr.write(`breakwater: ${message}\n\n${USAGE}\n`);
  return 2;
}

function reportConfigError(error: unknown): number {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    return 1;
  }
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  return 1;
}

function version(): string {
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
  const pkg: unknown = JSON.parse(text);
  return typeof pkg === 'object' && pkg !== null && 'version' in pkg
    ? String(pkg.version)
    : 'unknown';
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
