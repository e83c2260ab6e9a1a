/**
 * An upstream with a fixed capacity, for the overload scenario: it works on at most `capacity`
 * requests at once, each for `serviceMs`, and queues the rest first in, first out — the way a
 * thread pool or a database connection pool behaves. Offered more than capacity ÷ service time,
 * its queue and so its latency grow for as long as the overload lasts. Answers "hello\n".
 *
 * Usage: node bench/proxy/overload-upstream.ts <port> <capacity> <serviceMs>
 */
import { createServer, type ServerResponse } from 'node:http';

const [port, capacity, serviceMs] = process.argv.slice(2).map(Number);
if (![port, capacity, serviceMs].every((value) => Number.isInteger(value) && value! > 0)) {
  process.stderr.write('usage: overload-upstream.ts <port> <capacity> <serviceMs>\n');
  process.exit(2);
}

const body = Buffer.from('hello\n');
let working = 0;
const queue: ServerResponse[] = [];
let head = 0;

function start(response: ServerResponse): void {
  working++;
  setTimeout(finish, serviceMs, response);
}

function finish(response: ServerResponse): void {
  working--;
  if (!response.destroyed) {
    response.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    response.end(body);
  }
  // A client that gave up while queued still costs its turn, as in a real pool that cannot see
  // the caller leave; skipping it would make the upstream kinder than the thing it models.
  if (head < queue.length) {
    start(queue[head]!);
    queue[head++] = undefined as unknown as ServerResponse;
    if (head > 4096 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
  }
}

const server = createServer((request, response) => {
  request.resume();
  if (working < capacity!) start(response);
  else queue.push(response);
});
server.keepAliveTimeout = 75_000;
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening on ${port}, ${capacity} at once, ${serviceMs} ms each\n`);
});
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
