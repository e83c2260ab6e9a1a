/**
 * Three small HTTP servers to put behind the demo proxy. Each answers JSON naming itself and has
 * /healthz. The third is flaky on purpose: 30% of requests fail with 500 and 10% are slow, so
 * the proxy's metrics and (later) outlier detection have something to show.
 *
 * @example
 * const demo = await startDemoUpstreams([8001, 8002, 8003]);
 * await demo.close();
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';

/** The running demo upstreams. */
export interface DemoUpstreams {
  readonly urls: readonly string[];
  close(): Promise<void>;
}

/** Options for one demo server. */
interface DemoBehaviour {
  readonly name: string;
  /** Share of requests answered 500, 0..1. */
  readonly failureRate: number;
  /** Share of requests delayed by `slowMs`, 0..1. */
  readonly slowRate: number;
  readonly slowMs: number;
}

function createDemoServer(behaviour: DemoBehaviour): Server {
  let served = 0;
  return createServer((req, res) => {
    served++;
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'ok', name: behaviour.name }));
      return;
    }
    const respond = () => {
      const failed = Math.random() < behaviour.failureRate;
      res.writeHead(failed ? 500 : 200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          upstream: behaviour.name,
          ok: !failed,
          method: req.method,
          path: req.url,
          requestId: req.headers['x-request-id'],
          forwardedFor: req.headers['x-forwarded-for'],
          served,
        }),
      );
    };
    // Drain any request body before answering so keep-alive connections stay usable.
    req.resume();
    req.on('end', () => {
      if (Math.random() < behaviour.slowRate) setTimeout(respond, behaviour.slowMs);
      else respond();
    });
  });
}

/** Starts the demo upstreams on 127.0.0.1 at `ports` (0 = any free port); the last is flaky. */
export async function startDemoUpstreams(
  ports: readonly number[] = [8001, 8002, 8003],
): Promise<DemoUpstreams> {
  const servers: Server[] = [];
  const urls: string[] = [];
  try {
    for (const [index, port] of ports.entries()) {
      const flaky = index === ports.length - 1;
      const server = createDemoServer({
        name: `demo-${index + 1}${flaky ? ' (flaky)' : ''}`,
        failureRate: flaky ? 0.3 : 0,
        slowRate: flaky ? 0.1 : 0,
        slowMs: 1_500,
      });
      servers.push(server);
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
      const address = server.address();
      urls.push(
        `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : port}`,
      );
    }
  } catch (error) {
    for (const server of servers) server.close();
    throw error;
  }
  return {
    urls,
    close: async () => {
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              server.closeAllConnections();
            }),
        ),
      );
    },
  };
}
