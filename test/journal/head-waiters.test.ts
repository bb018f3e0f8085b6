/** head-waiters.ts: blocking reads parked until the head passes them, and read bounds. */
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors.js';
import { JournalReadAbortedError } from '../../src/journal/errors.js';
import {
  DEFAULT_MAX_READ_BYTES,
  HeadWaiters,
  checkReadOffset,
  readLength,
} from '../../src/journal/head-waiters.js';

/** Settles to 'pending' when `promise` has not settled after the current macrotask. */
async function state(promise: Promise<unknown>): Promise<'resolved' | 'rejected' | 'pending'> {
  let result: 'resolved' | 'rejected' | 'pending' = 'pending';
  promise.then(
    () => (result = 'resolved'),
    () => (result = 'rejected'),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return result;
}

describe('journal head waiters', () => {
  describe('HeadWaiters', () => {
    it('wakes a waiter once the head passes its offset, not when the head reaches it', async () => {
      const waiters = new HeadWaiters('j');
      const waiting = waiters.wait(10, undefined);
      waiters.notify(10);
      assert.equal(await state(waiting), 'pending');
      waiters.notify(11);
      assert.equal(await state(waiting), 'resolved');
      assert.equal(waiters.size, 0);
    });

    it('wakes only the waiters below the new head', async () => {
      const waiters = new HeadWaiters('j');
      const low = waiters.wait(1, undefined);
      const high = waiters.wait(50, undefined);
      waiters.notify(20);
      assert.equal(await state(low), 'resolved');
      assert.equal(await state(high), 'pending');
      assert.equal(waiters.size, 1);
      waiters.rejectAll(new Error('done'));
      await assert.rejects(high);
    });

    it('rejects at once with JournalReadAbortedError when the signal is already aborted', async () => {
      let first = 0;
      const waiters = new HeadWaiters('j', { onFirstWaiter: () => first++ });
      const controller = new AbortController();
      controller.abort(new Error('stop'));
      await assert.rejects(waiters.wait(3, controller.signal), JournalReadAbortedError);
      assert.equal(first, 0, 'an aborted read never counts as a waiter');
      assert.equal(waiters.size, 0);
    });

    it('rejects a parked waiter with JournalReadAbortedError when its signal aborts', async () => {
      let none = 0;
      const waiters = new HeadWaiters('j', { onNoWaiters: () => none++ });
      const controller = new AbortController();
      const waiting = waiters.wait(3, controller.signal);
      controller.abort();
      await assert.rejects(waiting, (error: unknown) => {
        assert.ok(error instanceof JournalReadAbortedError);
        assert.equal(error.offset, 3);
        return true;
      });
      assert.equal(waiters.size, 0);
      assert.equal(none, 1);
    });

    it('an abort after the waiter was woken changes nothing', async () => {
      const waiters = new HeadWaiters('j');
      const controller = new AbortController();
      const waiting = waiters.wait(0, controller.signal);
      waiters.notify(1);
      controller.abort();
      assert.equal(await state(waiting), 'resolved');
    });

    it('rejectAll rejects every waiter with the given error', async () => {
      const waiters = new HeadWaiters('j');
      const error = new Error('closed');
      const a = waiters.wait(1, undefined);
      const b = waiters.wait(2, undefined);
      waiters.rejectAll(error);
      await assert.rejects(a, (e) => e === error);
      await assert.rejects(b, (e) => e === error);
      assert.equal(waiters.size, 0);
    });

    it('reports the first waiter arriving and the last one leaving, once each', async () => {
      const events: string[] = [];
      const waiters = new HeadWaiters('j', {
        onFirstWaiter: () => events.push('first'),
        onNoWaiters: () => events.push('none'),
      });
      const a = waiters.wait(1, undefined);
      const b = waiters.wait(5, undefined);
      waiters.notify(2);
      await a;
      assert.deepEqual(events, ['first']);
      waiters.notify(6);
      await b;
      assert.deepEqual(events, ['first', 'none']);
    });
  });

  describe('checkReadOffset', () => {
    it('accepts 0 and the largest safe integer', () => {
      checkReadOffset('j', 0);
      checkReadOffset('j', Number.MAX_SAFE_INTEGER);
    });

    for (const offset of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      it(`refuses offset ${offset} with InvalidArgumentError (ReadOffset)`, () => {
        assert.throws(
          () => checkReadOffset('j', offset),
          (error: unknown) =>
            error instanceof InvalidArgumentError && error.reason === 'ReadOffset',
        );
      });
    }
  });

  describe('readLength', () => {
    it('returns at most DEFAULT_MAX_READ_BYTES without a hint (or with an infinite one)', () => {
      assert.equal(readLength(10 * DEFAULT_MAX_READ_BYTES, undefined), DEFAULT_MAX_READ_BYTES);
      assert.equal(readLength(10 * DEFAULT_MAX_READ_BYTES, Infinity), DEFAULT_MAX_READ_BYTES);
    });

    it('honours the hint, rounded down', () => {
      assert.equal(readLength(100, 7.9), 7);
    });

    it('returns at least one byte for a hint below 1', () => {
      assert.equal(readLength(100, 0), 1);
      assert.equal(readLength(100, -5), 1);
    });

    it('never returns more than is available', () => {
      assert.equal(readLength(3, 100), 3);
    });
  });
});
