/**
 * Redis for tests: clients of the shared server (`REDIS_URL`, default 127.0.0.1:6379) under a
 * random key prefix that is deleted afterwards, and private `redis-server`s on free ports for
 * tests that stop or partition Redis (others use the shared one at the same time).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { createClient } from 'redis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function makeClient(url: string) {
  return createClient({ url, socket: { reconnectStrategy: () => 100, connectTimeout: 1_000 } });
}

export type Client = ReturnType<typeof makeClient>;

/** A random prefix, so tests sharing a server never see each other's keys. */
export function uniquePrefix(): string {
  return `bwtest:${randomBytes(6).toString('hex')}:`;
}

/** A connected client that reconnects quickly and never crashes the test on a connection error. */
export async function connect(url = REDIS_URL): Promise<Client> {
  const client = makeClient(url);
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** Deletes every key under `prefix`. */
export async function cleanUp(client: Client, prefix: string): Promise<void> {
  const keys: string[] = [];
  for await (const batch of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1_000 })) {
    keys.push(...batch);
  }
  if (keys.length > 0) await client.del(keys);
}

/** A port free right now on loopback. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** A private redis-server: no persistence, loopback only. */
export class RedisServer {
  readonly port: number;
  readonly url: string;
  #process: ChildProcess | undefined;
  readonly #extra: string[];

  constructor(port: number, extra: string[] = []) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.#extra = extra;
  }

  static async start(extra: string[] = []): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), extra);
    await server.start();
    return server;
  }

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        ...this.#extra,
      ],
      { stdio: 'ignore' },
    );
    this.#process = child;
    const deadline = Date.now() + 5_000;
    for (;;) {
      try {
        const probe = createClient({ url: this.url, socket: { reconnectStrategy: false } });
        probe.on('error', () => {});
        await probe.connect();
        await probe.ping();
        probe.destroy();
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await delay(20);
      }
    }
  }

  async stop(): Promise<void> {
    const child = this.#process;
    if (child === undefined || child.exitCode !== null) return;
    this.#process = undefined;
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
}
