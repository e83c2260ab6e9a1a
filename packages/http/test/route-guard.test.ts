import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { after, describe, it } from 'node:test';
import { BreakerRegistry, consecutiveFailures } from 'breakwater';
import { errorBody, RouteGuard, respondRaw, routeSignal } from '../src/route-guard.ts';
import { close, listen } from './support/server.ts';

describe('RouteGuard', () => {
  const guard = new RouteGuard({ breaker: { policy: consecutiveFailures(1) } }, 'test');
  const signals: AbortSignal[] = [];
  let unprotected: AbortSignal | undefined;
  const server = createServer((req: IncomingMessage, res) => {
    if (req.url === '/unprotected') {
      unprotected = routeSignal(req);
      res.end();
      return;
    }
    if (guard.admit('/guarded', req, res, respondRaw(res)) === undefined) return;
    signals.push(routeSignal(req));
    res.end('done');
  });
  after(() => close(server));

  it('gives an unprotected request a signal that never aborts', async () => {
    const origin = await listen(server);
    await (await fetch(`${origin}/unprotected`)).arrayBuffer();
    assert.equal(unprotected?.aborted, false);
    assert.equal(await (await fetch(`${origin}/guarded`)).text(), 'done');
    assert.equal(signals.length, 1);
    assert.equal(signals[0]?.aborted, false, 'a finished request does not abort its signal');
    assert.equal(guard.breaker('/guarded').snapshot().totals.successes, 1);
  });

  it('rejects options it would otherwise ignore', () => {
    const breakers = new BreakerRegistry({ defaults: {} });
    assert.throws(() => new RouteGuard({ breakers, breaker: {} }, 'test'), { option: 'breaker' });
    assert.throws(() => new RouteGuard({ breakers: {} as never }, 'test'), { option: 'breakers' });
    assert.throws(() => new RouteGuard(null as never, 'where'), /where options/);
  });

  it('builds the JSON error body', () => {
    assert.deepEqual(errorBody('ERR_X', 'msg'), { error: { code: 'ERR_X', message: 'msg' } });
  });
});
