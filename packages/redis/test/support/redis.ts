/**
 * Redis for tests: clients of the shared server (`REDIS_URL`, default 127.0.0.1:6379) under a
 * random key prefix that is deleted afterwards, and private `redis-server`s on free ports for
 * tests that stop or partition Redis (others use the shared one at the same time).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { createClient } from 'redis';

const run = promisify(execFile);

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

/** A port free on loopback whose cluster bus port (+10 000) is free too. */
async function freeClusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await isFree(port)) && (await isFree(port + 10_000))) return port;
  }
  throw new Error('no free port pair for a Redis Cluster node');
}

async function isFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Three masters on loopback made into a Redis Cluster with `redis-cli --cluster create`. */
export class RedisCluster {
  readonly nodes: RedisServer[];
  readonly #directory: string;

  private constructor(nodes: RedisServer[], directory: string) {
    this.nodes = nodes;
    this.#directory = directory;
  }

  static async start(): Promise<RedisCluster> {
    const directory = await mkdtemp(join(tmpdir(), 'bw-redis-cluster-'));
    const nodes: RedisServer[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freeClusterPort();
      const node = new RedisServer(port, [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(directory, `nodes-${port}.conf`),
        '--dir',
        directory,
      ]);
      await node.start();
      nodes.push(node);
    }
    const cluster = new RedisCluster(nodes, directory);
    await run('redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    const deadline = Date.now() + 10_000;
    for (const node of nodes) {
      for (;;) {
        const { stdout } = await run('redis-cli', ['-p', String(node.port), 'cluster', 'info']);
        if (stdout.includes('cluster_state:ok')) break;
        if (Date.now() > deadline) throw new Error(`cluster not ready: ${stdout}`);
        await delay(50);
      }
    }
    return cluster;
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) await node.stop();
    await rm(this.#directory, { recursive: true, force: true });
  }
}
