/**
 * The seed, done properly: a web server whose `/hello` route answers 500 when its work fails and
 * 503 once the route's breaker has opened — and whose other routes keep their own breakers.
 *
 * Run it:  node --conditions=@breakwater/source examples/hello-breaker.ts   (PORT=8000 by default)
 *
 *   curl -i 'http://127.0.0.1:8000/hello?name=world'   200 Hello, world!
 *   curl -i 'http://127.0.0.1:8000/hello?name=error'   500 three times, then
 *   curl -i 'http://127.0.0.1:8000/hello?name=world'   503 with Retry-After, for 5 s
 *   curl -i 'http://127.0.0.1:8000/time'               200: its own breaker, still closed
 */
import { createServer, type Server } from 'node:http';
import { protectHandler } from '@breakwater/http/node';
import { type CircuitBreaker, type Clock, consecutiveFailures, systemClock } from 'breakwater';

/** Options of {@link createHelloServer}. */
export interface HelloServerOptions {
  /** Default: the system clock; tests pass a ManualClock. */
  readonly clock?: Clock;
  /** How long `/hello`'s breaker stays open, in ms. Default: 5 000. */
  readonly openDuration?: number;
}

/** The server and the breaker of its `/hello` route. */
export interface HelloServer {
  readonly server: Server;
  readonly helloBreaker: CircuitBreaker;
}

/**
 * Builds (does not start) the hello server: `/hello?name=` greets, and fails for `name=error`;
 * three failures in a row open `/hello`'s breaker for `openDuration`. `/time` has its own.
 */
export function createHelloServer(options: HelloServerOptions = {}): HelloServer {
  const { clock = systemClock, openDuration = 5_000 } = options;
  const breaker = { policy: consecutiveFailures(3), openDuration, clock };

  const hello = protectHandler(
    (req, res) => {
      const name = new URL(req.url ?? '/', 'http://localhost').searchParams.get('name') ?? 'world';
      if (name === 'error') throw new Error('could not greet');
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`Hello, ${name}!\n`);
    },
    { name: '/hello', breaker },
  );
  const time = protectHandler(
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${new Date().toISOString()}\n`);
    },
    { name: '/time', breaker },
  );

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/hello') return void hello(req, res);
    if (path === '/time') return void time(req, res);
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('Not found\n');
  });
  return { server, helloBreaker: hello.breaker };
}

if (import.meta.main) {
  const port = Number(process.env.PORT ?? 8000);
  const { server, helloBreaker } = createHelloServer();
  helloBreaker.on('state', ({ from, to }) => console.log(`/hello breaker: ${from} → ${to}`));
  server.listen(port, '127.0.0.1', () => {
    const address = server.address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}`;
    console.log(`hello-breaker listening on ${base}`);
    console.log(`  ${base}/hello?name=world   200`);
    console.log(`  ${base}/hello?name=error   500; the third in a row opens the breaker`);
    console.log(`  ${base}/hello?name=world   then 503 + Retry-After for 5 s, then 200 again`);
    console.log(`  ${base}/time               its own breaker`);
  });
}
