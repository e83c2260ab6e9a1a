import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listenConflicts } from '../../src/config/listen-conflicts.ts';

test('finds the same address twice in listen, naming the later one', () => {
  assert.deepEqual(
    listenConflicts(['127.0.0.1:8080', '127.0.0.1:8081', '127.0.0.1:8080'], undefined).map(
      (i) => i.path,
    ),
    ['listen[2]'],
  );
});

test('a wildcard host collides with any host on its port, either way round', () => {
  assert.equal(listenConflicts([':8080', '127.0.0.1:8080'], undefined).length, 1);
  assert.equal(listenConflicts(['127.0.0.1:8080', '0.0.0.0:8080'], undefined).length, 1);
  assert.equal(listenConflicts(['127.0.0.1:8080', '127.0.0.2:8080'], undefined).length, 0);
});

test('port 0 never collides: each listener gets a port of its own', () => {
  assert.deepEqual(listenConflicts(['127.0.0.1:0', '127.0.0.1:0'], { listen: '127.0.0.1:0' }), []);
});

test('finds admin.listen on a listener address, its default included', () => {
  const given = listenConflicts('127.0.0.1:8080', { listen: '127.0.0.1:8080' });
  assert.equal(given[0]?.path, 'admin.listen');
  assert.match(given[0]?.message ?? '', /collides with listen \(127\.0\.0\.1:8080\)/);
  assert.equal(listenConflicts(':9901', {})[0]?.path, 'admin.listen');
  assert.deepEqual(listenConflicts(':9901', undefined), [], 'no admin block, no admin listener');
});
