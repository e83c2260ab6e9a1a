import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { httpRequest, startServer } from './support/proxy-harness.ts';
import { useTempDir } from './support/temp-dir.ts';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../../examples/breakwater.yaml', import.meta.url));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=@breakwater/source', CLI, ...args],
      { timeout: 15_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('breakwater CLI', () => {
  const inTempDir = useTempDir('breakwater-cli-');

  test('validate prints OK and exits 0 for a good file', async () => {
    const result = await run(['validate', EXAMPLE]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^OK /);
  });

  test('validate prints every problem with its path and exits 1 for a bad file', async () => {
    const file = inTempDir('bad.yaml');
    await writeFile(
      file,
      'listen: 127.0.0.1:8080\nupstreams:\n  api:\n    targets: [ { url: "nope" } ]\nroutes: [ { upstream: web } ]\n',
    );
    const result = await run(['validate', file]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /upstreams\.api\.targets\[0\]\.url: expected an http:\/\/ URL/);
    assert.match(result.stderr, /routes\[0\]\.upstream: unknown upstream "web"/);
  });

  test('prints the version and help', async () => {
    const version = await run(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
    const help = await run(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /breakwater start --config FILE|start --config FILE/);
  });

  test('validate refuses a listen address given twice and admin.listen on a listener', async () => {
    const file = inTempDir('clash.yaml');
    await writeFile(
      file,
      'listen: [127.0.0.1:8080, 127.0.0.1:8080]\nadmin: { listen: 127.0.0.1:8080 }\nupstreams:\n  api:\n    targets: [ { url: "http://127.0.0.1:1" } ]\nroutes: [ { upstream: api } ]\n',
    );
    const result = await run(['validate', file]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /listen\[1\]: 127\.0\.0\.1:8080 collides with listen\[0\]/);
    assert.match(result.stderr, /admin\.listen: 127\.0\.0\.1:8080 collides with listen\[0\]/);
  });

  test('validate refuses what start refuses of cluster.accept: reuse-port, and warns when one worker makes it moot', async () => {
    const file = inTempDir('reuse-port.yaml');
    const config = (workers: number) =>
      `listen: 127.0.0.1:0\nworkers: ${workers}\ncluster: { accept: reuse-port }\nupstreams:\n  api:\n    targets: [ { url: "http://127.0.0.1:1" } ]\nroutes: [ { upstream: api } ]\n`;
    await writeFile(file, config(2));
    const refused = await run(['validate', file]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /listen: port 0 cannot be shared with cluster\.accept: reuse-port/,
    );
    await writeFile(file, config(1));
    const single = await run(['validate', file]);
    assert.equal(single.code, 0);
    assert.match(
      single.stderr,
      /warning: .*cluster\.accept: reuse-port has no effect with one worker/,
    );
  });

  test('validate and start refuse a spill directory they cannot write, naming its path', async () => {
    const file = inTempDir('spill.yaml');
    const missing = inTempDir('no-such-directory');
    await writeFile(
      file,
      `listen: 127.0.0.1:0\nlimits: { responseSpill: { directory: ${missing} } }\nupstreams:\n  api:\n    targets: [ { url: "http://127.0.0.1:1" } ]\nroutes: [ { upstream: api } ]\n`,
    );
    const validated = await run(['validate', file]);
    assert.equal(validated.code, 1);
    assert.match(
      validated.stderr,
      /limits\.responseSpill\.directory: cannot create spill files in .*no-such-directory \(ENOENT\)/,
    );
    const started = await run(['start', '--config', file]);
    assert.equal(started.code, 1);
    assert.match(started.stderr, /limits\.responseSpill\.directory: cannot create spill files/);
  });

  test('start on an address in use prints one line naming the file, the path and the address', async () => {
    const taken = await startServer((_req, res) => res.end());
    const file = inTempDir('taken.yaml');
    await writeFile(
      file,
      // One process: this test is about the start error, not about workers.
      `listen: [127.0.0.1:0, 127.0.0.1:${taken.port}]\nworkers: 1\nupstreams:\n  api:\n    targets: [ { url: "http://127.0.0.1:1" } ]\nroutes: [ { upstream: api } ]\n`,
    );
    try {
      const result = await run(['start', '--config', file]);
      assert.equal(result.code, 1);
      assert.equal(
        result.stderr,
        `breakwater: ${file}: cannot listen on 127.0.0.1:${taken.port} (listen[1]): the address is already in use (another process, or another proxy, listens there)\n`,
      );
      // The JSON log keeps the detail: the system error and its code.
      const fatal = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}');
      assert.equal(fatal.err.code, 'ERR_LISTEN');
      assert.match(JSON.stringify(fatal.err), /EADDRINUSE/);
    } finally {
      await taken.close();
    }
  });

  test('exits 2 on an unknown command', async () => {
    const result = await run(['launch']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown command "launch"/);
  });

  test('SIGHUP applies a changed config file and keeps the running one when the file is bad', async () => {
    const a = await startServer((_req, res) => res.end('a'));
    const b = await startServer((_req, res) => res.end('b'));
    const file = inTempDir('hup.yaml');
    const config = (url: string) =>
      `listen: 127.0.0.1:0\nworkers: 1\nlog: { access: false }\nupstreams:\n  app:\n    targets: [ { url: "${url}" } ]\nroutes: [ { upstream: app } ]\n`;
    await writeFile(file, config(a.url));
    const child = spawn(
      process.execPath,
      ['--conditions=@breakwater/source', CLI, 'start', '--config', file],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const lines: Record<string, unknown>[] = [];
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const complete = buffered.split('\n');
      buffered = complete.pop() ?? '';
      for (const line of complete) if (line !== '') lines.push(JSON.parse(line));
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const logged = async (message: string) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const line = lines.find((entry) => String(entry.msg).startsWith(message));
        if (line !== undefined) return line;
        if (Date.now() > deadline) throw new Error(`no "${message}" log line`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    try {
      const started = await logged('breakwater proxy started');
      const proxyUrl = `http://${(started.listen as string[])[0]}`;
      assert.equal((await httpRequest(proxyUrl)).body, 'a');

      await writeFile(file, config('not a url'));
      child.kill('SIGHUP');
      const rejected = await logged('config reload rejected');
      assert.match(String(rejected.msg), /upstreams\.app\.targets\[0\]\.url/);
      assert.equal((await httpRequest(proxyUrl)).body, 'a');

      await writeFile(file, config(b.url));
      child.kill('SIGHUP');
      await logged('config reloaded');
      assert.equal((await httpRequest(proxyUrl)).body, 'b');
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      child.kill('SIGKILL');
      await a.close();
      await b.close();
    }
  });
  test('SIGUSR2 to a proxy without workers is logged and ignored, not fatal', async () => {
    const a = await startServer((_req, res) => res.end('a'));
    const file = inTempDir('usr2.yaml');
    // One process, as `workers: auto` gives on a one-core machine.
    await writeFile(
      file,
      `listen: 127.0.0.1:0\nworkers: 1\nlog: { access: false }\nupstreams:\n  app:\n    targets: [ { url: "${a.url}" } ]\nroutes: [ { upstream: app } ]\n`,
    );
    const child = spawn(
      process.execPath,
      ['--conditions=@breakwater/source', CLI, 'start', '--config', file],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    const logged = async (pattern: RegExp) => {
      const deadline = Date.now() + 20_000;
      while (!pattern.test(output)) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`exited (${child.exitCode ?? child.signalCode}): ${output}`);
        }
        if (Date.now() > deadline) throw new Error(`no ${pattern} in: ${output}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    try {
      await logged(/breakwater proxy started/);
      const port = /"listen":\["127\.0\.0\.1:(\d+)"\]/.exec(output)?.[1];
      child.kill('SIGUSR2');
      await logged(/nothing to restart/);
      assert.equal((await httpRequest(`http://127.0.0.1:${port}/`)).body, 'a');
      child.kill('SIGTERM');
      assert.deepEqual(await exited, { code: 0, signal: null });
    } finally {
      child.kill('SIGKILL');
      await a.close();
    }
  });
});
