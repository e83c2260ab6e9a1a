/**
 * Coded errors are recognised across copies of the package: an application with two copies of
 * Breakwater installed (a library pinned to another version) still knows a `CircuitOpenError`
 * when it sees one, through `CircuitOpenError.is()`, while `instanceof` keeps working within a
 * copy.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as breakwater from '../src/index.ts';

type Errors = typeof import('../src/errors.ts');

// A query string makes the module loader evaluate the file again: a second, separate copy of
// every error class, as a second installed copy of the package would have.
const other = (await import(`../src/errors.ts?copy=${Date.now()}`)) as Errors;
const ours = breakwater as unknown as Errors;

function samples(copy: Errors) {
  return {
    CircuitOpenError: new copy.CircuitOpenError(1_000, 'payments'),
    TimeoutError: new copy.TimeoutError(2_000),
    BulkheadFullError: new copy.BulkheadFullError(4, 8),
    InvalidOptionError: new copy.InvalidOptionError('retry.maxAttempts', 'an integer >= 1', 0),
  };
}
type Coded = keyof ReturnType<typeof samples>;

describe('coded errors across copies', () => {
  it('loads two distinct copies of the error classes', () => {
    assert.notEqual(other.CircuitOpenError, ours.CircuitOpenError);
    assert.ok(!(samples(other).CircuitOpenError instanceof ours.CircuitOpenError));
  });

  for (const name of Object.keys(samples(ours)) as Coded[]) {
    it(`recognises a ${name} from the other copy, and only as a ${name}`, () => {
      const foreign = samples(other)[name];
      assert.equal(ours[name].is(foreign), true);
      assert.equal(ours.BreakwaterError.is(foreign), true);
      for (const otherName of Object.keys(samples(ours)) as Coded[]) {
        if (otherName !== name) assert.equal(ours[otherName].is(foreign), false, otherName);
      }
    });

    it(`keeps instanceof for a ${name} of the same copy`, () => {
      const local = samples(ours)[name];
      assert.ok(local instanceof ours[name]);
      assert.ok(local instanceof ours.BreakwaterError);
      assert.equal(ours[name].is(local), true);
    });
  }

  it('narrows the type so fields are usable after is()', () => {
    const error: unknown = samples(other).CircuitOpenError;
    assert.ok(ours.CircuitOpenError.is(error));
    assert.equal(error.retryAfter, 1_000);
    assert.equal(error.breaker, 'payments');
  });

  it('rejects look-alikes: plain errors, objects with a code, primitives', () => {
    const lookAlike = Object.assign(new Error('circuit open'), { code: 'ERR_CIRCUIT_OPEN' });
    for (const value of [lookAlike, { code: 'ERR_TIMEOUT' }, null, undefined, 'ERR_TIMEOUT', 42]) {
      assert.equal(ours.BreakwaterError.is(value), false);
      assert.equal(ours.CircuitOpenError.is(value), false);
      assert.equal(ours.TimeoutError.is(value), false);
    }
  });

  it('keeps the brand out of enumerable keys and JSON', () => {
    const error = samples(ours).TimeoutError;
    assert.deepEqual(Object.getOwnPropertySymbols(error).length, 1);
    assert.ok(!JSON.stringify(error).includes('breakwater.error'));
    assert.deepEqual(Object.keys(error).sort(), ['code', 'name', 'timeout']);
  });

  it('gives every exported error class its own static code, so is() can tell them apart', () => {
    const classes = Object.entries(breakwater).filter(
      ([, value]) =>
        typeof value === 'function' && value.prototype instanceof breakwater.BreakwaterError,
    );
    assert.ok(classes.length >= 4);
    for (const [name, cls] of classes) {
      assert.ok(Object.hasOwn(cls, 'code'), `${name} declares static code`);
      assert.match(String((cls as { code?: unknown }).code), /^ERR_[A-Z_]+$/, name);
    }
  });
});
