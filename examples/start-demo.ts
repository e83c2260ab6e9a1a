/**
 * `npm start`: three demo upstreams (one flaky) and the Breakwater proxy in front of them, using
 * examples/breakwater.yaml. The proxy runs as `breakwater start` would run it, in its own process,
 * so the file's `workers` setting (one per core unless it says otherwise) is honoured. Ctrl-C
 * drains and stops everything.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { availableParallelism } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfigFile } from '@breakwater/proxy';
import { startDemoUpstreams } from './demo-upstreams.ts';

const configPath = fileURLToPath(new URL('./breakwater.yaml', import.meta.url));
const cliPath = fileURLToPath(new URL('../packages/proxy/src/cli.ts', import.meta.url));

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Resolves once the proxy listens; rejects if it exits first or takes over 30 s. */
async function listening(proxy: ChildProcess, host: string, port: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proxy.exitCode !== null || proxy.signalCode !== null) {
      throw new Error(`the proxy exited (${proxy.exitCode ?? proxy.signalCode}) before listening`);
    }
    if (await accepts(host, port)) return;
    await delay(100);
  }
  throw new Error(`the proxy did not listen on ${host}:${port} within 30 s`);
}

async function main(): Promise<void> {
  // Validated here first so a bad file fails with its config error before anything starts.
  const config = await loadConfigFile(configPath);
  const upstreams = await startDemoUpstreams([8001, 8002, 8003]);
  const listen = config.listen[0]!;
  // The proxy's logs go where ours do; its own Ctrl-C handling drains the workers.
  const proxy = spawn(
    process.execPath,
    [...process.execArgv, cliPath, 'start', '--config', configPath],
    { stdio: 'inherit' },
  );
  try {
    await listening(proxy, listen.host, listen.port);
  } catch (error) {
    proxy.kill('SIGTERM');
    await upstreams.close();
    throw error;
  }
  const proxyUrl = `http://${listen.host}:${listen.port}`;
  const adminUrl =
    config.admin === undefined
      ? undefined
      : `http://${config.admin.listen.host}:${config.admin.listen.port}`;
  const workers = config.workers === 'auto' ? availableParallelism() : config.workers;
  process.stderr.write(
    [
      '',
      `  Breakwater proxy   ${proxyUrl}   (upstreams ${upstreams.urls.join(', ')}; the last one is flaky)`,
      `  Workers            ${workers}${config.workers === 'auto' ? ' (auto: one per core)' : ''}`,
      adminUrl === undefined
        ? ''
        : `  Admin              ${adminUrl}/api/upstreams   ${adminUrl}/metrics`,
      '',
      '  Try:',
      `    curl -i ${proxyUrl}/hello`,
      `    for i in $(seq 10); do curl -s ${proxyUrl}/hello; echo; done`,
      `    curl -s -H 'x-user-id: alice' ${proxyUrl}/sticky/profile`,
      adminUrl === undefined ? '' : `    curl -s ${adminUrl}/api/upstreams`,
      '',
      '  Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  // Ctrl-C in a terminal reaches the whole process group, so the proxy drains on its own (a second
  // signal from us would make it exit at once); a SIGTERM to this process alone is passed on.
  process.once('SIGINT', () => process.stderr.write('\nStopping…\n'));
  process.once('SIGTERM', () => {
    process.stderr.write('\nStopping…\n');
    if (proxy.exitCode === null) proxy.kill('SIGTERM');
  });
  const [code] = (await once(proxy, 'exit')) as [number | null];
  await upstreams.close();
  process.exitCode = code ?? 1;
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(error.message);
  else console.error(error);
  process.exitCode = 1;
});
