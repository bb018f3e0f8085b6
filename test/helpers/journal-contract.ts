/**
 * The Journal contract as a shared mocha suite, run against every implementation (see
 * test/journal/memory.test.ts and test/journal/file.test.ts).
 */
import assert from 'node:assert/strict';
import { AbortedError, InvalidArgumentError } from '../../src/errors.js';
import type { AppendResult, Journal } from '../../src/journal/journal.js';
import type { BatchInfo, CommitHooks, JournalStats } from '../../src/journal/group-commit.js';
import {
  JournalAppendAbortedError,
  JournalClosedError,
  JournalFailedError,
  JournalReadAbortedError,
  JournalWriteError,
  OffsetNotYetAvailableError,
  RegisterMismatchError,
} from '../../src/journal/errors.js';

export interface ContractSubject {
  readonly journal: Journal;
  stats(): Readonly<JournalStats>;
}

export interface ContractFactory {
  /** A fresh, empty journal named `name` with `hooks` installed. */
  create(name: string, hooks?: CommitHooks): Promise<ContractSubject>;
}

/** Deterministic test bytes. */
export function bytesOf(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 1) out[i] = (seed * 131 + i * 7 + (i >>> 8)) & 0xff;
  return out;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** Every committed byte from `from`, by non-blocking reads until OffsetNotYetAvailable. */
export async function readAll(journal: Journal, from = 0): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let offset = from;
  for (;;) {
    try {
      const { offset: at, bytes } = await journal.read(offset, { blocking: false });
      assert.equal(at, offset);
      assert.ok(bytes.byteLength > 0, 'a read returns at least one byte');
      parts.push(bytes);
      offset += bytes.byteLength;
    } catch (error) {
      if (error instanceof OffsetNotYetAvailableError) return concatBytes(parts);
      throw error;
    }
  }
}

/** Lets every pending microtask and I/O callback run (a few event-loop turns). */
export async function settleFor(ms = 20): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether `promise` has settled, without waiting for it. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  const winner = await Promise.race([
    promise.then(
      () => 'settled',
      () => 'settled',
    ),
    Promise.resolve(marker),
  ]);
  return winner !== marker;
}

/** A commit hook that holds the first batch until `release()` is called. */
export function gate(): { hooks: CommitHooks; reached: Promise<void>; release: () => void } {
  let release!: () => void;
  let signalReached!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const reached = new Promise<void>((resolve) => (signalReached = resolve));
  let first = true;
  return {
    hooks: {
      beforeSync: async () => {
        if (!first) return;
        first = false;
        signalReached();
        await released;
      },
    },
    reached,
    release,
  };
}

export function journalContract(label: string, factory: ContractFactory): void {
  describe(`${label}: Journal contract`, function () {
    const opened: Journal[] = [];
    const make = async (hooks?: CommitHooks, name = 'test/contract'): Promise<ContractSubject> => {
      const subject = await factory.create(name, hooks);
      opened.push(subject.journal);
      return subject;
    };
    afterEach(async function () {
      await Promise.all(opened.splice(0).map((journal) => journal.close().catch(() => undefined)));
    });

    describe('append', function () {
      it('serializes concurrent appends in call order with contiguous offsets', async function () {
        const { journal } = await make();
        const parts = Array.from({ length: 60 }, (_, i) => bytesOf((i * 37) % 500, i));
        // Some appends as several chunks: the chunks of one append stay together.
        const results = await Promise.all(
          parts.map((part, i) =>
            journal.append(i % 4 === 1 ? [part.subarray(0, 3), part.subarray(3)] : part),
          ),
        );
        let expectedBegin = 0;
        results.forEach((result, i) => {
          assert.deepEqual(result, {
            begin: expectedBegin,
            end: expectedBegin + (parts[i] as Uint8Array).byteLength,
          });
          expectedBegin = result.end;
        });
        assert.equal(await journal.head(), expectedBegin);
        assert.deepEqual(await readAll(journal), concatBytes(parts));
      });

      it('resolves appends in call order', async function () {
        const { journal } = await make();
        const order: number[] = [];
        await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            journal.append(bytesOf(i + 1, i)).then(() => order.push(i)),
          ),
        );
        assert.deepEqual(
          order,
          Array.from({ length: 30 }, (_, i) => i),
        );
      });

      it('keeps offsets contiguous across batches while callers keep appending', async function () {
        const { journal } = await make();
        const results: AppendResult[] = [];
        const parts: Uint8Array[] = [];
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < 80) {
            const index = next;
            next += 1;
            const part = bytesOf(1 + (index % 17), index);
            parts[index] = part;
            results[index] = await journal.append(part);
          }
        };
        await Promise.all([worker(), worker(), worker()]);
        let end = 0;
        for (const [i, result] of results.entries()) {
          assert.equal(result.begin, end, `append ${i} begins where the previous one ended`);
          end = result.end;
        }
        assert.deepEqual(await readAll(journal), concatBytes(parts));
      });

      it('treats a zero-byte append as a barrier at the head', async function () {
        const { journal } = await make();
        assert.deepEqual(await journal.append(new Uint8Array(0)), { begin: 0, end: 0 });
        const order: string[] = [];
        const first = journal.append(bytesOf(10, 1)).then((r) => (order.push('first'), r));
        const second = journal.append(bytesOf(5, 2)).then((r) => (order.push('second'), r));
        const barrier = journal.append([]).then((r) => (order.push('barrier'), r));
        const [, secondResult, barrierResult] = await Promise.all([first, second, barrier]);
        assert.deepEqual(barrierResult, { begin: secondResult.end, end: secondResult.end });
        assert.deepEqual(order, ['first', 'second', 'barrier']);
        assert.equal(await journal.head(), 15);
      });

      it('group-commits: 100 concurrent appends share syncs', async function () {
        const subject = await make();
        const before = subject.stats();
        await Promise.all(
          Array.from({ length: 100 }, (_, i) => subject.journal.append(bytesOf(8, i))),
        );
        const after = subject.stats();
        assert.equal(after.appends - before.appends, 100);
        assert.ok(after.syncs - before.syncs >= 1);
        assert.ok(
          after.syncs - before.syncs < 100,
          `expected fewer syncs than appends, got ${after.syncs - before.syncs}`,
        );
        assert.equal(after.bytes - before.bytes, 800);
      });

      it('appends queued while a batch is in flight share the next sync', async function () {
        const held = gate();
        const subject = await make(held.hooks);
        const first = subject.journal.append(bytesOf(4, 0));
        await held.reached; // the first batch is between its write and its sync
        const rest = Array.from({ length: 50 }, (_, i) =>
          subject.journal.append(bytesOf(4, i + 1)),
        );
        await settleFor(10);
        assert.equal(await isSettled(first), false, 'the first append waits for its sync');
        held.release();
        const results = await Promise.all([first, ...rest]);
        assert.deepEqual(results.at(-1), { begin: 200, end: 204 });
        assert.equal(subject.stats().syncs, 2);
        assert.equal(subject.stats().batches, 2);
      });

      it('rejects input that is not bytes with InvalidArgumentError (AppendInput)', async function () {
        const { journal } = await make();
        await assert.rejects(
          journal.append('text' as unknown as Uint8Array),
          (error: unknown) =>
            error instanceof InvalidArgumentError &&
            error.code === 'InvalidArgument' &&
            error.reason === 'AppendInput',
        );
        await assert.rejects(
          journal.append(bytesOf(1, 1), {
            unionRegisters: { author: 7 } as unknown as Record<string, string>,
          }),
          { code: 'InvalidArgument', reason: 'AppendInput' },
        );
        assert.equal(await journal.head(), 0);
      });

      it('an append aborted while queued writes nothing', async function () {
        const held = gate();
        const { journal } = await make(held.hooks);
        const first = journal.append(bytesOf(6, 1));
        await held.reached;
        const controller = new AbortController();
        const aborted = journal.append(bytesOf(100, 2), { signal: controller.signal });
        const third = journal.append(bytesOf(3, 3));
        controller.abort(new Error('changed my mind'));
        await assert.rejects(aborted, (error: unknown) => {
          assert.ok(error instanceof JournalAppendAbortedError && error instanceof AbortedError);
          assert.equal(error.code, 'JournalAppendAborted');
          assert.match(error.message, /nothing was written/);
          return true;
        });
        held.release();
        assert.deepEqual(await first, { begin: 0, end: 6 });
        assert.deepEqual(await third, { begin: 6, end: 9 });
        assert.deepEqual(await readAll(journal), concatBytes([bytesOf(6, 1), bytesOf(3, 3)]));
        const already = AbortSignal.abort();
        await assert.rejects(journal.append(bytesOf(1, 4), { signal: already }), {
          code: 'JournalAppendAborted',
        });
        assert.equal(await journal.head(), 9);
      });
    });

    describe('registers', function () {
      it('an empty register set matches any check', async function () {
        const { journal } = await make();
        assert.deepEqual(await journal.registers(), {});
        const result = await journal.append(bytesOf(3, 1), { checkRegisters: { author: 'x' } });
        assert.deepEqual(result, { begin: 0, end: 3 });
      });

      it('sets registers atomically with the append and replaces same-named labels', async function () {
        const { journal } = await make();
        await journal.append(bytesOf(3, 1), { unionRegisters: { author: 'a', zone: 'z1' } });
        assert.deepEqual(await journal.registers(), { author: 'a', zone: 'z1' });
        await journal.append(bytesOf(3, 2), {
          checkRegisters: { author: 'a' },
          unionRegisters: { author: 'b' },
        });
        assert.deepEqual(await journal.registers(), { author: 'b', zone: 'z1' });
      });

      it('a mismatching check rejects with RegisterMismatchError and writes nothing', async function () {
        const { journal } = await make(undefined, 'fence/test-log');
        await journal.append(bytesOf(5, 1), { unionRegisters: { author: 'a' } });
        await assert.rejects(
          journal.append(bytesOf(50, 2), { checkRegisters: { author: 'b' } }),
          (error: unknown) => {
            assert.ok(error instanceof RegisterMismatchError);
            assert.equal(error.code, 'RegisterMismatch');
            assert.match(error.message, /fence\/test-log/);
            assert.match(error.message, /author="b"/);
            assert.match(error.message, /author="a"/);
            assert.match(error.message, /fenced/);
            assert.deepEqual(error.expected, { author: 'b' });
            assert.deepEqual(error.actual, { author: 'a' });
            return true;
          },
        );
        // A label the journal lacks does not match either (the journal is not empty).
        await assert.rejects(
          journal.append(bytesOf(1, 3), { checkRegisters: { shard: 's1' } }),
          RegisterMismatchError,
        );
        // Barriers are checked too (a fenced writer's barrier must fail).
        await assert.rejects(
          journal.append(new Uint8Array(0), { checkRegisters: { author: 'b' } }),
          RegisterMismatchError,
        );
        assert.equal(await journal.head(), 5);
        assert.deepEqual(await journal.registers(), { author: 'a' });
        assert.deepEqual(await readAll(journal), bytesOf(5, 1));
      });

      it('applies checks and unions in call order within one batch', async function () {
        const subject = await make();
        const { journal } = subject;
        const batchesBefore = subject.stats().batches;
        const outcomes = await Promise.allSettled([
          journal.append(bytesOf(2, 1), { unionRegisters: { author: 'a' } }),
          journal.append(bytesOf(3, 2), { checkRegisters: { author: 'a' } }),
          journal.append(bytesOf(4, 3), { unionRegisters: { author: 'b' } }),
          journal.append(bytesOf(5, 4), { checkRegisters: { author: 'a' } }),
          journal.append(bytesOf(6, 5), { checkRegisters: { author: 'b' } }),
        ]);
        assert.equal(subject.stats().batches - batchesBefore, 1, 'all five shared one batch');
        const values = outcomes.map((o) => (o.status === 'fulfilled' ? o.value : o.reason));
        assert.deepEqual(values[0], { begin: 0, end: 2 });
        assert.deepEqual(values[1], { begin: 2, end: 5 });
        assert.deepEqual(values[2], { begin: 5, end: 9 });
        assert.ok(values[3] instanceof RegisterMismatchError);
        assert.deepEqual(values[4], { begin: 9, end: 15 });
        assert.deepEqual(await journal.registers(), { author: 'b' });
        assert.deepEqual(
          await readAll(journal),
          concatBytes([bytesOf(2, 1), bytesOf(3, 2), bytesOf(4, 3), bytesOf(6, 5)]),
        );
      });

      it('a barrier can set registers without writing bytes', async function () {
        const { journal } = await make();
        await journal.append(bytesOf(4, 1));
        const result = await journal.append(new Uint8Array(0), {
          unionRegisters: { author: 'handoff' },
        });
        assert.deepEqual(result, { begin: 4, end: 4 });
        assert.deepEqual(await journal.registers(), { author: 'handoff' });
        await assert.rejects(
          journal.append(bytesOf(1, 2), { checkRegisters: { author: 'old' } }),
          RegisterMismatchError,
        );
      });
    });

    describe('read', function () {
      it('serves committed bytes from any offset, honouring maxBytes', async function () {
        const { journal } = await make();
        const data = bytesOf(1000, 9);
        await journal.append(data);
        const middle = await journal.read(400, { blocking: false });
        assert.equal(middle.offset, 400);
        assert.deepEqual(middle.bytes, data.subarray(400));
        const limited = await journal.read(10, { blocking: false, maxBytes: 7 });
        assert.deepEqual(limited.bytes, data.subarray(10, 17));
      });

      it('a non-blocking read at or beyond the head throws OffsetNotYetAvailable', async function () {
        const { journal } = await make();
        await assert.rejects(
          journal.read(0, { blocking: false }),
          (error: unknown) =>
            error instanceof OffsetNotYetAvailableError &&
            error.code === 'OffsetNotYetAvailable' &&
            error.head === 0,
        );
        await journal.append(bytesOf(10, 1));
        await assert.rejects(journal.read(10, { blocking: false }), OffsetNotYetAvailableError);
        await assert.rejects(journal.read(25, { blocking: false }), OffsetNotYetAvailableError);
      });

      it('rejects impossible offsets with InvalidArgument (ReadOffset)', async function () {
        const { journal } = await make();
        for (const offset of [-1, 1.5, Number.NaN, 2 ** 60]) {
          await assert.rejects(
            journal.read(offset, { blocking: true }),
            (error: unknown) =>
              error instanceof InvalidArgumentError &&
              error.code === 'InvalidArgument' &&
              error.reason === 'ReadOffset',
          );
        }
      });

      it('a blocking read waits for the append that reaches its offset', async function () {
        const { journal } = await make();
        await journal.append(bytesOf(5, 1));
        const atHead = journal.read(5, { blocking: true });
        const beyond = journal.read(8, { blocking: true });
        await settleFor();
        assert.equal(await isSettled(atHead), false);
        await journal.append(bytesOf(3, 2)); // head 8: wakes atHead only
        const woken = await atHead;
        assert.equal(woken.offset, 5);
        assert.deepEqual(woken.bytes, bytesOf(3, 2));
        await settleFor();
        assert.equal(await isSettled(beyond), false);
        await journal.append(bytesOf(4, 3));
        assert.deepEqual((await beyond).bytes, bytesOf(4, 3));
      });

      it('a tailing reader sees every byte of concurrent appends', async function () {
        const { journal } = await make();
        const parts = Array.from({ length: 40 }, (_, i) => bytesOf(1 + ((i * 13) % 90), i));
        const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
        const tail = (async () => {
          const seen: Uint8Array[] = [];
          let offset = 0;
          while (offset < total) {
            const { bytes } = await journal.read(offset, { blocking: true });
            seen.push(bytes);
            offset += bytes.byteLength;
          }
          return concatBytes(seen);
        })();
        for (const [i, part] of parts.entries()) {
          const pending = journal.append(part);
          if (i % 5 === 4) await pending;
        }
        assert.deepEqual(await tail, concatBytes(parts));
      });

      it('an AbortSignal cancels a blocking read', async function () {
        const { journal } = await make();
        const controller = new AbortController();
        const reading = journal.read(0, { blocking: true, signal: controller.signal });
        await settleFor(5);
        const reason = new Error('stop tailing');
        controller.abort(reason);
        await assert.rejects(reading, (error: unknown) => {
          assert.ok(error instanceof JournalReadAbortedError && error instanceof AbortedError);
          assert.equal(error.code, 'JournalReadAborted');
          assert.equal(error.cause, reason);
          return true;
        });
        await assert.rejects(
          journal.read(0, { blocking: true, signal: AbortSignal.abort() }),
          JournalReadAbortedError,
        );
        // The journal is still usable.
        await journal.append(bytesOf(2, 1));
        assert.equal((await journal.read(0, { blocking: true })).bytes.byteLength, 2);
      });
    });

    describe('close', function () {
      it('rejects pending reads; later calls throw JournalClosedError', async function () {
        const { journal } = await make();
        await journal.append(bytesOf(3, 1));
        const pending = journal.read(3, { blocking: true });
        const outcome = pending.then(
          () => 'resolved',
          (error: unknown) => error,
        );
        await settleFor(5);
        await journal.close();
        assert.ok((await outcome) instanceof JournalClosedError);
        await assert.rejects(journal.append(bytesOf(1, 2)), {
          code: 'JournalClosed',
        });
        await assert.rejects(journal.read(0, { blocking: false }), JournalClosedError);
        await assert.rejects(journal.head(), JournalClosedError);
        await assert.rejects(journal.registers(), JournalClosedError);
        await journal.close(); // idempotent
      });

      it('lets appends queued before close complete', async function () {
        const { journal } = await make();
        const appends = Array.from({ length: 10 }, (_, i) => journal.append(bytesOf(4, i)));
        await journal.close();
        const results = await Promise.all(appends);
        assert.deepEqual(results.at(-1), { begin: 36, end: 40 });
      });
    });

    describe('write failure', function () {
      it('rejects with JournalWriteError and refuses appends afterwards', async function () {
        let failNext = false;
        const failing: CommitHooks = {
          beforeSync: (batch: BatchInfo) => {
            if (failNext) throw new Error(`EIO (simulated) at ${batch.begin}`);
          },
        };
        const { journal } = await make(failing);
        assert.deepEqual(await journal.append(bytesOf(7, 1)), { begin: 0, end: 7 });
        failNext = true;
        const doomed = journal.append(bytesOf(9, 2));
        const queuedBehind = journal.append(bytesOf(9, 3));
        await assert.rejects(doomed, (error: unknown) => {
          assert.ok(error instanceof JournalWriteError);
          assert.equal(error.code, 'JournalWrite');
          assert.match(error.message, /reopen/);
          return true;
        });
        await assert.rejects(
          queuedBehind,
          (error: unknown) =>
            error instanceof JournalWriteError || error instanceof JournalFailedError,
        );
        failNext = false; // even with storage healthy again, the journal stays failed
        await assert.rejects(journal.append(bytesOf(1, 4)), (error: unknown) => {
          assert.ok(error instanceof JournalFailedError);
          assert.equal(error.code, 'JournalFailed');
          return true;
        });
        assert.equal(await journal.head(), 7);
        assert.deepEqual(await readAll(journal), bytesOf(7, 1));
      });
    });
  });
}
