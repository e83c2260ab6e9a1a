/**
 * The upstream every proxy forwards to: nginx with three server blocks when nginx is installed
 * (so the upstream is never the bottleneck), three Node servers in one process otherwise. A
 * separate Node target can be told to refuse connections or answer slowly, for the failure runs.
 */
import { join } from 'node:path';
import { which } from '../lib/machine.ts';
import { freePort, type ProcessGroup, type Started, waitForPort } from '../lib/processes.ts';
import { repositoryRoot } from '../lib/results.ts';
import { nginxArguments, writeNginxUpstreamConfig } from './nginx.ts';

/** Running upstream servers. */
export interface Upstream {
  readonly kind: 'nginx' | 'node';
  readonly origins: readonly string[];
  readonly process: Started;
}

const nodeUpstreamScript = join(repositoryRoot, 'bench', 'proxy', 'node-upstream.ts');

/** Starts three upstream servers. */
export async function startUpstream(group: ProcessGroup, directory: string): Promise<Upstream> {
  const ports = [await freePort(), await freePort(), await freePort()];
  const origins = ports.map((port) => `http://127.0.0.1:${port}`);
  const nginx = which('nginx');
  let started: Started;
  let kind: Upstream['kind'];
  if (nginx !== undefined) {
    kind = 'nginx';
    const config = writeNginxUpstreamConfig(directory, ports);
    started = group.start(
      'nginx upstream',
      nginx,
      nginxArguments(directory, config, 'nginx-upstream'),
      join(directory, 'nginx-upstream.log'),
    );
  } else {
    kind = 'node';
    started = group.start(
      'node upstream',
      process.execPath,
      [nodeUpstreamScript, ...ports.map(String)],
      join(directory, 'node-upstream.log'),
    );
  }
  for (const port of ports) await waitForPort(started, port);
  await verifyHello(origins);
  return { kind, origins, process: started };
}

/** A Node target whose behaviour the run switches: ok, slow, refusing. */
export interface ControllableTarget {
  readonly origin: string;
  readonly process: Started;
  setMode(mode: 'ok' | 'slow' | 'refuse', delayMs?: number): Promise<void>;
}

/** Starts the Node target used to inject failures. */
export async function startControllableTarget(
  group: ProcessGroup,
  directory: string,
): Promise<ControllableTarget> {
  const port = await freePort();
  const started = group.start(
    'failing target',
    process.execPath,
    [nodeUpstreamScript, String(port)],
    join(directory, 'failing-target.log'),
    { ipc: true },
  );
  await waitForPort(started, port);
  const origin = `http://127.0.0.1:${port}`;
  await verifyHello([origin]);
  return {
    origin,
    process: started,
    setMode(mode, delayMs = 0) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`target did not switch to ${mode}`)),
          5_000,
        );
        started.child.once('message', (message: { ack?: string }) => {
          clearTimeout(timer);
          if (message.ack === mode) resolve();
          else reject(new Error(`target failed to switch to ${mode}: ${JSON.stringify(message)}`));
        });
        started.child.send({ mode, delayMs });
      });
    },
  };
}

/** Fails unless every origin answers GET / with 200 "hello\n". */
export async function verifyHello(origins: readonly string[]): Promise<void> {
  for (const origin of origins) {
    const response = await fetch(`${origin}/`, { signal: AbortSignal.timeout(5_000) });
    const text = await response.text();
    if (response.status !== 200 || text !== 'hello\n') {
      throw new Error(
        `${origin}/ answered ${response.status} ${JSON.stringify(text)}, expected 200 "hello\\n"`,
      );
    }
  }
}
