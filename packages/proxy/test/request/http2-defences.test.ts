import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  connect,
  constants,
  createServer,
  type Http2Server,
  type Http2ServerResponse,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { ManualClock } from 'breakwater';
import { defaults } from '../../src/config/defaults.ts';
import type { Http2Config } from '../../src/config/schema.ts';
import { guardControlFrames, http2ServerOptions } from '../../src/request/http2-defences.ts';
import {
  Flags,
  FrameType,
  frame,
  getRequest,
  headerBlock,
  type RawH2,
  rawH2,
} from '../support/h2-frames.ts';

const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const item of open.splice(0)) item.close();
});

/**
 * An h2c server with `defences`; `hold` keeps responses open (so streams stay concurrent) until
 * `release()`.
 */
async function defendedServer(
  overrides: Partial<Http2Config> = {},
  options: { hold?: boolean; maxHeaderSize?: number; clock?: ManualClock } = {},
) {
  const defences = { ...defaults.http2, ...overrides };
  const held: Http2ServerResponse[] = [];
  const server: Http2Server = createServer(
    http2ServerOptions(defences, { maxHeaderSize: options.maxHeaderSize ?? 16_384 }),
    (_req, res) => {
      if (options.hold) held.push(res);
      else res.end('ok');
    },
  );
  const floods: number[] = [];
  server.on('session', (session) => {
    session.on('error', () => {});
    if (options.clock) {
      guardControlFrames(session, defences.controlFrames, options.clock, () => floods.push(1));
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const sessions = new Set<RawH2>();
  open.push({
    close: () => {
      for (const res of held) res.end();
      for (const s of sessions) s.socket.destroy();
      server.close();
    },
  });
  return {
    port,
    held,
    floods,
    raw: async () => {
      const raw = await rawH2(port);
      sessions.add(raw);
      return raw;
    },
  };
}

/** A normal client's GET, resolving with the body. */
async function get(port: number): Promise<string> {
  const client = connect(`http://127.0.0.1:${port}`);
  try {
    const req = client.request({ ':path': '/' });
    req.setEncoding('utf8');
    let body = '';
    for await (const chunk of req) body += chunk;
    return body;
  } finally {
    client.close();
  }
}

const request = (id: number, end = true) =>
  frame(
    FrameType.HEADERS,
    Flags.END_HEADERS | (end ? Flags.END_STREAM : 0),
    id,
    getRequest('x', '/', 'http'),
  );
const reset = (id: number) => frame(FrameType.RST_STREAM, 0, id, Buffer.from([0, 0, 0, 8]));
/** Polls `condition` every 5 ms, failing after two seconds. */
async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 2 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}
const received = (raw: RawH2, type: number, count: number) =>
  waitFor(() => (raw.received.get(type) ?? 0) >= count);
const until = <T>(promise: Promise<T>, ms = 2_000): Promise<T | 'timeout'> =>
  Promise.race([
    promise,
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref()),
  ]);

describe('HTTP/2 defences', () => {
  test('a client opening more streams than the cap allows is cut off', async () => {
    const server = await defendedServer({ maxConcurrentStreams: 10 }, { hold: true });
    const raw = await server.raw();
    await received(raw, FrameType.SETTINGS, 2); // the cap binds once both sides' SETTINGS are through
    raw.send(...Array.from({ length: 15 }, (_, i) => request(1 + 2 * i)));
    assert.equal(await until(raw.goaway), constants.NGHTTP2_PROTOCOL_ERROR);
    assert.equal(server.held.length, 10, 'no stream beyond the cap reached the handler');
  });

  test('a client that keeps within the cap is served every stream', async () => {
    const server = await defendedServer({ maxConcurrentStreams: 10 });
    const client = connect(`http://127.0.0.1:${server.port}`);
    open.push(client);
    await once(client, 'remoteSettings'); // the client learns the cap before it opens streams
    const bodies = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const req = client.request({ ':path': '/' });
        req.setEncoding('utf8');
        let body = '';
        for await (const chunk of req) body += chunk;
        return body;
      }),
    );
    assert.equal(client.remoteSettings.maxConcurrentStreams, 10);
    assert.deepEqual(new Set(bodies), new Set(['ok']));
  });

  test('a client that resets every stream (rapid reset) gets GOAWAY while others are served', async () => {
    const server = await defendedServer({ streamResets: { burst: 20, perSecond: 1 } });
    const raw = await server.raw();
    for (let i = 0; i < 200; i++) raw.send(request(1 + 2 * i, false), reset(1 + 2 * i));
    assert.equal(await until(raw.goaway), constants.NGHTTP2_INTERNAL_ERROR);
    await until(raw.closed);
    assert.equal(await get(server.port), 'ok');
  });

  test('a header list over the size limit is refused', async () => {
    const server = await defendedServer({}, { hold: true, maxHeaderSize: 4_096 });
    const raw = await server.raw();
    await received(raw, FrameType.SETTINGS, 2); // the limit binds once SETTINGS is acknowledged
    await new Promise((r) => setTimeout(r, 20)); // and our acknowledgement has reached the server
    const big = headerBlock([['x-big', 'a'.repeat(5_000)]]);
    raw.send(
      frame(
        FrameType.HEADERS,
        Flags.END_HEADERS | Flags.END_STREAM,
        1,
        Buffer.concat([getRequest('x', '/', 'http'), big]),
      ),
    );
    raw.send(request(3));
    await waitFor(() => server.held.length === 1);
    await received(raw, FrameType.RST_STREAM, 1);
    assert.equal(server.held.length, 1, 'only the small request reached the handler');
  });

  test('too many header fields are refused', async () => {
    const server = await defendedServer({ maxHeaderPairs: 10 }, { hold: true });
    const raw = await server.raw();
    const many = headerBlock(Array.from({ length: 20 }, (_, i) => [`x-h${i}`, 'v'] as const));
    raw.send(
      frame(
        FrameType.HEADERS,
        Flags.END_HEADERS | Flags.END_STREAM,
        1,
        Buffer.concat([getRequest('x', '/', 'http'), many]),
      ),
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(server.held.length, 0);
    assert.ok(
      (raw.received.get(FrameType.RST_STREAM) ?? 0) + (raw.received.get(FrameType.GOAWAY) ?? 0) >=
        1,
    );
  });

  test('a CONTINUATION flood ends the connection', async () => {
    const server = await defendedServer({}, { hold: true });
    const raw = await server.raw();
    raw.send(frame(FrameType.HEADERS, 0, 1, getRequest('x', '/', 'http')));
    for (let i = 0; i < 50; i++)
      raw.send(frame(FrameType.CONTINUATION, 0, 1, headerBlock([['x-a', 'b']])));
    assert.notEqual(await until(raw.goaway), 'timeout');
    assert.equal(server.held.length, 0);
  });

  test('PING and SETTINGS beyond their budget end the connection with ENHANCE_YOUR_CALM', async () => {
    const clock = new ManualClock();
    const server = await defendedServer({ controlFrames: { burst: 10, perSecond: 5 } }, { clock });
    const raw = await server.raw(); // its SETTINGS frame takes one token
    const pings = (n: number) =>
      Array.from({ length: n }, () => frame(FrameType.PING, 0, 0, Buffer.alloc(8)));
    raw.send(...pings(8));
    await received(raw, FrameType.PING, 8);
    clock.advance(1_000); // five more tokens
    raw.send(...pings(5));
    await received(raw, FrameType.PING, 13);
    assert.equal(
      raw.received.get(FrameType.GOAWAY),
      undefined,
      'within budget the connection stays',
    );
    raw.send(...pings(5));
    assert.equal(await until(raw.goaway), constants.NGHTTP2_ENHANCE_YOUR_CALM);
    assert.equal(server.floods.length, 1);
  });

  test('repeated invalid frames end the connection', async () => {
    const server = await defendedServer({ maxInvalidFrames: 5 }, { hold: true });
    const raw = await server.raw();
    raw.send(...Array.from({ length: 8 }, (_, i) => request(1 + 2 * i, false)));
    await waitFor(() => server.held.length === 8);
    // A WINDOW_UPDATE of 0 is a stream error (RFC 9113 §6.9), each one an invalid frame.
    const zero = Buffer.alloc(4);
    raw.send(
      ...Array.from({ length: 8 }, (_, i) => frame(FrameType.WINDOW_UPDATE, 0, 1 + 2 * i, zero)),
    );
    assert.notEqual(await until(raw.goaway), 'timeout');
  });

  test('the options carry every setting from the config', () => {
    const options = http2ServerOptions(defaults.http2, { maxHeaderSize: 8_192 });
    assert.deepEqual(options.settings, {
      maxConcurrentStreams: 100,
      maxHeaderListSize: 8_192,
      enablePush: false,
    });
    assert.equal(options.streamResetBurst, 200);
    assert.equal(options.streamResetRate, 33);
    assert.equal(options.maxSessionRejectedStreams, 100);
    assert.equal(options.maxSessionInvalidFrames, 100);
    assert.equal(options.maxHeaderListPairs, 128);
  });
});
