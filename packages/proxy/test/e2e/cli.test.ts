/**
 * Black-box: the `breakwater` CLI as an operator runs it — `validate` exit codes, a real
 * `start` process that streams 200 MB with bounded memory, and SIGTERM finishing an in-flight
 * request.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { httpRequest, startServer } from '../support/proxy-harness.ts';
import { pumpBody } from '../support/pump.ts';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'bw-cli-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function writeConfig(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const child = spawn(process.execPath, ['--conditions=@breakwater/source', CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

interface RunningCli {
  readonly child: ChildProcess;
  readonly port: number;
  readonly output: () => string;
}

/** Starts `breakwater start` and resolves once it logs its listen address. */
async function startCli(configFile: string): Promise<RunningCli> {
  const child = spawn(
    process.execPath,
    ['--conditions=@breakwater/source', CLI, 'start', '--config', configFile],
    {
      env: { PATH: process.env.PATH ?? '' },
    },
  );
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    // Generous: on a loaded machine stripping the types of the whole tree takes seconds. A child
    // that never started is killed, or it would keep the test file's process alive.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no start line: ${output}`));
    }, 30_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"listen":\["127\.0\.0\.1:(\d+)"\]/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`exited early: ${output}`));
    });
  });
  return { child, port, output: () => output };
}

function rssKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
  assert.ok(match !== null, `no ${field} in /proc/${pid}/status`);
  return Number(match[1]);
}

// One process (not one per core): the start tests read its RSS and signal it by pid.
const VALID = (url: string) => `
listen: 127.0.0.1:0
workers: 1
upstreams:
  app:
    targets: [{ url: ${url} }]
routes:
  - upstream: app
log:
  access: false
`;

describe('breakwater validate', () => {
  test('exits 0 and prints OK for a valid file', async () => {
    const file = writeConfig('ok.yaml', VALID('http://127.0.0.1:8001'));
    const result = await runCli(['validate', file]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /OK/);
  });

  test('exits 1 and names every bad path for an invalid file', async () => {
    const file = writeConfig(
      'bad.yaml',
      `
listen: 127.0.0.1:0
upstreams:
  app:
    targets: [{ url: http://127.0.0.1:8001 }, { url: ftp://x }]
    timeouts: { connect: soon }
routes:
  - upstream: missing
`,
    );
    const result = await runCli(['validate', file]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /upstreams\.app\.targets\[1\]\.url/);
    assert.match(result.stderr, /upstreams\.app\.timeouts\.connect/);
    assert.match(result.stderr, /routes\[0\]\.upstream/);
  });

  test('exits 1 naming the value that uses an unset environment variable', async () => {
    const file = writeConfig(
      'env.yaml',
      `${VALID('http://127.0.0.1:8001')}admin:\n  listen: 127.0.0.1:0\n  token: \${BW_REVIEW_UNSET_TOKEN}\n`,
    );
    const result = await runCli(['validate', file]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /admin\.token/);
    assert.match(result.stderr, /BW_REVIEW_UNSET_TOKEN/);
    const withVar = await runCli(['validate', file], { BW_REVIEW_UNSET_TOKEN: 's3cret' });
    assert.equal(withVar.code, 0, withVar.stderr);
  });

  test('exits 1 for a missing file and for YAML that does not parse', async () => {
    assert.equal((await runCli(['validate', join(dir, 'nope.yaml')])).code, 1);
    const broken = writeConfig('broken.yaml', 'listen: [127.0.0.1:0\nupstreams: {');
    const result = await runCli(['validate', broken]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /YAML/);
  });

  test('exits 2 on wrong usage', async () => {
    assert.equal((await runCli(['validate'])).code, 2);
    assert.equal((await runCli(['frobnicate'])).code, 2);
    assert.equal((await runCli(['start'])).code, 2);
  });
});

describe('breakwater start', () => {
  test('streams 400 MB through a proxy process whose peak RSS grows far less than that', {
    timeout: 90_000,
  }, async () => {
    const upstream = await startServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res);
    });
    const cli = await startCli(writeConfig('stream.yaml', VALID(upstream.url)));
    const pid = cli.child.pid ?? 0;
    try {
      // Warm up so code, pools and JIT are in the baseline.
      assert.equal(
        (await httpRequest(`http://127.0.0.1:${cli.port}/`, { method: 'POST', body: 'x' })).body,
        'x',
      );
      const baselineKb = rssKb(pid, 'VmRSS');
      const total = 400 * 1024 * 1024;
      const chunk = Buffer.alloc(64 * 1024, 7);
      const received = await new Promise<number>((resolve, reject) => {
        const req = request(
          `http://127.0.0.1:${cli.port}/echo`,
          { method: 'POST', agent: false, headers: { 'content-length': String(total) } },
          (res) => {
            let bytes = 0;
            res.on('data', (data: Buffer) => {
              bytes += data.length;
            });
            res.on('end', () => resolve(bytes));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        pumpBody(req, total, chunk);
      });
      assert.equal(received, total);
      // Peak, not current: buffering would show up as growth near the body size. What remains is
      // garbage the GC has not collected yet (backpressure itself is checked in e2e/streaming.test.ts).
      const growthMb = (rssKb(pid, 'VmHWM') - baselineKb) / 1024;
      assert.ok(growthMb < 150, `proxy peak RSS grew ${growthMb.toFixed(1)} MB for 400 MB through`);
    } finally {
      cli.child.kill('SIGKILL');
      await once(cli.child, 'close');
      await upstream.close();
    }
  });

  test('SIGTERM lets an in-flight request finish, then exits 0', { timeout: 45_000 }, async () => {
    const { promise: arrived, resolve: release } = Promise.withResolvers<void>();
    const upstream = await startServer((_req, res) => {
      release();
      setTimeout(() => res.end('finished'), 700);
    });
    const cli = await startCli(writeConfig('term.yaml', VALID(upstream.url)));
    try {
      const pending = httpRequest(`http://127.0.0.1:${cli.port}/slow`);
      await arrived;
      cli.child.kill('SIGTERM');
      const response = await pending;
      assert.equal(response.status, 200);
      assert.equal(response.body, 'finished');
      const [code] = (await once(cli.child, 'close')) as [number | null];
      assert.equal(code, 0, cli.output());
      await assert.rejects(httpRequest(`http://127.0.0.1:${cli.port}/`));
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
      await upstream.close();
    }
  });
});
