/**
 * The aws/http-desync-guardian request corpus (Apache-2.0, in `../fixtures/http-desync-guardian`
 * with its LICENSE and NOTICE) sent byte for byte to a proxy in front of a recording upstream,
 * through the public API only. Each of the 159 cases is labelled by its authors:
 *
 * - Severe: must be refused (400, connection closed) and never reach the upstream;
 * - Ambiguous: refused, or forwarded in a form with one unambiguous framing;
 * - Compliant and Acceptable: should be forwarded. A refusal there costs compatibility, so each
 *   one is listed with its reason in `desync-corpus-refusals.json`: a new refusal, or a listed
 *   one that no longer happens, fails the suite until the list is updated. Ambiguous cases still
 *   forwarded ambiguously (known defects) are listed there too, the same way.
 *
 * The cases carry no Host header and no body; the harness adds `Host` (HTTP/1.1 requires it, and
 * the corpus is about framing) and a case-id header so the upstream can tell cases apart, and
 * sends the body the plain framing announces (N bytes for a single digit-only Content-Length, a
 * last chunk for chunked) so a forwarded request can complete. A table of every case that was
 * not forwarded is printed.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { loadConfig, type RunningProxy, startProxy } from '@breakwater/proxy';
import { parse } from 'yaml';

const CORPUS = new URL('../fixtures/http-desync-guardian/', import.meta.url);
const REFUSALS = new URL('desync-corpus-refusals.json', import.meta.url);
const CASE_HEADER = 'x-corpus-case';
/** How long a case may leave the connection silent before we stop waiting for an answer. */
const QUIET_MS = 1_500;
const CONCURRENCY = 16;

type Tier = 'Compliant' | 'Acceptable' | 'Ambiguous' | 'Severe';

interface CorpusCase {
  readonly id: string;
  readonly file: string;
  readonly name: string;
  readonly method: string;
  readonly uri: string;
  readonly version: string;
  readonly headers: readonly { readonly name: string; readonly value: string }[];
  readonly tier: Tier;
  readonly reason: string;
}

function loadCorpus(): CorpusCase[] {
  const cases: CorpusCase[] = [];
  for (const file of readdirSync(CORPUS)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    const entries = parse(readFileSync(new URL(file, CORPUS), 'utf8')) as {
      name: string;
      uri: unknown;
      method: unknown;
      version: unknown;
      headers: { name: unknown; value: unknown }[] | null;
      expected: { tier: Tier; reason: string };
    }[];
    for (const entry of entries) {
      cases.push({
        id: String(cases.length),
        file,
        name: entry.name,
        method: String(entry.method ?? ''),
        uri: String(entry.uri ?? ''),
        version: String(entry.version ?? ''),
        headers: (entry.headers ?? []).map((h) => ({
          name: String(h.name ?? ''),
          value: String(h.value ?? ''),
        })),
        tier: entry.expected.tier,
        reason: entry.expected.reason,
      });
    }
  }
  return cases;
}

/** `file: name`, the key of a case in the refusal list (names repeat across files). */
function key(c: CorpusCase): string {
  return `${c.file.replace(/\.yaml$/, '')}: ${c.name}`;
}

/** The case as raw bytes: request line, Host and case id first, the case's headers, a body. */
function bytesOf(c: CorpusCase): Buffer {
  const line = c.version === '' ? `${c.method} ${c.uri}` : `${c.method} ${c.uri} ${c.version}`;
  const hasHost = c.headers.some((h) => h.name.toLowerCase() === 'host');
  const head = [
    line,
    ...(hasHost ? [] : ['Host: corpus.test']),
    `${CASE_HEADER}: ${c.id}`,
    ...c.headers.map((h) => `${h.name}: ${h.value}`),
  ];
  // The corpus's strings are Unicode (`\xa0` in YAML is U+00A0); its own harness sends them
  // as UTF-8, and so do we.
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'utf8'), bodyOf(c)]);
}

function bodyOf(c: CorpusCase): Buffer {
  const exact = (name: string) => c.headers.filter((h) => h.name.toLowerCase() === name);
  if (exact('transfer-encoding').some((h) => /chunked/i.test(h.value))) {
    return Buffer.from('0\r\n\r\n');
  }
  const lengths = exact('content-length').map((h) => h.value.trim());
  if (lengths.length === 1 && /^\d{1,7}$/.test(lengths[0]!)) {
    return Buffer.alloc(Number(lengths[0]), 'x');
  }
  return Buffer.alloc(0);
}

/** What the proxy answered on the client side. */
interface ClientSide {
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly closed: boolean;
}

/**
 * Sends a case on its own connection and reads until one whole response is in (by its
 * Content-Length), the proxy closes, or the connection stays quiet for {@link QUIET_MS}.
 */
function send(port: number, bytes: Buffer): Promise<ClientSide> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = received.toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
      const code = /"code":"([A-Z_]+)"/.exec(text)?.[1];
      resolve({ status: status === undefined ? undefined : Number(status), code, closed });
    };
    const timer = setTimeout(() => finish(false), QUIET_MS);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const text = received.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1];
      const closes = /\r\nconnection: *close/i.test(text.slice(0, end));
      if (length !== undefined && received.length >= end + 4 + Number(length)) {
        // A response that announces `Connection: close` is followed by the close: wait for it.
        if (!closes) finish(false);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => finish(true));
    socket.on('connect', () => socket.write(bytes));
  });
}

/**
 * A raw TCP upstream that records the head of every request it receives (so nothing the proxy
 * forwards is hidden behind the upstream's own parser), reads the body its clean framing
 * announces, answers 200 and closes.
 */
class RecordingUpstream {
  readonly heads = new Map<string, string>();
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor() {
    this.#server = createServer((socket) => this.#serve(socket));
  }

  async listen(): Promise<number> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    return (this.#server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #serve(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => {});
    let received = Buffer.alloc(0);
    let answered = false;
    const answer = () => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
    };
    // A body that never completes still gets an answer, so the proxy is never left waiting.
    let timer: NodeJS.Timeout | undefined;
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const text = received.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = text.slice(0, end);
      const id = new RegExp(`\\r\\n${CASE_HEADER}: *(\\d+)`, 'i').exec(head)?.[1] ?? '?';
      if (!this.heads.has(id)) this.heads.set(id, head);
      timer ??= setTimeout(answer, 300);
      const body = text.slice(end + 4);
      const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
      if (
        length !== undefined ? body.length >= Number(length) : !/\r\ntransfer-encoding:/i.test(head)
      ) {
        answer();
      } else if (body.endsWith('0\r\n\r\n')) {
        answer();
      }
    });
  }
}

const FRAMING = new Set(['contentlength', 'transferencoding']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * What makes a forwarded head ambiguous to a next hop, or `undefined` when it has one clean
 * framing: header names are tokens, values carry no control characters, at most one
 * Content-Length or Transfer-Encoding, and no look-alike of either (`Content_Length`,
 * `Transfer--Encoding`…, which some frameworks read as the real thing).
 */
function ambiguityOf(head: string): string | undefined {
  const lines = head.split('\r\n').slice(1);
  let framing = 0;
  for (const line of lines) {
    if (/^[ \t]/.test(line)) return 'an obs-folded line';
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1);
    if (colon <= 0 || !TOKEN.test(name)) return `header name ${JSON.stringify(name)}`;
    if (hasControlCharacter(value)) return `control character in ${name}`;
    const lower = name.toLowerCase();
    if (lower === 'content-length' || lower === 'transfer-encoding') framing++;
    else if (FRAMING.has(lower.replace(/[^a-z]/g, ''))) return `look-alike framing header ${name}`;
  }
  return framing > 1 ? 'more than one framing header' : undefined;
}

/** CTLs other than HTAB (RFC 9110 §5.5: a field value is VCHAR, SP, HTAB and obs-text). */
function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) return true;
  }
  return false;
}

interface Verdict {
  readonly c: CorpusCase;
  readonly client: ClientSide;
  /** The head the upstream received, when the case was forwarded. */
  readonly forwarded: string | undefined;
}

async function runAll(port: number, upstream: RecordingUpstream, cases: CorpusCase[]) {
  const verdicts: Verdict[] = [];
  const queue = [...cases];
  const worker = async () => {
    for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
      const client = await send(port, bytesOf(c));
      verdicts.push({ c, client, forwarded: upstream.heads.get(c.id) });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return verdicts.sort((a, b) => Number(a.c.id) - Number(b.c.id));
}

function answerOf(v: Verdict): string {
  const { status, code, closed } = v.client;
  const said = status === undefined ? 'no answer' : `${status}${code ? ` ${code}` : ''}`;
  return `${said}${closed ? ', closed' : ''}`;
}

function printTable(verdicts: readonly Verdict[], refusals: Record<string, string>): void {
  const rows = verdicts
    .filter((v) => v.forwarded === undefined)
    .map((v) => {
      const why =
        refusals[key(v.c)] ??
        (v.c.tier === 'Severe' || v.c.tier === 'Ambiguous' ? '' : 'NOT LISTED');
      return `| ${v.c.tier} | ${key(v.c).replace(/\|/g, '\\|')} | ${answerOf(v)} | ${why} |`;
    });
  const count = (tier: Tier, forwarded: boolean) =>
    verdicts.filter((v) => v.c.tier === tier && (v.forwarded !== undefined) === forwarded).length;
  const summary = (['Severe', 'Ambiguous', 'Acceptable', 'Compliant'] as const)
    .map((t) => `${t}: ${count(t, false)} refused, ${count(t, true)} forwarded`)
    .join('; ');
  console.log(
    [
      `desync corpus: ${summary}`,
      '',
      '| tier | case | answer | why refused |',
      '| --- | --- | --- | --- |',
      ...rows,
    ].join('\n'),
  );
}

describe('the http-desync-guardian corpus sent raw through the proxy', () => {
  const cases = loadCorpus();
  const expected = JSON.parse(readFileSync(REFUSALS, 'utf8')) as {
    refused: Record<string, string>;
    ambiguousForwards: Record<string, string>;
  };
  const refusals = expected.refused;
  const upstream = new RecordingUpstream();
  let proxy: RunningProxy;
  let verdicts: Verdict[];

  before(async () => {
    const upstreamPort = await upstream.listen();
    const config = loadConfig(
      [
        'listen: 127.0.0.1:0',
        'log: { level: silent }',
        'upstreams:',
        '  app:',
        '    targets:',
        `      - url: http://127.0.0.1:${upstreamPort}`,
        'routes:',
        '  - upstream: app',
      ].join('\n'),
      {},
    );
    proxy = await startProxy(config);
    verdicts = await runAll(proxy.proxyAddresses[0]!.port, upstream, cases);
    printTable(verdicts, refusals);
  });

  after(async () => {
    await proxy?.close();
    await upstream.close();
  });

  test('reads all 159 cases of the corpus', () => {
    assert.equal(cases.length, 159);
    assert.equal(cases.filter((c) => c.tier === 'Severe').length, 58);
  });

  test('refuses every Severe case with 400 and a closed connection, forwarding none', () => {
    const wrong = verdicts
      .filter((v) => v.c.tier === 'Severe')
      .filter((v) => v.forwarded !== undefined || v.client.status !== 400 || !v.client.closed)
      .map((v) => `${key(v.c)}: ${v.forwarded ? 'FORWARDED' : answerOf(v)}`);
    assert.deepEqual(wrong, []);
  });

  test('refuses every Ambiguous case, or forwards it with one unambiguous framing', () => {
    const unanswered = verdicts
      .filter((v) => v.c.tier === 'Ambiguous' && v.forwarded === undefined)
      .filter((v) => v.client.status === undefined || v.client.status < 400)
      .map((v) => `${key(v.c)}: neither forwarded nor refused (${answerOf(v)})`);
    assert.deepEqual(unanswered, []);
    // Listed known defects must match exactly: a fix shortens the list, a regression fails.
    const ambiguous = verdicts
      .filter((v) => v.c.tier === 'Ambiguous' && v.forwarded !== undefined)
      .filter((v) => ambiguityOf(v.forwarded!) !== undefined)
      .map((v) => key(v.c));
    assert.deepEqual(ambiguous.sort(), Object.keys(expected.ambiguousForwards).sort());
  });

  test('forwards every Compliant and Acceptable case except the listed refusals', () => {
    const refused = verdicts
      .filter((v) => v.c.tier === 'Compliant' || v.c.tier === 'Acceptable')
      .filter((v) => v.forwarded === undefined)
      .map((v) => key(v.c));
    assert.deepEqual(refused.sort(), Object.keys(refusals).sort());
  });

  test('forwards Compliant and Acceptable cases with one unambiguous framing', () => {
    const wrong = verdicts
      .filter((v) => v.c.tier === 'Compliant' || v.c.tier === 'Acceptable')
      .flatMap((v) => {
        const ambiguity = v.forwarded === undefined ? undefined : ambiguityOf(v.forwarded);
        return ambiguity === undefined ? [] : [`${key(v.c)}: ${ambiguity}`];
      });
    assert.deepEqual(wrong, []);
  });
});
