/**
 * The upstream target of the reliability runs, one per process so a run can kill and restart it.
 * It counts the TCP connections open to it (only the proxy connects), which is how the runner
 * sees how many upstream connections slow clients make the proxy hold.
 *
 *   GET  /hello     a few bytes
 *   GET  /large     `RESPONSE_BYTES` bytes (default 1 MiB), the slow readers' target
 *   POST /echo      reads the whole body, answers its length
 *   GET  /__stats   {"open": connections now, "peak": most since the last /__stats}
 *
 * Usage: node bench/reliability/target.ts <port>
 */
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: target.ts <port>\n');
  process.exit(2);
}
const large = Buffer.alloc(Number(process.env.RESPONSE_BYTES ?? 1_048_576), 'x');
const hello = Buffer.from('hello\n');
let open = 0;
let peak = 0;

const server = createServer((request, response) => {
  if (request.url === '/__stats') {
    const body = JSON.stringify({ open, peak });
    peak = open;
    response.writeHead(200, { 'content-type': 'application/json' }).end(body);
    return;
  }
  if (request.method === 'POST') {
    let length = 0;
    request.on('data', (chunk: Buffer) => {
      length += chunk.length;
    });
    request.on('end', () => response.writeHead(200).end(`${length}\n`));
    return;
  }
  const body = request.url?.startsWith('/large') ? large : hello;
  response.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  response.end(body);
});
server.on('connection', (socket) => {
  open++;
  if (open > peak) peak = open;
  socket.once('close', () => open--);
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1');
