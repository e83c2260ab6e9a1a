import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandEnv } from '../../src/config/expand-env.ts';

// biome-ignore lint/suspicious/noTemplateCurlyInString: the config's ${VAR} syntax, not a template
test('expands ${VAR} and ${VAR:-default} inside strings at any depth', () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's ${VAR} syntax, not a template
  const result = expandEnv({ a: 'x-${A}-y', list: ['${B:-fallback}'], n: 3 }, { A: 'one' });
  assert.deepEqual(result, { value: { a: 'x-one-y', list: ['fallback'], n: 3 }, unset: [] });
});

test('reports each unset variable with the path that used it', () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's ${VAR} syntax, not a template
  const result = expandEnv({ admin: { token: '${TOKEN}' } }, {});
  assert.deepEqual(result.unset, [{ variable: 'TOKEN', path: ['admin', 'token'] }]);
});
