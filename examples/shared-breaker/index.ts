/**
 * Three replicas of a checkout service share one `payments` breaker through the local Redis.
 *
 * Run it:  npm run example:shared-breaker      (REDIS_URL, default redis://127.0.0.1:6379)
 *
 * It starts a payments service and three replicas (separate processes, `syncMode: 'outcomes'`),
 * then tells the story: payments goes down, five failures in a row spread over the replicas trip
 * the breaker, and all three open at once; payments comes back, exactly one replica sends the
 * half-open trial, and its success closes all three. Each replica prints its transitions.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

let paymentsUp = true;
let charges = 0;
const payments = createServer((_request, response) => {
  charges++;
  response.statusCode = paymentsUp ? 200 : 503;
  response.end(paymentsUp ? 'charged' : 'payments down');
});
payments.listen(0, '127.0.0.1');
await once(payments, 'listening');
const paymentsUrl = `http://127.0.0.1:${(payments.address() as AddressInfo).port}`;

const prefix = `example:${randomBytes(4).toString('hex')}:`;
const replicas: Array<{ child: ChildProcess; url: string; name: string }> = [];
for (const name of ['replica-a', 'replica-b', 'replica-c']) {
  const child = fork(new URL('./replica.ts', import.meta.url), [], {
    execArgv: ['--conditions=@breakwater/source'],
    env: { ...process.env, PAYMENTS_URL: paymentsUrl, REPLICA: name, PREFIX: prefix },
  });
  const [message] = (await once(child, 'message')) as [{ port: number }];
  replicas.push({ child, url: `http://127.0.0.1:${message.port}`, name });
}

async function checkout(i: number): Promise<string> {
  const replica = replicas[i % replicas.length]!;
  const response = await fetch(`${replica.url}/checkout`);
  return `${replica.name} ${response.status}`;
}

async function states(): Promise<string> {
  const rows = await Promise.all(
    replicas.map(async ({ url, name }) => {
      const snapshot = (await (await fetch(`${url}/breaker`)).json()) as {
        state: string;
        sync?: { source: string };
      };
      return `${name}: ${snapshot.state} (source ${snapshot.sync?.source})`;
    }),
  );
  return rows.join(', ');
}

console.log(`\n1. payments is up: ${(await Promise.all([0, 1, 2].map(checkout))).join(', ')}`);
paymentsUp = false;
console.log('\n2. payments goes down; requests keep coming, round robin over the replicas');
const before = charges;
for (let i = 0; i < 12; i++) console.log(`   ${await checkout(i)}`);
await delay(50);
console.log(
  `   payments received ${charges - before} doomed calls (alone, each replica would need 5 of its own: 15)`,
);
console.log(`   ${await states()}`);
console.log('\n3. payments comes back; after the 2 s open period one replica sends the trial');
paymentsUp = true;
await delay(2_100);
const trials = charges;
for (let i = 0; i < 6; i++) console.log(`   ${await checkout(i)}`);
await delay(50);
console.log(`   ${await states()}`);
console.log(`   payments received ${charges - trials} calls, the first of them the only trial\n`);

for (const { child } of replicas) child.disconnect();
await Promise.all(replicas.map(({ child }) => once(child, 'exit')));
payments.close();
