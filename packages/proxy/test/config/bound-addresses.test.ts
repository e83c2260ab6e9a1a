import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boundAddresses, checkListenHosts } from '../../src/config/bound-addresses.ts';

const config = {
  listen: [
    { host: 'gone.example', port: 8080 },
    { host: '127.0.0.1', port: 8081 },
    { host: 'offline.example', port: 8082 },
  ],
  admin: { listen: { host: '::1', port: 9901 }, token: undefined },
};

function failing(codes: Record<string, string>) {
  const asked: string[] = [];
  const lookup = async (host: string) => {
    asked.push(host);
    const code = codes[host];
    if (code !== undefined) throw Object.assign(new Error(`lookup ${host}`), { code });
    return { address: '10.0.0.1', family: 4 };
  };
  return { asked, lookup };
}

test('names every bound address by its config path', () => {
  assert.deepEqual(
    boundAddresses(config).map((b) => b.path),
    ['listen[0]', 'listen[1]', 'listen[2]', 'admin.listen'],
  );
  assert.deepEqual(
    boundAddresses({ listen: [{ host: '0.0.0.0', port: 80 }], admin: undefined }).map(
      (b) => b.path,
    ),
    ['listen'],
  );
});

test('a listen host that does not resolve is an error; DNS unreachable is only a warning', async () => {
  const { asked, lookup } = failing({
    'gone.example': 'ENOTFOUND',
    'offline.example': 'EAI_AGAIN',
  });
  const { errors, warnings } = await checkListenHosts(config, lookup);
  assert.deepEqual(
    asked.sort(),
    ['gone.example', 'offline.example'],
    'addresses are not looked up',
  );
  assert.deepEqual(
    errors.map((e) => e.path),
    ['listen[0]'],
  );
  assert.match(errors[0]?.message ?? '', /gone\.example does not resolve \(ENOTFOUND\)/);
  assert.deepEqual(
    warnings.map((w) => w.path),
    ['listen[2]'],
  );
  assert.match(warnings[0]?.message ?? '', /DNS is unreachable \(EAI_AGAIN\)/);
});
