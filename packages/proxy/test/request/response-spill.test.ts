/**
 * Response spilling end to end (`limits.responseSpill`): a client that stops reading a large
 * response no longer holds its upstream connection, which goes back to the pool when the
 * upstream is done, while the client later reads every byte from the spill file; the file never
 * outlives its response; past its bounds, or turned off, the upstream waits for the client.
 * Clients pause their sockets; responses are large enough (tens of MB) to fill loopback's kernel
 * buffers, so the proxy is really behind.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm, rmdir } from 'node:fs/promises';
import { type IncomingMessage, request, type ServerResponse } from 'node:http';
import { connect as connectH2 } from 'node:http2';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { httpRequest, metric, startServer, startTestProxy } from '../support/proxy-harness.ts';
import { waitFor } from '../support/servers.ts';

const MiB = 1024 * 1024;

/** An upstream answering `/big` with `body` (written with backpressure) and anything else with `ok`. */
async function upstreamOf(body: Buffer, options: { trailers?: boolean } = {}) {
  const outcomes: ('finished' | 'aborted')[] = [];
  let connections = 0;
  let requests = 0;
  const server = await startServer((req, res: ServerResponse) => {
    if (req.url !== '/big') {
      res.end('ok');
      return;
    }
    requests++;
    if (options.trailers === true) res.writeHead(200, { trailer: 'x-checksum' });
    else res.writeHead(200, { 'content-length': body.length });
    let offset = 0;
    const pump = () => {
      while (offset < body.length) {
        const piece = body.subarray(offset, offset + MiB);
        offset += piece.length;
        if (!res.write(piece)) {
          res.once('drain', pump);
          return;
        }
      }
      if (options.trailers === true) res.addTrailers({ 'x-checksum': sha256(body) });
      res.end();
    };
    res.once('finish', () => outcomes.push('finished'));
    res.once('close', () => {
      if (!res.writableFinished) outcomes.push('aborted');
    });
    pump();
  });
  server.server.on('connection', () => connections++);
  return {
    ...server,
    outcomes,
    get connections() {
      return connections;
    },
    /** Requests for /big received so far. */
    get requests() {
      return requests;
    },
  };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A GET for /big whose response is paused as soon as its headers arrive. */
async function pausedGet(port: number) {
  const req = request({ host: '127.0.0.1', port, path: '/big', agent: false });
  req.on('error', () => {});
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  res.pause();
  return {
    req,
    res,
    /** Resumes reading and resolves with the whole body. */
    async readAll(): Promise<Buffer> {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.resume();
      await once(res, 'end');
      return Buffer.concat(chunks);
    },
  };
}

/** This process's descriptors open on files in `directory` (the proxy runs in-process). */
function descriptorsIn(directory: string): string[] {
  const open: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(`${directory}/`)) open.push(target);
    } catch {
      // Closed between listing and reading: not open.
    }
  }
  return open;
}

function yaml(target: string, limits: string, upstreamLimits = ''): string {
  return `
listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
log: { level: silent }
limits: ${limits}
upstreams:
  app:
    targets: [ { url: ${target} } ]
    ${upstreamLimits}
routes: [ { upstream: app } ]
`;
}

const linuxOnly = process.platform === 'linux' ? false : 'reads open descriptors in /proc';

describe('response spilling', () => {
  let directory = '';
  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'breakwater-spill-test-'));
  });
  after(async () => {
    await rm(directory, { recursive: true, force: true });
  });
  const spill = (more = '') =>
    `{ minResponseRate: false, responseBuffer: 64kb, responseSpill: { directory: ${directory}${more} } }`;

  test('a client that stops reading frees the upstream connection, then reads every byte from the spill', async () => {
    const body = randomBytes(32 * MiB);
    const upstream = await upstreamOf(body);
    // One connection to the target: a second request gets through only if the first gave it back.
    const proxy = await startTestProxy(
      yaml(upstream.url, spill(), 'limits: { maxConnections: 1 }'),
    );
    const client = await pausedGet(proxy.port);
    try {
      await waitFor(() => upstream.outcomes.length > 0, 'the upstream to finish');
      assert.deepEqual(
        upstream.outcomes,
        ['finished'],
        'sent whole while the client reads nothing',
      );
      const other = await httpRequest(`${proxy.url}/small`);
      assert.equal(other.body, 'ok');
      assert.equal(upstream.connections, 1, 'the same upstream connection served both');
      assert.equal(await metric(proxy, 'breakwater_responses_spilled_total'), 1);
      assert.equal(await metric(proxy, 'breakwater_upstream_pending_requests{upstream="app"}'), 0);
      const received = await client.readAll();
      assert.equal(received.length, body.length);
      assert.equal(sha256(received), sha256(body), 'byte-exact');
      await waitFor(
        async () => (await metric(proxy, 'breakwater_response_spill_files')) === 0,
        'the spill file to close',
      );
      const written = await metric(proxy, 'breakwater_response_spill_bytes_total');
      assert.ok(written !== undefined && written > 0 && written <= body.length, `${written}`);
      assert.equal(await metric(proxy, 'breakwater_response_spill_disk_bytes'), 0);
    } finally {
      client.req.destroy();
      await proxy.close();
      await upstream.close();
    }
  });

  test('a client already behind holds at most responseBuffer in memory: the rest of the read that overflows it is spilled', async () => {
    const head = randomBytes(1024);
    const rest = randomBytes(4 * MiB);
    let upstreamDone = false;
    // A small first read, then large ones: the client is a little behind when the large ones come.
    const upstream = await startServer((_req, res: ServerResponse) => {
      res.writeHead(200, { 'content-length': head.length + rest.length });
      res.write(head);
      setTimeout(() => res.end(rest, () => (upstreamDone = true)), 50);
    });
    const proxy = await startTestProxy(
      yaml(
        upstream.url,
        `{ minResponseRate: false, responseBuffer: 64kb, responseSpill: { directory: ${directory} } }`,
      ),
    );
    // The proxy runs in-process. Once the head and the first 1 KB are out, its socket to the
    // client is corked: nothing written after leaves it (as with a client reading through a tiny
    // window), and what waits in memory for the client is visible.
    let response: ServerResponse | undefined;
    proxy.listeners[0]!.server.prependListener('request', (_req: unknown, res: ServerResponse) => {
      response = res;
      const write = res.write;
      res.write = function (this: ServerResponse, ...args: Parameters<typeof write>) {
        res.write = write;
        const taken = write.apply(this, args);
        // After node's own cork for this write is undone (next tick), the head has left.
        setImmediate(() => this.socket!.cork());
        return taken;
      } as typeof write;
    });
    const client = await pausedGet(proxy.port);
    try {
      await waitFor(() => upstreamDone, 'the upstream to finish');
      await waitFor(
        async () =>
          (await metric(proxy, 'breakwater_upstream_pending_requests{upstream="app"}')) === 0,
        'the upstream response to be read off',
      );
      // Writing the read that overflowed the buffer whole kept up to 64 KB more waiting.
      const held = response!.writableLength;
      assert.ok(held <= 64 * 1024, `${held} bytes wait in memory for the client`);
      assert.equal(await metric(proxy, 'breakwater_responses_spilled_total'), 1);
      response!.socket!.uncork();
      const received = await client.readAll();
      assert.equal(sha256(received), sha256(Buffer.concat([head, rest])), 'byte-exact');
    } finally {
      client.req.destroy();
      await proxy.close();
      await upstream.close();
    }
  });

  test("a client a little behind, with responseBuffer below the connection's high-water mark, still gets the spill fed (no drain is owed)", async () => {
    const head = randomBytes(1024);
    const next = randomBytes(1024);
    const rest = randomBytes(4 * MiB);
    const upstream = await startServer((_req, res: ServerResponse) => {
      res.writeHead(200, { 'content-length': head.length + next.length + rest.length });
      res.write(head);
      // The next small read waits in the corked socket; the large one after it overflows.
      setTimeout(() => {
        res.write(next);
        setTimeout(() => res.end(rest), 50);
      }, 50);
    });
    const proxy = await startTestProxy(
      yaml(
        upstream.url,
        `{ minResponseRate: false, responseBuffer: 16kb, responseSpill: { directory: ${directory} } }`,
      ),
    );
    // As above: once the head is out, the socket to the client is corked, so the client is a
    // little behind (under the 64 KB high-water mark: no write said false) when the rest comes.
    let response: ServerResponse | undefined;
    proxy.listeners[0]!.server.prependListener('request', (_req: unknown, res: ServerResponse) => {
      response = res;
      const write = res.write;
      res.write = function (this: ServerResponse, ...args: Parameters<typeof write>) {
        res.write = write;
        const taken = write.apply(this, args);
        setImmediate(() => this.socket!.cork());
        return taken;
      } as typeof write;
    });
    const client = await pausedGet(proxy.port);
    try {
      await waitFor(
        async () => (await metric(proxy, 'breakwater_responses_spilled_total')) === 1,
        'the response to spill',
      );
      response!.socket!.uncork();
      const received = await Promise.race([
        client.readAll(),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('the client never got the spilled rest')), 10_000),
        ),
      ]);
      assert.equal(sha256(received), sha256(Buffer.concat([head, next, rest])), 'byte-exact');
    } finally {
      client.req.destroy();
      await proxy.close();
      await upstream.close();
    }
  });

  test('the spill file is unlinked at once, and a client gone mid-spill leaves no descriptor open', {
    skip: linuxOnly,
  }, async () => {
    const upstream = await upstreamOf(randomBytes(32 * MiB));
    const proxy = await startTestProxy(yaml(upstream.url, spill()));
    const client = await pausedGet(proxy.port);
    try {
      // Open, and already without a name: /proc shows an unlinked file as "… (deleted)".
      await waitFor(
        () => descriptorsIn(directory).some((path) => / \(deleted\)$/.test(path)),
        'a spill file to be open and unlinked',
      );
      assert.equal(descriptorsIn(directory).length, 1);
      assert.deepEqual(readdirSync(directory), [], 'no path left in the directory');
      client.req.destroy();
      await waitFor(() => descriptorsIn(directory).length === 0, 'the spill file to close');
      await waitFor(
        async () => (await metric(proxy, 'breakwater_response_spill_files')) === 0,
        'the spill count to drop',
      );
      assert.equal(await metric(proxy, 'breakwater_response_spill_disk_bytes'), 0);
      assert.deepEqual(readdirSync(directory), []);
    } finally {
      client.req.destroy();
      await proxy.close();
      await upstream.close();
    }
  });

  test('past maxFileSize the rest of the response waits for the client (backpressure), then arrives intact', async () => {
    const body = randomBytes(48 * MiB);
    const upstream = await upstreamOf(body);
    const proxy = await startTestProxy(yaml(upstream.url, spill(', maxFileSize: 1mb')));
    const client = await pausedGet(proxy.port);
    try {
      await waitFor(
        async () =>
          (await metric(
            proxy,
            'breakwater_response_spill_fallbacks_total{reason="max-file-size"}',
          )) === 1,
        'the spill file to fill',
      );
      const written = await metric(proxy, 'breakwater_response_spill_bytes_total');
      assert.ok(written !== undefined && written > 0 && written <= MiB, `${written} bytes spilled`);
      // 48 MiB cannot fit in 1 MiB of file plus the kernel's socket buffers: the upstream waits.
      assert.deepEqual(
        upstream.outcomes,
        [],
        'the upstream is held while the client reads nothing',
      );
      const received = await client.readAll();
      assert.equal(sha256(received), sha256(body), 'byte-exact');
      await waitFor(() => upstream.outcomes.length > 0, 'the upstream to finish');
      assert.deepEqual(upstream.outcomes, ['finished']);
      assert.equal(await metric(proxy, 'breakwater_response_spill_files'), 0);
    } finally {
      client.req.destroy();
      await proxy.close();
      await upstream.close();
    }
  });

  test('a request pipelined behind a slow reader is forwarded only once the first response is out; both arrive intact', async () => {
    const body = randomBytes(16 * MiB);
    const upstream = await upstreamOf(body);
    const proxy = await startTestProxy(yaml(upstream.url, spill()));
    const socket = connect(proxy.port, '127.0.0.1');
    socket.on('error', () => {});
    try {
      await once(socket, 'connect');
      socket.pause();
      const get = 'GET /big HTTP/1.1\r\nHost: a\r\n\r\n';
      socket.write(get + get);
      // The first response spills and its upstream finishes; the second request waits its turn.
      await waitFor(() => upstream.outcomes.length === 1, 'the first upstream response to finish');
      assert.equal(await metric(proxy, 'breakwater_responses_spilled_total'), 1);
      assert.equal(upstream.requests, 1, 'the second request forwarded before its turn');
      const chunks: Buffer[] = [];
      let length = 0;
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        length += chunk.length;
      });
      socket.resume();
      await waitFor(() => length >= 2 * body.length, 'both responses');
      const bytes = Buffer.concat(chunks);
      const bodies: Buffer[] = [];
      let offset = 0;
      for (let i = 0; i < 2; i++) {
        const headEnd = bytes.indexOf('\r\n\r\n', offset);
        await waitFor(() => Buffer.concat(chunks).length >= headEnd + 4 + body.length, 'a body');
        const all = Buffer.concat(chunks);
        bodies.push(all.subarray(headEnd + 4, headEnd + 4 + body.length));
        offset = headEnd + 4 + body.length;
      }
      assert.equal(sha256(bodies[0]!), sha256(body));
      assert.equal(sha256(bodies[1]!), sha256(body));
      await waitFor(() => upstream.outcomes.length === 2, 'the second upstream response to finish');
      assert.deepEqual(upstream.outcomes, ['finished', 'finished']);
    } finally {
      socket.destroy();
      await proxy.close();
      await upstream.close();
    }
  });

  test('a spill directory that vanished: the response goes on with backpressure, intact, and the error is counted', async () => {
    const vanished = await mkdtemp(join(tmpdir(), 'breakwater-spill-gone-'));
    const body = randomBytes(32 * MiB);
    const upstream = await upstreamOf(body);
    const proxy = await startTestProxy(
      yaml(upstream.url, `{ minResponseRate: false, responseSpill: { directory: ${vanished} } }`),
    );
    await rmdir(vanished);
    const client = await pausedGet(proxy.port);
    try {
      await waitFor(
        async () =>
          (await metric(proxy, 'breakwater_response_spill_fallbacks_total{reason="error"}')) === 1,
        'the failed spill to be counted',
      );
      assert.deepEqual(upstream.outcomes, [], 'the upstream waits for the client');
      const received = await client.readAll();
      assert.equal(sha256(received), sha256(body), 'byte-exact');
      assert.equal(await metric(proxy, 'breakwater_response_spill_files'), 0);
      assert.ok(
        proxy.logs.lines.some((line) => String(line.msg).includes('opening a spill file failed')),
        'logged',
      );
    } finally {
      client.req.destroy();
      await proxy.close();
      await upstream.close();
    }
  });

  test('with responseSpill: false the upstream connection stays with the slow client (backpressure)', async () => {
    const body = randomBytes(48 * MiB);
    const upstream = await upstreamOf(body);
    const proxy = await startTestProxy(
      yaml(
        upstream.url,
        '{ minResponseRate: false, responseSpill: false }',
        'limits: { maxConnections: 1 }',
      ),
    );
    const client = await pausedGet(proxy.port);
    try {
      const other = httpRequest(`${proxy.url}/small`);
      await waitFor(
        async () =>
          (await metric(proxy, 'breakwater_upstream_pending_requests{upstream="app"}')) === 1,
        'the second request to queue behind the first',
      );
      assert.deepEqual(upstream.outcomes, []);
      assert.equal(await metric(proxy, 'breakwater_responses_spilled_total'), undefined);
      const received = await client.readAll();
      assert.equal(sha256(received), sha256(body));
      assert.equal((await other).body, 'ok');
    } finally {
      client.req.destroy();
      await proxy.close();
      await upstream.close();
    }
  });

  test('trailers of a spilled chunked response reach the client after the file', async () => {
    const body = randomBytes(32 * MiB);
    const upstream = await upstreamOf(body, { trailers: true });
    const proxy = await startTestProxy(yaml(upstream.url, spill()));
    const client = await pausedGet(proxy.port);
    try {
      await waitFor(() => upstream.outcomes.length > 0, 'the upstream to finish');
      assert.deepEqual(upstream.outcomes, ['finished']);
      const received = await client.readAll();
      assert.equal(sha256(received), sha256(body));
      assert.equal(client.res.trailers['x-checksum'], sha256(body));
    } finally {
      client.req.destroy();
      await proxy.close();
      await upstream.close();
    }
  });

  test('an HTTP/2 stream that stops reading is spilled too: the upstream finishes, the stream reads it all', async () => {
    const body = randomBytes(32 * MiB);
    const upstream = await upstreamOf(body);
    const proxy = await startTestProxy(
      yaml(upstream.url, spill()).replace(
        'listen: 127.0.0.1:0',
        'listen: [ { address: 127.0.0.1:0, h2c: true } ]',
      ),
    );
    const session = connectH2(`http://127.0.0.1:${proxy.port}`);
    session.on('error', () => {});
    try {
      const stream = session.request({ ':path': '/big' });
      stream.pause();
      await once(stream, 'response');
      await waitFor(() => upstream.outcomes.length > 0, 'the upstream to finish');
      assert.deepEqual(upstream.outcomes, ['finished']);
      assert.equal(await metric(proxy, 'breakwater_responses_spilled_total'), 1);
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.resume();
      await once(stream, 'end');
      assert.equal(sha256(Buffer.concat(chunks)), sha256(body));
    } finally {
      session.destroy();
      await proxy.close();
      await upstream.close();
    }
  });

  test('a slow reader of a spilled response is still cut by minResponseRate, and its file closed', async () => {
    const upstream = await upstreamOf(randomBytes(32 * MiB));
    const proxy = await startTestProxy(
      yaml(
        upstream.url,
        `{ minResponseRate: { bytesPerSecond: 100000, gracePeriod: 300ms }, responseSpill: { directory: ${directory} } }`,
      ),
    );
    const client = await pausedGet(proxy.port);
    try {
      // The client is paused: it would see the reset only when it reads again.
      await waitFor(
        async () =>
          (await metric(proxy, 'breakwater_slow_clients_cut_total{reason="min-rate"}')) === 1,
        'the cut',
      );
      assert.equal(await metric(proxy, 'breakwater_responses_spilled_total'), 1);
      await waitFor(
        async () => (await metric(proxy, 'breakwater_response_spill_files')) === 0,
        'the spill file to close',
      );
    } finally {
      client.req.destroy();
      await proxy.close();
      await upstream.close();
    }
  });

  test('a slow HTTP/2 reader of a spilled response is cut by minResponseRate: its connection closed, its file too', async () => {
    const upstream = await upstreamOf(randomBytes(32 * MiB));
    const proxy = await startTestProxy(
      yaml(
        upstream.url,
        `{ minResponseRate: { bytesPerSecond: 100000, gracePeriod: 300ms }, responseSpill: { directory: ${directory} } }`,
      ).replace('listen: 127.0.0.1:0', 'listen: [ { address: 127.0.0.1:0, h2c: true } ]'),
    );
    const session = connectH2(`http://127.0.0.1:${proxy.port}`);
    session.on('error', () => {});
    try {
      const stream = session.request({ ':path': '/big' });
      stream.on('error', () => {});
      stream.pause();
      await once(stream, 'response');
      await waitFor(
        async () =>
          (await metric(proxy, 'breakwater_slow_clients_cut_total{reason="min-rate"}')) === 1,
        'the cut',
      );
      assert.equal(await metric(proxy, 'breakwater_responses_spilled_total'), 1);
      await waitFor(
        async () => (await metric(proxy, 'breakwater_response_spill_files')) === 0,
        'the spill file to close',
      );
      await waitFor(() => session.destroyed, 'the connection to close');
    } finally {
      session.destroy();
      await proxy.close();
      await upstream.close();
    }
  });

  test('at shutdown a spilled response still being read is cut at shutdownTimeout, its file closed', {
    skip: linuxOnly,
  }, async () => {
    const upstream = await upstreamOf(randomBytes(32 * MiB));
    const proxy = await startTestProxy(`shutdownTimeout: 300ms\n${yaml(upstream.url, spill())}`);
    const client = await pausedGet(proxy.port);
    try {
      await waitFor(() => upstream.outcomes.length > 0, 'the upstream to finish');
      assert.equal(descriptorsIn(directory).length, 1, 'the spill file is open');
      await proxy.close();
      await waitFor(() => descriptorsIn(directory).length === 0, 'the spill file to close');
      assert.deepEqual(readdirSync(directory), []);
    } finally {
      client.req.destroy();
      await proxy.close();
      await upstream.close();
    }
  });
});
