/**
 * Peer: @fastify/http-proxy on fastify (undici underneath), round robin over the targets through
 * `replyOptions.getUpstream`; logging off, as it would be for a benchmark of any server.
 *
 * Usage: node bench/proxy/fastify-proxy-server.ts <port> <target-url>...
 */
import fastifyHttpProxy from '@fastify/http-proxy';
import Fastify from 'fastify';

async function main(): Promise<void> {
  const [portArgument, ...targets] = process.argv.slice(2);
  const port = Number(portArgument);
  if (!Number.isInteger(port) || targets.length === 0) {
    process.stderr.write('usage: fastify-proxy-server.ts <port> <target-url>...\n');
    process.exit(2);
  }
  let next = 0;
  const app = Fastify({ logger: false, keepAliveTimeout: 75_000 });
  await app.register(fastifyHttpProxy, {
    upstream: '',
    replyOptions: {
      getUpstream: () => targets[next++ % targets.length]!,
    },
  });
  await app.listen({ port, host: '127.0.0.1' });
  process.stdout.write(`listening on ${port}\n`);
  process.once('SIGTERM', () => {
    void app.close();
  });
}

await main();
