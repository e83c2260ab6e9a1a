/**
 * `npm start`: three demo upstreams (one flaky) and the Breakwater proxy in front of them, using
 * examples/breakwater.yaml. Ctrl-C drains and stops everything.
 */
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfigFile, startProxy } from '@breakwater/proxy';
import { startDemoUpstreams } from './demo-upstreams.ts';

const configPath = fileURLToPath(new URL('./breakwater.yaml', import.meta.url));

async function main(): Promise<void> {
  const config = await loadConfigFile(configPath);
  const upstreams = await startDemoUpstreams([8001, 8002, 8003]);
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  try {
    proxy = await startProxy(config);
  } catch (error) {
    await upstreams.close();
    throw error;
  }
  const listen = proxy.proxyAddresses[0]!;
  const proxyUrl = `http://${listen.address}:${listen.port}`;
  const adminUrl =
    proxy.adminAddress === undefined
      ? undefined
      : `http://${proxy.adminAddress.address}:${proxy.adminAddress.port}`;
  process.stderr.write(
    [
      '',
      `  Breakwater proxy   ${proxyUrl}   (upstreams ${upstreams.urls.join(', ')}; the last one is flaky)`,
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
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(1);
    stopping = true;
    process.stderr.write('\nStopping…\n');
    proxy
      .close()
      .then(() => upstreams.close())
      .then(
        () => {
          process.exitCode = 0;
        },
        (error: unknown) => {
          console.error(error);
          process.exitCode = 1;
        },
      );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(error.message);
  else console.error(error);
  process.exitCode = 1;
});
