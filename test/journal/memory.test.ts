import assert from 'node:assert/strict';
import { MemoryJournal } from '../../src/journal/memory.js';
import {
  InvalidJournalNameError,
  JournalFailedError,
  JournalWriteError,
  RegisterMismatchError,
} from '../../src/journal/errors.js';
import { bytesOf, concatBytes, journalContract, readAll } from '../helpers/journal-contract.js';

journalContract('MemoryJournal', {
  create: async (name, hooks) => {
    const journal = new MemoryJournal(name, { hooks });
    return { journal, stats: () => journal.stats };
  },
});

describe('MemoryJournal test hooks', function () {
  it('rejects an invalid journal name', function () {
    assert.throws(() => new MemoryJournal('a//b'), InvalidJournalNameError);
    assert.throws(() => new MemoryJournal('ab'), { code: 'InvalidJournalName' });
  });

  it('snapshots hold committed content only, and a journal built from one continues it', async function () {
    const journal = new MemoryJournal('snap/log');
    await journal.append(bytesOf(10, 1), { unionRegisters: { author: 'a' } });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const gated = new MemoryJournal('snap/log', {
      bytes: journal.snapshot().bytes,
      registers: journal.snapshot().registers,
      hooks: { beforeSync: () => held },
    });
    const inFlight = gated.append(bytesOf(5, 2), { unionRegisters: { author: 'b' } });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const crashed = gated.snapshot(); // "crash" while the append is in flight
    assert.deepEqual(crashed.bytes, bytesOf(10, 1));
    assert.deepEqual(crashed.registers, { author: 'a' });
    release();
    await inFlight;
    assert.deepEqual(gated.snapshot().registers, { author: 'b' });

    const reopened = MemoryJournal.fromSnapshot(crashed);
    assert.equal(reopened.name, 'snap/log');
    assert.equal(await reopened.head(), 10);
    await assert.rejects(
      reopened.append(bytesOf(1, 3), { checkRegisters: { author: 'b' } }),
      RegisterMismatchError,
    );
    assert.deepEqual(await reopened.append(bytesOf(2, 4)), { begin: 10, end: 12 });
    assert.deepEqual(await readAll(reopened), concatBytes([bytesOf(10, 1), bytesOf(2, 4)]));
    // The snapshot is a copy: later appends do not change it.
    assert.equal(crashed.bytes.byteLength, 10);
  });

  it('failNextCommit fails one batch and the journal until rebuilt from a snapshot', async function () {
    const journal = new MemoryJournal('fail/log');
    await journal.append(bytesOf(4, 1));
    journal.failNextCommit(new Error('disk on fire'));
    await assert.rejects(journal.append(bytesOf(4, 2)), (error: unknown) => {
      assert.ok(error instanceof JournalWriteError);
      assert.equal((error.cause as Error).message, 'disk on fire');
      return true;
    });
    await assert.rejects(journal.append(bytesOf(4, 3)), JournalFailedError);
    const reopened = MemoryJournal.fromSnapshot(journal.snapshot());
    assert.deepEqual(await reopened.append(bytesOf(4, 3)), { begin: 4, end: 8 });
  });

  it('commitDelayMs holds a batch so that later appends pile up behind it', async function () {
    const journal = new MemoryJournal('delay/log', { commitDelayMs: 50 });
    const first = journal.append(bytesOf(2, 0));
    await new Promise((resolve) => setImmediate(resolve)); // the first batch is now delayed
    const rest = Array.from({ length: 19 }, (_, i) => journal.append(bytesOf(2, i + 1)));
    await Promise.all([first, ...rest]);
    assert.equal(journal.stats.appends, 20);
    assert.equal(journal.stats.syncs, 2);
  });

  it('copies appended bytes at commit, so reads return what was appended', async function () {
    const journal = new MemoryJournal('copy/log');
    const data = bytesOf(8, 1);
    await journal.append(data);
    data.fill(0);
    const { bytes } = await journal.read(0, { blocking: false });
    assert.deepEqual(bytes, bytesOf(8, 1));
    bytes.fill(0); // a read's result is the caller's own copy
    assert.deepEqual((await journal.read(0, { blocking: false })).bytes, bytesOf(8, 1));
  });
});
