/**
 * An upstream in Node: answers every request with "hello\n". Used when nginx is not installed,
 * and as the target that fails on cue in the failure scenarios. The parent switches its
 * behaviour over IPC:
 *   { mode: 'ok' }                      answer at once
 *   { mode: 'slow', delayMs: 200 }      answer after delayMs
 *   { mode: 'refuse' }                  stop listening and drop open connections (ECONNREFUSED)
 * and gets `{ ack: mode }` back once the change is in effect.
 *
 * Usage: node bench/proxy/node-upstream.ts <port>...
 */
import { createServer, type Server } from 'node:http';

type Mode = 'ok' | 'slow' | 'refuse';

const body = Buffer.from('hello\n');
let mode: Mode = 'ok';
let delayMs = 0;

function answer(response: import('node:http').ServerResponse): void {
  response.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  response.end(body);
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

async function main(): Promise<void> {
  const ports = process.argv.slice(2).map(Number);
  if (ports.length === 0 || ports.some((port) => !Number.isInteger(port))) {
    process.stderr.write('usage: node-upstream.ts <port>...\n');
    process.exit(2);
  }
  const servers = ports.map(() => {
    const server = createServer((_request, response) => {
      if (mode === 'slow') setTimeout(answer, delayMs, response);
      else answer(response);
    });
    server.keepAliveTimeout = 75_000;
    return server;
  });
  await Promise.all(servers.map((server, index) => listen(server, ports[index]!)));
  process.stdout.write(`listening on ${ports.join(', ')}\n`);

  process.on('message', (message: { mode?: Mode; delayMs?: number }) => {
    const next = message.mode ?? 'ok';
    const apply = async (): Promise<void> => {
      if (next === 'refuse') {
        await Promise.all(servers.map(close));
      } else if (mode === 'refuse') {
        await Promise.all(servers.map((server, index) => listen(server, ports[index]!)));
      }
      mode = next;
      delayMs = message.delayMs ?? 0;
      process.send?.({ ack: next });
    };
    apply().catch((error: unknown) => {
      process.stderr.write(`mode change to ${next} failed: ${String(error)}\n`);
      process.send?.({ ack: 'error' });
    });
  });
  process.once('SIGTERM', () => {
    void Promise.all(servers.map(close)).then(() => process.exit(0));
  });
}

await main();
