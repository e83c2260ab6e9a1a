/**
 * The core and `@breakwater/http/fetch` in a real browser: bundled by esbuild for the browser
 * platform (a Node.js built-in anywhere in the graph fails the build), served from a loopback
 * server, and run in Debian's chromium through playwright-core. In the page, a protected fetch
 * trips its origin's breaker on 503s and then rejects without sending.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import { type Browser, chromium } from 'playwright-core';

const root = join(import.meta.dirname, '..');
const chromiumPath = '/usr/bin/chromium';

const pageScript = `
import { CircuitOpenError, consecutiveFailures } from 'breakwater';
import { protectedFetch } from '@breakwater/http/fetch';

const http = protectedFetch({
  breaker: { policy: consecutiveFailures(2), openDuration: 60_000 },
  retry: false,
});
const statuses = [];
for (let i = 0; i < 2; i++) statuses.push((await http('/fail')).status);
let rejection;
try {
  await http('/fail');
} catch (error) {
  rejection = {
    code: error.code,
    is: CircuitOpenError.is(error),
    instance: error instanceof CircuitOpenError,
    waitsAboutAMinute: error.retryAfter > 50_000 && error.retryAfter <= 60_000,
  };
}
window.result = { statuses, rejection, state: http.breakers.get(location.origin).state };
`;

interface PageResult {
  statuses: number[];
  rejection:
    | { code: string; is: boolean; instance: boolean; waitsAboutAMinute: boolean }
    | undefined;
  state: string;
}

describe('in a browser', { timeout: 120_000 }, () => {
  let server: Server | undefined;
  let browser: Browser | undefined;
  let failHits = 0;
  let bundle = '';

  before(async () => {
    if (!existsSync(chromiumPath)) return;
    const built = await build({
      stdin: { contents: pageScript, resolveDir: root, loader: 'js' },
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      conditions: ['@breakwater/source'],
      logLevel: 'silent',
    });
    bundle = built.outputFiles[0]?.text ?? '';
    server = createServer((req, res) => {
      if (req.url === '/fail') {
        failHits++;
        res.writeHead(503).end('down');
      } else if (req.url === '/bundle.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      } else {
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<!doctype html><script type="module" src="/bundle.js"></script>');
      }
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  });

  after(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  });

  it('trips a breaker on 503s and rejects the next request without sending it', async (t) => {
    if (browser === undefined || server === undefined) {
      t.skip(`no chromium at ${chromiumPath} (.ci/run installs it)`);
      return;
    }
    assert.ok(!/from ?["']node:/.test(bundle), 'the bundle imports no Node.js built-in');
    const page = await browser.newPage();
    const { port } = server.address() as AddressInfo;
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => 'result' in window, undefined, { timeout: 30_000 });
    const result = (await page.evaluate(
      () => (window as unknown as { result: unknown }).result,
    )) as PageResult;
    assert.deepEqual(result.statuses, [503, 503]);
    assert.equal(result.state, 'open');
    assert.deepEqual(result.rejection, {
      code: 'ERR_CIRCUIT_OPEN',
      is: true,
      instance: true,
      waitsAboutAMinute: true,
    });
    assert.equal(failHits, 2, 'the rejected request never reached the server');
  });
});
