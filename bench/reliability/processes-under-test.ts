/**
 * The processes a reliability run watches: targets (one process each, so one can be killed and
 * restarted on its port) and the proxy started from its CLI on a written config file. Every
 * process is started and stopped by PID through a {@link ProcessGroup}.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { which } from '../lib/machine.ts';
import { freePort, type ProcessGroup, type Started, waitForPort } from '../lib/processes.ts';
import { repositoryRoot } from '../lib/results.ts';
import { nginxArguments, writeNginxProxyConfig } from '../proxy/nginx.ts';

const targetScript = join(repositoryRoot, 'bench', 'reliability', 'target.ts');
const proxyCli = join(repositoryRoot, 'packages', 'proxy', 'src', 'cli.ts');

/** A target process on a fixed port, which can be killed and started again there. */
export class Target {
  readonly port: number;
  readonly #group: ProcessGroup;
  readonly #directory: string;
  readonly #responseBytes: number;
  #process: Started | undefined;

  constructor(group: ProcessGroup, directory: string, port: number, responseBytes: number) {
    this.#group = group;
    this.#directory = directory;
    this.port = port;
    this.#responseBytes = responseBytes;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.#process !== undefined;
  }

  async start(): Promise<void> {
    const started = this.#group.start(
      `target ${this.port}`,
      process.execPath,
      [targetScript, String(this.port)],
      join(this.#directory, `target-${this.port}.log`),
      { env: { ...process.env, RESPONSE_BYTES: String(this.#responseBytes) } },
    );
    this.#process = started;
    await waitForPort(started, this.port);
  }

  /** SIGKILL: the target vanishes mid-request, as a crashed process does. */
  async kill(): Promise<void> {
    const started = this.#process;
    if (started === undefined) return;
    this.#process = undefined;
    try {
      process.kill(started.pid, 'SIGKILL');
    } catch {
      return;
    }
    await started.exited;
  }

  async stop(): Promise<void> {
    const started = this.#process;
    this.#process = undefined;
    if (started !== undefined) await this.#group.stop(started);
  }

  /** Connections open to the target now, and the most since the last call. */
  stats(): Promise<{ open: number; peak: number } | undefined> {
    return new Promise((resolve) => {
      const req = request(`${this.url}/__stats`, { agent: false, timeout: 2_000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          try {
            resolve(JSON.parse(text) as { open: number; peak: number });
          } catch {
            resolve(undefined);
          }
        });
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(undefined));
      req.end();
    });
  }
}

/** Starts `count` targets on free ports. */
export async function startTargets(
  group: ProcessGroup,
  directory: string,
  count: number,
  responseBytes: number,
): Promise<Target[]> {
  const targets: Target[] = [];
  for (let i = 0; i < count; i++) {
    const target = new Target(group, directory, await freePort(), responseBytes);
    await target.start();
    targets.push(target);
  }
  return targets;
}

/** The proxy under test, run by its own CLI. */
export interface ProxyProcess {
  readonly process: Started;
  readonly url: string;
}

/**
 * Writes a config with one upstream over `targets` (plus `extra` YAML) and starts the proxy,
 * listening on `host` (a local address).
 */
export async function startProxyProcess(
  group: ProcessGroup,
  directory: string,
  targets: readonly Target[],
  extra = '',
  host = '127.0.0.1',
): Promise<ProxyProcess> {
  const port = await freePort();
  const config = join(directory, 'proxy.yaml');
  writeFileSync(
    config,
    [
      `listen: ${host}:${port}`,
      // One process: the suites read its RSS and descriptors by pid (the default is one per core).
      'workers: 1',
      'log: { level: warn, access: false }',
      'upstreams:',
      '  app:',
      '    targets:',
      ...targets.map((t) => `      - url: ${t.url}`),
      'routes:',
      '  - upstream: app',
      extra,
    ].join('\n'),
  );
  const started = group.start(
    'proxy',
    process.execPath,
    ['--conditions=@breakwater/source', proxyCli, 'start', '--config', config],
    join(directory, 'proxy.log'),
  );
  await waitForPort(started, port, undefined, host);
  return { process: started, url: `http://${host}:${port}` };
}

/**
 * nginx in front of the same targets, for the same attacks side by side: one worker process
 * (`master_process off`, so RSS and descriptors are read off one pid), its defaults otherwise
 * (proxy buffering with temp files, `send_timeout 60s`).
 */
export async function startNginxProcess(
  group: ProcessGroup,
  directory: string,
  targets: readonly Target[],
  host = '127.0.0.1',
): Promise<ProxyProcess> {
  const nginx = which('nginx');
  if (nginx === undefined)
    throw new Error('nginx is not installed (Debian: apt-get install nginx)');
  const port = await freePort();
  const config = writeNginxProxyConfig(
    directory,
    port,
    targets.map((t) => `127.0.0.1:${t.port}`),
    1,
    'nginx-proxy',
    host,
  );
  const started = group.start(
    'nginx',
    nginx,
    nginxArguments(directory, config, 'nginx-proxy'),
    join(directory, 'nginx.log'),
  );
  await waitForPort(started, port, undefined, host);
  return { process: started, url: `http://${host}:${port}` };
}

/** Open file descriptors of a process (entries of /proc/<pid>/fd), or undefined when unreadable. */
export function openDescriptors(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}
