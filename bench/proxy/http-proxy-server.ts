/**
 * Peer: node-http-proxy (`http-proxy`), round robin over the targets with a keep-alive agent
 * (without one it opens a connection per request and looks far worse than it need be).
 *
 * Usage: node bench/proxy/http-proxy-server.ts <port> <target-url>...
 */
import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';

function main(): void {
  const [portArgument, ...targets] = process.argv.slice(2);
  const port = Number(portArgument);
  if (!Number.isInteger(port) || targets.length === 0) {
    process.stderr.write('usage: http-proxy-server.ts <port> <target-url>...\n');
    process.exit(2);
  }
  const agent = new Agent({ keepAlive: true, maxSockets: 128 });
  const proxy = httpProxy.createProxyServer({ agent, xfwd: true });
  proxy.on('error', (_error, _request, response) => {
    if ('writeHead' in response && !response.headersSent) {
      response.writeHead(502);
      response.end();
    } else {
      response.destroy();
    }
  });
  let next = 0;
  const server = createServer((request, response) => {
    proxy.web(request, response, { target: targets[next++ % targets.length] });
  });
  server.keepAliveTimeout = 75_000;
  server.listen(port, '127.0.0.1', () => process.stdout.write(`listening on ${port}\n`));
  process.once('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    agent.destroy();
  });
}

main();
