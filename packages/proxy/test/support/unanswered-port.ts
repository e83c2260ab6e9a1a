/**
 * A loopback port whose TCP connects never complete, to test connect timeouts without leaving
 * the machine. A worker thread listens with a backlog of 1 and then blocks its event loop, so it
 * never accepts; once a few connections fill the accept queue, the kernel drops further SYNs
 * and a connect hangs until the client gives up.
 */
import { connect, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';

/** The port, and `close()` to wake the worker and release everything. */
export interface UnansweredPort {
  readonly port: number;
  close(): Promise<void>;
}

const WORKER = `
const { createServer } = require('node:net');
const { parentPort, workerData } = require('node:worker_threads');
const server = createServer();
server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
  parentPort.postMessage(server.address().port);
  // Blocks this thread's event loop (no CPU spent) until the test wakes it: nothing is accepted.
  Atomics.wait(new Int32Array(workerData), 0, 0, 30_000);
  server.close();
  process.exit(0);
});
`;

/** Starts the worker and fills its accept queue. */
export async function unansweredPort(): Promise<UnansweredPort> {
  const wake = new SharedArrayBuffer(4);
  const worker = new Worker(WORKER, { eval: true, workerData: wake });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  // Fill the accept queue; these complete in the kernel, later ones will not.
  const fillers: Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    fillers.push(socket);
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  return {
    port,
    async close() {
      for (const socket of fillers) socket.destroy();
      Atomics.notify(new Int32Array(wake), 0);
      await new Promise((resolve) => worker.once('exit', resolve));
    },
  };
}
