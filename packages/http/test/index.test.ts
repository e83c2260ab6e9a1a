/**
 * The package's entry points load on their own: the root and `/fetch` import no Node.js built-in
 * (so they bundle for browsers and edge runtimes), and no entry point loads a framework at run
 * time (Express, Fastify and undici are optional peers, needed only by the entry named for them).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Imports `entries` in a fresh process where resolving any specifier matching `refused` throws. */
async function loadRefusing(refused: string, entries: string[]): Promise<Record<string, string[]>> {
  const program = `
import { registerHooks } from 'node:module';
const refused = new RegExp(${JSON.stringify(refused)});
registerHooks({
  resolve(specifier, context, nextResolve) {
    if (refused.test(specifier)) throw new Error('refused: ' + specifier);
    return nextResolve(specifier, context);
  },
});
const out = {};
for (const entry of ${JSON.stringify(entries)}) out[entry] = Object.keys(await import(entry)).sort();
console.log(JSON.stringify(out));
`;
  const { stdout } = await run(
    process.execPath,
    ['--conditions=@breakwater/source', '--input-type=module', '--eval', program],
    { cwd: import.meta.dirname },
  );
  return JSON.parse(stdout) as Record<string, string[]>;
}

describe('@breakwater/http entry points', () => {
  it('loads the root and /fetch without any Node.js built-in or framework', async () => {
    const loaded = await loadRefusing('^(node:|express|fastify|undici)', [
      '@breakwater/http',
      '@breakwater/http/fetch',
    ]);
    const fetchExports = loaded['@breakwater/http/fetch'] ?? [];
    assert.deepEqual(loaded['@breakwater/http'], fetchExports);
    for (const name of ['protectedFetch', 'classifyHttpOutcome', 'FailureStatusError']) {
      assert.ok(fetchExports.includes(name), name);
    }
    assert.ok(!fetchExports.includes('protectHandler'));
  });

  it('loads every server adapter without express, fastify or undici installed', async () => {
    const loaded = await loadRefusing('^(express|fastify|undici)(/|$)', [
      '@breakwater/http/node',
      '@breakwater/http/express',
      '@breakwater/http/fastify',
    ]);
    // breakersHandler (the status endpoint) serves all three frameworks, so each exports it.
    assert.deepEqual(loaded['@breakwater/http/node'], [
      'breakersHandler',
      'protectHandler',
      'routeSignal',
    ]);
    assert.deepEqual(loaded['@breakwater/http/express'], [
      'breakersHandler',
      'expressBreaker',
      'routeSignal',
    ]);
    assert.deepEqual(loaded['@breakwater/http/fastify'], [
      'breakersHandler',
      'fastifyBreaker',
      'routeSignal',
    ]);
  });
});
