/**
 * The admin dashboard in a real browser (playwright-core driving Debian's chromium) against a
 * real proxy and three real upstreams: it loads cleanly, shows a killed upstream ejected with its
 * reason and a countdown, shows it back after its trial, drains a target from its button, and
 * with an admin token shows nothing without it. Screenshots (light and dark) go to a temporary
 * directory, and to docs/images with UPDATE_SCREENSHOTS=1.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import {
  httpRequest,
  startServer,
  startTestProxy,
  type TestProxy,
  type TestServer,
} from '../support/proxy-harness.ts';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const screenshots =
  process.env.UPDATE_SCREENSHOTS === '1'
    ? new URL('../../../../docs/images/', import.meta.url).pathname
    : mkdtempSync(join(tmpdir(), 'breakwater-dashboard-'));

let browser: Browser;
const closers: Array<() => Promise<void>> = [];

before(async () => {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});
after(async () => {
  for (const close of closers.reverse()) await close();
  await browser?.close();
});

const answer: Parameters<typeof startServer>[0] = (_req, res) => res.end('ok');

/** Three upstreams behind a proxy whose outlier detection ejects after 3 failures for 1 s. */
async function cluster(adminExtra = ''): Promise<{ proxy: TestProxy; upstreams: TestServer[] }> {
  const upstreams = await Promise.all([
    startServer(answer),
    startServer(answer),
    startServer(answer),
  ]);
  closers.push(async () => {
    await Promise.all(upstreams.map((upstream) => upstream.close()));
  });
  const proxy = await startTestProxy(`
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
${adminExtra}
upstreams:
  shop:
    balance: round-robin
    targets:
${upstreams.map((upstream) => `      - url: ${upstream.url}`).join('\n')}
    outlierDetection:
      policy: { consecutiveFailures: 3 }
      failOn: [connect-error, 5xx]
      ejection: { base: 1s, max: 10s }
      maxEjectedPercent: 34
routes:
  - upstream: shop
`);
  closers.push(() => proxy.close());
  return { proxy, upstreams };
}

/** Sends a request every 50 ms until stopped (or 15 s at most): light, so neighbours keep their CPU. */
function traffic(proxy: TestProxy): () => Promise<void> {
  let running = true;
  const done = (async () => {
    const until = Date.now() + 15_000;
    while (running && Date.now() < until) {
      await httpRequest(`${proxy.url}/`).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return async () => {
    running = false;
    await done;
  };
}

function row(page: Page, url: string) {
  return page.locator('tr', { has: page.locator('th', { hasText: url }) });
}

test('shows each target live: ejection with its reason and countdown, recovery, drain', async () => {
  const { proxy, upstreams } = await cluster();
  const stop = traffic(proxy);
  closers.push(stop);
  const page = await browser.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  await page.goto(`${proxy.adminUrl}/`);
  const victim = upstreams[1]!;
  await row(page, victim.url).locator('.state.closed').waitFor({ timeout: 3_000 });
  assert.match(await page.locator('#connection').innerText(), /Live/);
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    // A few seconds of history, so the sparklines in the README's screenshots show something.
    await page.waitForFunction(
      () =>
        ((document.querySelector('tbody polyline') as SVGPolylineElement | null)?.points.length ??
          0) >= 4,
      undefined,
      { timeout: 6_000 },
    );
  }

  // Kill one upstream: its target is ejected, in words, with a countdown, within 3 s.
  const port = victim.port;
  const killedAt = Date.now();
  await victim.close();
  const victimRow = row(page, victim.url);
  await victimRow.locator('.state.ejected').waitFor({ timeout: 3_000 });
  assert.ok(Date.now() - killedAt < 3_000);
  const cells = await victimRow.locator('td').allInnerTexts();
  assert.ok(
    cells.some((text) => /ejected/.test(text)),
    `state in words: ${cells.join(' | ')}`,
  );
  assert.ok(
    cells.some((text) => /^in \d+ s$/.test(text)),
    `a countdown: ${cells.join(' | ')}`,
  );
  assert.ok(
    cells.some((text) => /fail/i.test(text)),
    `the reason in words: ${cells.join(' | ')}`,
  );
  await page.screenshot({ path: join(screenshots, 'dashboard.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: join(screenshots, 'dashboard-dark.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'light' });

  // Restart it on the same port: after its 1 s ejection a trial readmits it.
  const { createServer } = await import('node:http');
  const revived = createServer(answer).listen(port, '127.0.0.1');
  await once(revived, 'listening');
  closers.push(
    () =>
      new Promise((resolve) => {
        revived.close(() => resolve());
        revived.closeAllConnections();
      }),
  );
  await victimRow.locator('.state.closed').waitFor({ timeout: 5_000 });
  await page.locator('#timeline li[data-kind="recovered"]').waitFor({ timeout: 1_000 });

  // The drain button drains the first target, as the admin API sees it.
  const first = row(page, upstreams[0]!.url);
  await first.getByRole('button', { name: `Drain ${upstreams[0]!.url}` }).click();
  await first.locator('.state.drained').waitFor({ timeout: 3_000 });
  const view = JSON.parse((await httpRequest(`${proxy.adminUrl}/api/upstreams`)).body) as {
    upstreams: { targets: { url: string; drained: boolean }[] }[];
  };
  assert.equal(view.upstreams[0]!.targets[0]!.drained, true);
  await first.getByRole('button', { name: `Enable ${upstreams[0]!.url}` }).waitFor();

  await stop();
  assert.deepEqual(consoleErrors, []);
  await page.close();
});

test('with an admin token the page shows nothing until the token is given', async () => {
  const { proxy, upstreams } = await cluster('  token: s3cret-admin-token');
  const page = await browser.newPage();
  await page.goto(`${proxy.adminUrl}/`);
  await page.locator('#login').waitFor({ state: 'visible', timeout: 3_000 });
  assert.equal(await page.locator('tbody tr').count(), 0, 'no target is shown');
  const stream = await httpRequest(`${proxy.adminUrl}/api/events`);
  assert.equal(stream.status, 401);

  await page.locator('#token').fill('s3cret-admin-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await row(page, upstreams[0]!.url).waitFor({ timeout: 3_000 });
  assert.equal(page.url(), `${proxy.adminUrl}/`, 'the token is not in the URL');
  await page.close();
});
