/**
 * The Node floor: the least a correct reverse proxy on node:http + undici does (round robin over
 * keep-alive pools, hop-by-hop headers dropped, 502 on upstream error) and nothing more. No
 * routing, no breakers, no metrics, no logs. A full proxy should come close to this; it cannot
 * be expected to beat it.
 *
 * Usage: node bench/proxy/minimal-forwarder.ts <port> <target-url>...
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { Pool } from 'undici';

const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
]);

function forwardableHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const forwarded: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && !hopByHop.has(name)) forwarded[name] = value;
  }
  return forwarded;
}

function main(): void {
  const [portArgument, ...targets] = process.argv.slice(2);
  const port = Number(portArgument);
  if (!Number.isInteger(port) || targets.length === 0) {
    process.stderr.write('usage: minimal-forwarder.ts <port> <target-url>...\n');
    process.exit(2);
  }
  const pools = targets.map((url) => new Pool(url));
  let next = 0;

  const server = createServer((request, response: ServerResponse) => {
    const pool = pools[next++ % pools.length]!;
    const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
    pool
      .stream(
        {
          method: request.method as 'GET',
          path: request.url ?? '/',
          headers: forwardableHeaders(request.headers),
          body: hasBody ? request : null,
        },
        ({ statusCode, headers }) => {
          response.statusCode = statusCode;
          for (const name in headers) {
            const value = headers[name];
            if (value !== undefined && !hopByHop.has(name)) response.setHeader(name, value);
          }
          return response;
        },
      )
      .catch(() => {
        if (!response.headersSent) {
          response.statusCode = 502;
          response.end();
        } else {
          response.destroy();
        }
      });
  });
  server.keepAliveTimeout = 75_000;
  server.listen(port, '127.0.0.1', () => process.stdout.write(`listening on ${port}\n`));
  process.once('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    for (const pool of pools) void pool.destroy();
  });
}

main();
