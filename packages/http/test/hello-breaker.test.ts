/**
 * The seed's story, driven against examples/hello-breaker.ts: a failing route answers 500, its
 * breaker opens after three failures and answers 503, other routes keep answering, and after the
 * open duration the route answers 200 again.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ManualClock } from 'breakwater';
import { createHelloServer } from '../../../examples/hello-breaker.ts';
import { close, listen } from './support/server.ts';

describe('examples/hello-breaker', () => {
  const clock = new ManualClock();
  const { server, helloBreaker } = createHelloServer({ clock, openDuration: 5_000 });
  after(() => close(server));

  it('greets, fails three times, rejects with 503, and recovers after the open duration', async () => {
    const origin = await listen(server);
    const hello = (name: string) => fetch(`${origin}/hello?name=${name}`);

    const first = await hello('world');
    assert.equal(first.status, 200);
    assert.equal(await first.text(), 'Hello, world!\n');

    for (let i = 0; i < 3; i++) {
      const failed = await hello('error');
      assert.equal(failed.status, 500);
      await failed.arrayBuffer();
    }
    assert.equal(helloBreaker.state, 'open');

    const rejected = await hello('world');
    assert.equal(rejected.status, 503);
    assert.equal(rejected.headers.get('retry-after'), '5');
    assert.equal(
      ((await rejected.json()) as { error: { code: string } }).error.code,
      'ERR_CIRCUIT_OPEN',
    );

    const time = await fetch(`${origin}/time`);
    assert.equal(time.status, 200, 'another route keeps its own, closed breaker');
    await time.arrayBuffer();

    clock.advance(4_000);
    const stillOpen = await hello('world');
    assert.equal(stillOpen.status, 503);
    assert.equal(stillOpen.headers.get('retry-after'), '1');
    await stillOpen.arrayBuffer();

    clock.advance(1_000);
    const recovered = await hello('again');
    assert.equal(recovered.status, 200);
    assert.equal(await recovered.text(), 'Hello, again!\n');
    assert.equal(helloBreaker.state, 'closed');
  });
});
