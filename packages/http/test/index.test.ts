import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Loads the package in a fresh process where resolving `express` or `fastify` throws, as it
 * would for an application that installed neither.
 */
const withoutFrameworks = `
import { registerHooks } from 'node:module';
registerHooks({
  resolve(specifier, context, nextResolve) {
    if (/^(express|fastify)(\\/|$)/.test(specifier)) throw new Error('not installed: ' + specifier);
    return nextResolve(specifier, context);
  },
});
const http = await import('@breakwater/http');
const handler = http.protectHandler((_req, res) => res.end());
const fastifyPluginSkipsOverride = http.fastifyBreaker[Symbol.for('skip-override')] === true;
console.log(JSON.stringify({
  exports: Object.keys(http).sort(),
  handler: typeof handler,
  express: typeof http.expressBreaker(),
  fastifyPluginSkipsOverride,
}));
`;

describe('@breakwater/http', () => {
  it('loads and builds every adapter without express or fastify installed', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--conditions=source', '--input-type=module', '--eval', withoutFrameworks],
      { cwd: import.meta.dirname },
    );
    const result = JSON.parse(stdout) as {
      exports: string[];
      handler: string;
      express: string;
      fastifyPluginSkipsOverride: boolean;
    };
    assert.equal(result.handler, 'function');
    assert.equal(result.express, 'function');
    assert.equal(result.fastifyPluginSkipsOverride, true);
    for (const name of [
      'classifyHttpOutcome',
      'protectedFetch',
      'protectHandler',
      'expressBreaker',
      'fastifyBreaker',
      'routeSignal',
    ]) {
      assert.ok(result.exports.includes(name), name);
    }
  });
});
