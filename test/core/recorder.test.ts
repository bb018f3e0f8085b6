import assert from 'node:assert/strict';
import { AbortedError, InvalidArgumentError } from '../../src/errors.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Volume } from 'memfs';
import { authorFence, FSM, newRandomAuthor } from '../../src/fsm.js';
import { notePlayedThrough } from '../../src/fsm-position.js';
import { JournalWriteError, RegisterMismatchError } from '../../src/journal/errors.js';
import type {
  AppendOptions,
  AppendResult,
  Journal,
  ReadOptions,
  ReadResult,
  Registers,
} from '../../src/journal/journal.js';
import { FileJournal } from '../../src/journal/file.js';
import { MemoryJournal } from '../../src/journal/memory.js';
import { Player, type TargetFs } from '../../src/player.js';
import { Recorder, type RecorderOptions } from '../../src/recorder.js';
import {
  FsmJournalMismatchError,
  PathExistsError,
  PropertyNotUtf8Error,
  RecorderAbortedError,
  UnfinishedPlaybackError,
  UnknownFnodeError,
  UnknownPathError,
  WriteHeadRegressionError,
} from '../../src/recorder-errors.js';
import { crc32c } from '../../src/crc32c.js';
import { encodeRecordedOp } from '../../src/wire/codec.js';
import { encodeFrame } from '../../src/wire/framing.js';
import type { FSMHints, Segment } from '../../src/wire/types.js';
import { decodeAllOps, readAllBytes, readAllOps, replayOps } from '../helpers/raw-log.js';

// Gazette recorder_test.go constants.
const aRecoveryLog = 'examples/integration-tests/recovery-log';
const otherLog = 'examples/integration-tests/other-recovery-log';
const anAuthor = 1234;
const otherAuthor = 5678;
const dir = '/strip';

/** Bytes already in the log before the recorder starts, so offsets are not trivially 0. */
const PREFIX = 100;

/** A Journal that remembers what each append carried (and can tamper with results). */
class SpyJournal implements Journal {
  readonly appends: { bytes: Uint8Array; options: AppendOptions | undefined }[] = [];
  mapResult: ((r: AppendResult) => AppendResult) | undefined;
  constructor(readonly inner: Journal) {}
  get name(): string {
    return this.inner.name;
  }
  async append(
    data: Uint8Array | readonly Uint8Array[],
    options?: AppendOptions,
  ): Promise<AppendResult> {
    const bytes = data instanceof Uint8Array ? data.slice() : Buffer.concat(data);
    this.appends.push({ bytes, options });
    const result = await this.inner.append(data, options);
    return this.mapResult ? this.mapResult(result) : result;
  }
  read(offset: number, options: ReadOptions): Promise<ReadResult> {
    return this.inner.read(offset, options);
  }
  head(): Promise<number> {
    return this.inner.head();
  }
  registers(): Promise<Registers> {
    return this.inner.registers();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * The SeqNos each append carried, in append order. Decoding each append on its own also checks
 * that no append ends inside a frame or a Write's payload.
 */
function seqNosPerAppend(journal: SpyJournal): number[][] {
  return journal.appends
    .filter((a) => a.bytes.length > 0)
    .map((a) => decodeAllOps(a.bytes, journal.name).map((e) => e.op.seqNo));
}

/** Asserts that the ops `seqNos` (one record call's) travelled together, in order, in one append. */
function assertOneAppend(journal: SpyJournal, seqNos: readonly number[]): void {
  const holding = seqNosPerAppend(journal).filter((ops) => ops.includes(seqNos[0]));
  assert.equal(holding.length, 1, `SeqNo ${seqNos[0]} is in exactly one append`);
  const at = holding[0].indexOf(seqNos[0]);
  assert.deepEqual(holding[0].slice(at, at + seqNos.length), seqNos);
}

function emptyFSM(log: string): FSM {
  return new FSM({ log, liveNodes: [], properties: [] });
}

/**
 * A second FSM with the history a Recorder wrote to `journal`: its ops applied to an empty FSM,
 * without the end offsets a Recorder does not know when it applies an op.
 */
async function replayedFSM(journal: Journal): Promise<FSM> {
  const fsm = emptyFSM(journal.name);
  for (const { op, opBytes } of await readAllOps(journal)) {
    fsm.apply({ ...op, lastOffset: 0 }, opBytes);
  }
  return fsm;
}

function prefilledJournal(name = aRecoveryLog): MemoryJournal {
  return new MemoryJournal(name, { bytes: new Uint8Array(PREFIX).fill(0xee) });
}

async function openRecorder(
  journal: Journal,
  options: Partial<RecorderOptions> = {},
): Promise<Recorder> {
  const fsm = emptyFSM(journal.name);
  // A prefilled journal's PREFIX is garbage, no op: note it as read, as a lenient Player that
  // skipped it would. (Recorder.open refuses a new FSM on a journal it has not read.)
  notePlayedThrough(fsm, journal.name, await journal.head());
  return Recorder.open({
    journal,
    fsm,
    author: anAuthor,
    dir,
    ...options,
  });
}

function segment(s: Partial<Segment>): Segment {
  return {
    author: anAuthor,
    firstSeqNo: 0,
    firstOffset: 0,
    firstChecksum: 0,
    lastSeqNo: 0,
    lastOffset: 0,
    log: '',
    ...s,
  };
}

function hints(liveNodes: FSMHints['liveNodes'], properties: FSMHints['properties'] = []) {
  return { log: aRecoveryLog, liveNodes, properties };
}

/** Collects unhandled rejections while a test runs (a failed append must not produce one). */
function watchUnhandled(): { stop: () => unknown[] } {
  const seen: unknown[] = [];
  const listener = (reason: unknown): void => {
    seen.push(reason);
  };
  process.on('unhandledRejection', listener);
  return {
    stop: () => {
      process.off('unhandledRejection', listener);
      return seen;
    },
  };
}

const tick = (ms = 0): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('Recorder (Gazette recorder_test.go)', () => {
  it('TestNewFile: creates with stripped paths, check registers on the barrier, hints', async () => {
    const journal = new SpyJournal(prefilledJournal());
    const rec = await openRecorder(journal);

    assert.equal(rec.recordCreate('/strip/path/to/file'), 1);
    await rec.barrier(); // The recorder observes the commit: the next op's lower bound moves.
    const barrier = journal.appends.at(-1)!;
    assert.equal(barrier.bytes.length, 0);
    assert.deepEqual(barrier.options?.checkRegisters, { author: '16i' });
    assert.equal(rec.recordCreate('/strip/other/file'), 2);

    await rec.barrier(); // Appends commit asynchronously: read once they are durable.
    const ops = await readAllOps(journal, PREFIX);
    assert.equal(ops.length, 2);
    assert.equal(ops[0].op.seqNo, 1);
    assert.equal(ops[0].op.author, anAuthor);
    assert.deepEqual(ops[0].op.create, { path: '/path/to/file' });
    assert.equal(ops[0].end, PREFIX + 32);
    assert.equal(ops[1].op.seqNo, 2);
    assert.equal(ops[1].op.author, anAuthor);
    assert.equal(ops[1].op.checksum, 0x568e8e4e);
    assert.deepEqual(ops[1].op.create, { path: '/other/file' });

    assert.deepEqual(
      await rec.buildHints(),
      hints([
        {
          fnode: 1,
          segments: [segment({ firstSeqNo: 1, firstOffset: PREFIX, lastSeqNo: 1 })],
        },
        {
          fnode: 2,
          segments: [
            segment({
              firstSeqNo: 2,
              firstOffset: PREFIX + 32,
              firstChecksum: 0x568e8e4e,
              lastSeqNo: 2,
            }),
          ],
        },
      ]),
    );
  });

  it('TestDeleteFile: remove records an unlink; no live nodes remain', async () => {
    const journal = prefilledJournal();
    const rec = await openRecorder(journal);
    rec.recordCreate('/strip/path/to/file');
    rec.recordRemove('/strip/path/to/file');
    const result = await rec.buildHints();

    await rec.barrier(); // Appends commit asynchronously: read once they are durable.
    const ops = await readAllOps(journal, PREFIX);
    assert.equal(ops.length, 2);
    assert.deepEqual(ops[1].op.unlink, { fnode: 1, path: '/path/to/file' });
    assert.deepEqual(result, hints([]));
  });

  it('TestOverwriteExistingFile: re-create is unlink + create (new fnode) in one append', async () => {
    const journal = new SpyJournal(prefilledJournal());
    const rec = await openRecorder(journal);
    rec.recordCreate('/strip/path/to/file');
    await rec.barrier();
    assert.equal(rec.recordCreate('/strip/path/to/file'), 3);

    await rec.barrier(); // Appends commit asynchronously: read once they are durable.
    assertOneAppend(journal, [2, 3]); // One record call, one atomic unit.
    const ops = await readAllOps(journal, PREFIX);
    assert.equal(ops.length, 3);
    assert.equal(ops[1].op.seqNo, 2);
    assert.deepEqual(ops[1].op.unlink, { fnode: 1, path: '/path/to/file' });
    assert.equal(ops[2].op.seqNo, 3);
    assert.deepEqual(ops[2].op.create, { path: '/path/to/file' });

    assert.deepEqual(
      await rec.buildHints(),
      hints([
        {
          fnode: 3,
          segments: [
            segment({
              firstSeqNo: 3,
              firstOffset: PREFIX + 32,
              firstChecksum: 0x8ee45505,
              lastSeqNo: 3,
            }),
          ],
        },
      ]),
    );
  });

  it('TestLinkFile: link op; the file keeps one segment', async () => {
    const journal = prefilledJournal();
    const rec = await openRecorder(journal);
    rec.recordCreate('/strip/path/to/file');
    await rec.barrier();
    rec.recordLink('/strip/path/to/file', '/strip/linked');

    await rec.barrier(); // Appends commit asynchronously: read once they are durable.
    const ops = await readAllOps(journal, PREFIX);
    assert.equal(ops[1].op.seqNo, 2);
    assert.deepEqual(ops[1].op.link, { fnode: 1, path: '/linked' });
    assert.deepEqual(
      await rec.buildHints(),
      hints([
        {
          fnode: 1,
          segments: [segment({ firstSeqNo: 1, firstOffset: PREFIX, lastSeqNo: 2 })],
        },
      ]),
    );
  });

  it('TestRenameTargetExists: unlink target, link source, unlink source', async () => {
    const journal = new SpyJournal(prefilledJournal());
    const rec = await openRecorder(journal);
    rec.recordCreate('/strip/target/path');
    await rec.barrier();
    rec.recordCreate('/strip/source/path');
    rec.recordRename('/strip//source/path', '/strip/target/path'); // Duplicate '/' is cleaned.

    await rec.barrier(); // Appends commit asynchronously: read once they are durable.
    assertOneAppend(journal, [3, 4, 5]);
    const ops = await readAllOps(journal, PREFIX);
    assert.equal(ops.length, 5);
    assert.equal(ops[2].op.seqNo, 3);
    assert.deepEqual(ops[2].op.unlink, { fnode: 1, path: '/target/path' });
    assert.equal(ops[3].op.seqNo, 4);
    assert.deepEqual(ops[3].op.link, { fnode: 2, path: '/target/path' });
    assert.equal(ops[4].op.seqNo, 5);
    assert.deepEqual(ops[4].op.unlink, { fnode: 2, path: '/source/path' });

    assert.deepEqual(
      await rec.buildHints(),
      hints([
        {
          fnode: 2,
          segments: [
            segment({
              firstSeqNo: 2,
              firstOffset: PREFIX + 31,
              firstChecksum: 0x5ccbeeaa,
              lastSeqNo: 5,
            }),
          ],
        },
      ]),
    );
  });

  it('TestRenameTargetIsNew: link then unlink', async () => {
    const journal = prefilledJournal();
    const rec = await openRecorder(journal);
    rec.recordCreate('/strip/source/path');
    await rec.barrier();
    rec.recordRename('/strip/source/path', '/strip//target/path');

    await rec.barrier(); // Appends commit asynchronously: read once they are durable.
    const ops = await readAllOps(journal, PREFIX);
    assert.equal(ops.length, 3);
    assert.equal(ops[1].op.seqNo, 2);
    assert.deepEqual(ops[1].op.link, { fnode: 1, path: '/target/path' });
    assert.equal(ops[2].op.seqNo, 3);
    assert.deepEqual(ops[2].op.unlink, { fnode: 1, path: '/source/path' });
    assert.deepEqual(
      await rec.buildHints(),
      hints([
        {
          fnode: 1,
          segments: [segment({ firstSeqNo: 1, firstOffset: PREFIX, lastSeqNo: 3 })],
        },
      ]),
    );
  });

  it('TestFileAppends: writes carry their payload (and its CRC-32C), empty ones too', async () => {
    const journal = prefilledJournal();
    const rec = await openRecorder(journal);
    const fnode = rec.recordCreate('/strip/source/path');
    const writes = ['first-write', '', 'second-write'];
    let offset = 0;
    for (const text of writes) {
      rec.recordWriteAt(fnode, Buffer.from(text), offset);
      offset += text.length;
    }

    await rec.barrier(); // Appends commit asynchronously: read once they are durable.
    const ops = await readAllOps(journal, PREFIX);
    assert.equal(ops.length, 4);
    const expected = [
      { seqNo: 2, offset: 0, text: 'first-write' },
      { seqNo: 3, offset: 11, text: '' },
      { seqNo: 4, offset: 11, text: 'second-write' },
    ];
    expected.forEach((want, i) => {
      const { op, payload, offset: at, end } = ops[i + 1];
      assert.equal(op.seqNo, want.seqNo);
      assert.equal(op.write?.fnode, 1);
      assert.equal(op.write?.offset, want.offset);
      assert.equal(op.write?.length, want.text.length);
      assert.equal(Buffer.from(payload!).toString(), want.text);
      // Our extension: the payload's CRC-32C, absent for an empty payload.
      assert.equal(
        op.write?.payloadCrc32c,
        want.text === '' ? undefined : crc32c(Buffer.from(want.text)),
      );
      assert.ok(end > at + want.text.length, 'the op ends after its payload');
    });
    assert.deepEqual(
      await rec.buildHints(),
      hints([
        {
          fnode: 1,
          segments: [segment({ firstSeqNo: 1, firstOffset: PREFIX, lastSeqNo: 4 })],
        },
      ]),
    );
  });

  it('TestPropertyUpdate: rename onto /IDENTITY records a property, then the unlink', async () => {
    const journal = prefilledJournal();
    const rec = await openRecorder(journal);
    rec.recordCreate('/strip/tmp_file');
    rec.recordRename('/strip/tmp_file', '/strip/IDENTITY', 'value');

    await rec.barrier(); // Appends commit asynchronously: read once they are durable.
    const ops = await readAllOps(journal, PREFIX);
    assert.equal(ops.length, 3);
    assert.equal(ops[1].op.seqNo, 2);
    assert.deepEqual(ops[1].op.property, { path: '/IDENTITY', content: 'value' });
    assert.equal(ops[2].op.seqNo, 3);
    assert.deepEqual(ops[2].op.unlink, { fnode: 1, path: '/tmp_file' });
    assert.deepEqual(await rec.buildHints(), hints([], [{ path: '/IDENTITY', content: 'value' }]));
  });

  it('TestMixedNewFileWriteAndDelete: only the surviving file is hinted', async () => {
    const journal = prefilledJournal();
    const rec = await openRecorder(journal);
    rec.recordCreate('/strip/delete/path');
    await rec.barrier();
    rec.recordWriteAt(rec.recordCreate('/strip/a/path'), Buffer.from('file-write'), 0);
    rec.recordRemove('/strip/delete/path');

    await rec.barrier(); // Appends commit asynchronously: read once they are durable.
    const ops = await readAllOps(journal, PREFIX);
    assert.deepEqual(
      ops.map((e) => e.op.seqNo),
      [1, 2, 3, 4],
    );
    assert.equal(Buffer.from(ops[2].payload!).toString(), 'file-write');
    assert.deepEqual(
      await rec.buildHints(),
      hints([
        {
          fnode: 2,
          segments: [
            segment({
              firstSeqNo: 2,
              firstOffset: PREFIX + 31,
              firstChecksum: 0x950c2859,
              lastSeqNo: 3,
            }),
          ],
        },
      ]),
    );
  });

  it('TestContextCancellation: an aborted signal rejects waits, ops keep being recorded', async () => {
    const journal = prefilledJournal();
    const controller = new AbortController();
    const rec = await openRecorder(journal, { signal: controller.signal });
    controller.abort(new Error('shutting down'));

    for (const path of ['/strip/file2', '/strip/file3']) {
      rec.recordCreate(path);
      const err = await rec.barrier().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof RecorderAbortedError, String(err));
      assert.equal(err.code, 'RecorderAborted');
      assert.ok(err instanceof AbortedError);
      assert.equal((err.cause as Error).message, 'shutting down');
    }
    await assert.rejects(rec.buildHints(), RecorderAbortedError);
    assert.equal(rec.failed, undefined);
    assert.equal(rec.fsm.nextSeqNo, 3); // Both creates were sequenced.
    await tick(5); // The appends were not aborted: they commit.
    const ops = await readAllOps(journal, PREFIX);
    assert.deepEqual(
      ops.map((e) => e.op.create?.path),
      ['/file2', '/file3'],
    );
  });

  it('open() with an aborted signal rejects with RecorderAbortedError', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      openRecorder(new MemoryJournal(aRecoveryLog), { signal: controller.signal }),
      RecorderAbortedError,
    );
  });

  it('an abort while a barrier is pending rejects it before the commit; the append still lands', async () => {
    const journal = new MemoryJournal(aRecoveryLog, { commitDelayMs: 50 });
    const rec = await openRecorder(journal);
    rec.recordCreate('/strip/slow');
    const controller = new AbortController();
    const pending = rec.barrier({ signal: controller.signal });
    controller.abort();
    await assert.rejects(pending, RecorderAbortedError);
    assert.equal(await journal.head(), 0); // Not committed yet when the wait gave up.
    await rec.barrier(); // Without the signal: waits for the commit.
    assert.equal((await readAllOps(journal)).length, 1);
    assert.equal(rec.failed, undefined);
  });

  it('TestFencedRecorder: another author fences the log; the recorder fails fast', async () => {
    const unhandled = watchUnhandled();
    try {
      const journal = prefilledJournal();
      const rec = await openRecorder(journal);
      rec.recordCreate('/strip/before');
      await rec.barrier();
      const before = await journal.head();

      // Another process takes over: its fence replaces ours (a no-op by the other author).
      const takeover = encodeFrame(
        encodeRecordedOp({
          seqNo: 2,
          checksum: rec.fsm.nextChecksum,
          author: otherAuthor,
          firstOffset: 0,
          lastOffset: 0,
          log: '',
        }),
      );
      await journal.append(takeover, { unionRegisters: authorFence(otherAuthor) });

      assert.equal(rec.recordCreate('/strip/zombie'), 2); // Sequenced optimistically...
      const err = await rec.barrier().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof RegisterMismatchError, String(err)); // ...but never appended.
      assert.equal(err.code, 'RegisterMismatch');
      assert.equal(rec.failed, err);
      assert.throws(
        () => rec.recordCreate('/strip/later'),
        (e) => e === err,
      );
      await assert.rejects(rec.barrier(), (e) => e === err);
      await assert.rejects(rec.buildHints(), (e) => e === err);

      const ops = await readAllOps(journal, PREFIX);
      assert.deepEqual(
        ops.map((e) => e.op.author),
        [anAuthor, otherAuthor],
      );
      assert.equal(await journal.head(), before + takeover.length);
      await tick(5);
    } finally {
      assert.deepEqual(unhandled.stop(), []);
    }
  });

  it('a rejected append fails the recorder even when nobody waits on it', async () => {
    const unhandled = watchUnhandled();
    try {
      const journal = new MemoryJournal(aRecoveryLog);
      const rec = await openRecorder(journal);
      journal.failNextCommit();
      rec.recordCreate('/strip/doomed');
      for (let i = 0; i < 20 && rec.failed === undefined; i++) await tick(1);
      assert.ok(rec.failed instanceof JournalWriteError, String(rec.failed));
      assert.throws(
        () => rec.recordCreate('/strip/after'),
        (e) => e === rec.failed,
      );
    } finally {
      assert.deepEqual(unhandled.stop(), []);
    }
  });

  it('TestRandomAuthorGeneration: random, never 0, never 0xffffffff', () => {
    assert.notEqual(newRandomAuthor(), newRandomAuthor());
    const authors = Array.from({ length: 2000 }, () => newRandomAuthor());
    for (const a of authors) assert.ok(Number.isInteger(a) && a >= 1 && a <= 0xfffffffe, `${a}`);
    assert.ok(new Set(authors).size > 1990, 'authors are random');
  });

  it('TestUpdatingRecordedLog: a recorder on another log continues the FSM with a fenced no-op', async () => {
    const journal1 = new MemoryJournal(aRecoveryLog);
    const fsm = emptyFSM(aRecoveryLog);
    const rec1 = await Recorder.open({ journal: journal1, fsm, author: anAuthor, dir });
    rec1.recordCreate('/strip/file1');
    await rec1.barrier();
    assert.equal(fsm.nextChecksum, 0x1f19bf57);

    const journal2 = new SpyJournal(new MemoryJournal(otherLog));
    const rec2 = await Recorder.open({
      journal: journal2,
      fsm: await replayedFSM(journal1),
      author: otherAuthor,
      dir,
    });
    // Open: a barrier without register check, then the no-op that places the fence.
    assert.equal(journal2.appends[0].options?.checkRegisters, undefined);
    assert.deepEqual(journal2.appends[1].options, { unionRegisters: { author: '5he' } });
    assert.deepEqual(await journal2.registers(), { author: '5he' });
    assert.deepEqual(
      Buffer.from(await readAllBytes(journal2)).toString('hex'),
      '66339336' + '0c000000' + '0802' + '1557bf191f' + '1d2e160000',
    );

    assert.equal(rec2.recordCreate('/strip/file3'), 3);
    await rec2.barrier();
    const ops = await readAllOps(journal2);
    assert.equal(ops[0].op.seqNo, 2);
    assert.equal(ops[0].op.author, otherAuthor);
    assert.equal(ops[1].op.checksum, 0x61669370);
    assert.deepEqual(journal2.appends[2].options?.checkRegisters, { author: '5he' });

    assert.deepEqual(await rec2.buildHints(), {
      log: otherLog,
      liveNodes: [
        {
          fnode: 1,
          segments: [segment({ firstSeqNo: 1, lastSeqNo: 1, log: aRecoveryLog })],
        },
        {
          fnode: 3,
          segments: [
            segment({
              author: otherAuthor,
              firstSeqNo: 3,
              // Gazette may report 0 here; we wait for the fencing no-op in open(), so the lower
              // bound is already past it.
              firstOffset: 20,
              firstChecksum: 0x61669370,
              lastSeqNo: 3,
            }),
          ],
        },
      ],
      properties: [],
    });
  });
});

describe('Recorder (beyond Gazette)', () => {
  it('validates the directory and the author', async () => {
    const journal = new MemoryJournal(aRecoveryLog);
    for (const bad of ['relative/dir', '/a/', '/a//b', '/a/./b', '/a/../b', '']) {
      await assert.rejects(
        openRecorder(journal, { dir: bad }),
        { code: 'InvalidArgument', reason: 'RecorderDir' },
        bad,
      );
    }
    for (const bad of [0, -1, 0x100000000, 1.5]) {
      await assert.rejects(openRecorder(journal, { author: bad }), {
        code: 'InvalidArgument',
        reason: 'Author',
      });
    }
    assert.equal(await journal.head(), 0);
    const root = await openRecorder(journal, { dir: '/' });
    assert.equal(root.relativePath('/a/b'), '/a/b');
  });

  it('refuses an FSM that has not finished playing back its hints', async () => {
    const fsm = new FSM({
      log: aRecoveryLog,
      liveNodes: [{ fnode: 1, segments: [segment({ firstSeqNo: 1, lastSeqNo: 1 })] }],
      properties: [],
    });
    await assert.rejects(
      Recorder.open({ journal: new MemoryJournal(aRecoveryLog), fsm, author: anAuthor, dir }),
      UnfinishedPlaybackError,
    );
  });

  it('checks that paths are really under the directory, and cleans them', async () => {
    const journal = new MemoryJournal(aRecoveryLog);
    const rec = await openRecorder(journal);
    assert.equal(rec.relativePath('/strip//a/./b/../c'), '/a/c');
    for (const bad of ['/stripped/file', '/strip', '/strip/', 'strip/x', '/strip/../etc/passwd']) {
      assert.throws(
        () => rec.relativePath(bad),
        { code: 'InvalidArgument', reason: 'PathOutsideDir' },
        bad,
      );
    }
    assert.equal(rec.failed, undefined); // Queries never fail the recorder...

    // ...but recording such a path does (Gazette would have recorded "/ped/file").
    assert.throws(() => rec.recordCreate('/stripped/file'), {
      code: 'InvalidArgument',
      reason: 'PathOutsideDir',
    });
    const failed: unknown = rec.failed; // (assert.equal above narrowed rec.failed to undefined)
    assert.ok(
      failed instanceof InvalidArgumentError && failed.reason === 'PathOutsideDir',
      String(failed),
    );
    assert.equal(await journal.head(), 0);
  });

  const failures: {
    name: string;
    setup?: (rec: Recorder) => void;
    act: (rec: Recorder) => unknown;
    /** The class of the error, or the reason of an InvalidArgumentError. */
    error: (new (...args: never[]) => Error) | { code: 'InvalidArgument'; reason: string };
  }[] = [
    {
      name: 'remove of an unknown path',
      act: (r) => r.recordRemove('/strip/x'),
      error: UnknownPathError,
    },
    {
      name: 'open without create of an unknown path',
      act: (r) => r.recordOpenFile('/strip/x', {}),
      error: UnknownPathError,
    },
    {
      name: 'exclusive open of a known path',
      setup: (r) => r.recordCreate('/strip/x'),
      act: (r) => r.recordOpenFile('/strip/x', { create: true, exclusive: true }),
      error: PathExistsError,
    },
    {
      name: 'open of a property path',
      act: (r) => r.recordCreate('/strip/IDENTITY'),
      error: { code: 'InvalidArgument', reason: 'PropertyPathMisuse' },
    },
    {
      name: 'remove of a property path',
      setup: (r) => {
        r.recordCreate('/strip/t');
        r.recordRename('/strip/t', '/strip/IDENTITY', 'id');
      },
      act: (r) => r.recordRemove('/strip/IDENTITY'),
      error: { code: 'InvalidArgument', reason: 'PropertyPathMisuse' },
    },
    {
      name: 'link onto an existing path',
      setup: (r) => {
        r.recordCreate('/strip/a');
        r.recordCreate('/strip/b');
      },
      act: (r) => r.recordLink('/strip/a', '/strip/b'),
      error: PathExistsError,
    },
    {
      name: 'link onto a property path',
      setup: (r) => r.recordCreate('/strip/a'),
      act: (r) => r.recordLink('/strip/a', '/strip/IDENTITY'),
      error: { code: 'InvalidArgument', reason: 'PropertyPathMisuse' },
    },
    {
      name: 'rename of an unknown path',
      act: (r) => r.recordRename('/strip/nope', '/strip/b'),
      error: UnknownPathError,
    },
    {
      name: 'rename onto a property without its content',
      setup: (r) => r.recordCreate('/strip/a'),
      act: (r) => r.recordRename('/strip/a', '/strip/IDENTITY'),
      error: { code: 'InvalidArgument', reason: 'PropertyContentMissing' },
    },
    {
      name: 'rename onto a property with content that is not UTF-8-encodable',
      setup: (r) => r.recordCreate('/strip/a'),
      act: (r) => r.recordRename('/strip/a', '/strip/IDENTITY', 'bad \ud800 surrogate'),
      error: PropertyNotUtf8Error,
    },
    {
      name: 'write to an unknown fnode',
      act: (r) => r.recordWriteAt(42, Buffer.from('x'), 0),
      error: UnknownFnodeError,
    },
    {
      name: 'write at a negative offset',
      setup: (r) => r.recordCreate('/strip/a'),
      act: (r) => r.recordWriteAt(1, Buffer.from('x'), -1),
      error: Error,
    },
  ];
  for (const { name, setup, act, error } of failures) {
    it(`fails fast, appending nothing, on ${name}`, async () => {
      const journal = new MemoryJournal(aRecoveryLog);
      const rec = await openRecorder(journal);
      setup?.(rec);
      await rec.barrier();
      const head = await journal.head();
      const seqNo = rec.fsm.nextSeqNo;

      let thrown: unknown;
      assert.throws(
        () => act(rec),
        (e) => {
          thrown = e;
          return typeof error === 'function'
            ? e instanceof error
            : e instanceof InvalidArgumentError && e.reason === error.reason;
        },
      );
      assert.equal(rec.failed, thrown);
      assert.equal(rec.fsm.nextSeqNo, seqNo); // Validated before sequencing.
      // The same error, for every later call.
      assert.throws(
        () => rec.recordCreate('/strip/other'),
        (e) => e === thrown,
      );
      await assert.rejects(rec.barrier(), (e) => e === thrown);
      await assert.rejects(rec.buildHints(), (e) => e === thrown);
      await tick(1);
      assert.equal(await journal.head(), head);
    });
  }

  it('records nothing for a non-truncating open of a known file, and a rename onto itself', async () => {
    const journal = new SpyJournal(new MemoryJournal(aRecoveryLog));
    const rec = await openRecorder(journal);
    const fnode = rec.recordCreate('/strip/a');
    const appends = journal.appends.length;
    assert.equal(rec.recordOpenFile('/strip/a', { create: true }), fnode);
    assert.equal(rec.recordOpenFile('/strip/a', {}), fnode);
    rec.recordRename('/strip/a', '/strip//a');
    assert.equal(journal.appends.length, appends);
    assert.equal(rec.failed, undefined);
  });

  it('ops recorded in one synchronous run share one append, whole and in call order (flushDelayMs 0)', async () => {
    const journal = new SpyJournal(new MemoryJournal(aRecoveryLog));
    const rec = await openRecorder(journal, { flushDelayMs: 0 });
    const before = journal.appends.length;
    const a = rec.recordCreate('/strip/a'); // 1
    rec.recordWriteAt(a, Buffer.from('payload'), 0); // 2
    rec.recordCreate('/strip/b'); // 3
    rec.recordRename('/strip/b', '/strip/a'); // 4 (unlink a), 5 (link), 6 (unlink b)
    await Promise.resolve(); // The end of the synchronous run hands them over.
    assert.equal(journal.appends.length, before + 1);
    assert.deepEqual(seqNosPerAppend(journal), [[1, 2, 3, 4, 5, 6]]);
    await rec.barrier();
    assert.deepEqual(
      (await readAllOps(journal)).map((e) => [
        e.op.seqNo,
        e.payload && Buffer.from(e.payload).toString(),
      ]),
      [
        [1, undefined],
        [2, 'payload'],
        [3, undefined],
        [4, undefined],
        [5, undefined],
        [6, undefined],
      ],
    );
  });

  it('with flushDelayMs, the ops of several turns wait for a barrier and travel in its append', async () => {
    const journal = new SpyJournal(new MemoryJournal(aRecoveryLog));
    const rec = await openRecorder(journal, { flushDelayMs: 5 });
    const before = journal.appends.length;
    const a = rec.recordCreate('/strip/a');
    await Promise.resolve();
    rec.recordWriteAt(a, Buffer.from('x'), 0);
    await Promise.resolve();
    rec.recordWriteAt(a, Buffer.from('y'), 1);
    await Promise.resolve();
    assert.equal(journal.appends.length, before); // nothing handed over between the turns
    await rec.barrier();
    assert.equal(journal.appends.length, before + 2); // the ops, then the barrier
    assert.deepEqual(seqNosPerAppend(journal).slice(-1), [[1, 2, 3]]);
  });

  it('with flushDelayMs, queued ops wait for a barrier, the delay or 1 MiB, in one append', async () => {
    const journal = new SpyJournal(new MemoryJournal(aRecoveryLog));
    const rec = await openRecorder(journal, { flushDelayMs: 10_000 });
    const before = journal.appends.length;
    const a = rec.recordCreate('/strip/a');
    await Promise.resolve();
    rec.recordWriteAt(a, Buffer.from('x'), 0);
    await Promise.resolve();
    assert.equal(journal.appends.length, before); // still queued after the synchronous runs
    await rec.barrier();
    assert.equal(journal.appends.length, before + 2); // the ops, then the barrier
    assert.deepEqual(seqNosPerAppend(journal).slice(-1), [[1, 2]]); // both in one append
    const big = new Uint8Array(600 * 1024);
    rec.recordWriteAt(a, big, 1);
    assert.equal(journal.appends.length, before + 2);
    rec.recordWriteAt(a, big, 1 + big.length); // over 1 MiB queued: appended synchronously
    assert.equal(journal.appends.length, before + 3);
    await rec.barrier();
    assert.equal(rec.failed, undefined);

    const timed = new SpyJournal(new MemoryJournal(aRecoveryLog));
    const lazy = await openRecorder(timed, { flushDelayMs: 5 });
    const count = timed.appends.length;
    lazy.recordCreate('/strip/t');
    await Promise.resolve();
    lazy.recordCreate('/strip/u');
    await tick(50); // no barrier: the delay hands both over, in one append
    assert.equal(timed.appends.length, count + 1);
    assert.deepEqual(seqNosPerAppend(timed).slice(-1), [[1, 2]]);
  });

  it('a barrier covers exactly the ops recorded before it, even within one synchronous run', async () => {
    const journal = new SpyJournal(new MemoryJournal(aRecoveryLog, { commitDelayMs: 5 }));
    const rec = await openRecorder(journal);
    rec.recordCreate('/strip/before'); // 1
    const barrier = rec.barrier();
    rec.recordCreate('/strip/after'); // 2
    const hints = rec.buildHints();
    const { end } = await barrier;
    const ops = await readAllOps(journal);
    assert.equal(ops.find((e) => e.op.seqNo === 1)!.end, end);
    assert.ok(ops.find((e) => e.op.seqNo === 2)!.offset >= end, 'recorded after the barrier');
    // The op recorded before buildHints() is durable when its hints are handed out.
    const built = await hints;
    assert.deepEqual(
      built.liveNodes.map((n) => n.fnode),
      [1, 2],
    );
    assert.equal(await journal.head(), ops.at(-1)!.end);
  });

  it('a failed shared append fails the recorder with the journal error', async () => {
    const journal = new SpyJournal(new MemoryJournal(aRecoveryLog));
    const rec = await openRecorder(journal);
    // Another writer takes the fence, then this recorder records several ops in one run.
    await journal.inner.append(new Uint8Array(0), { unionRegisters: authorFence(otherAuthor) });
    const head = await journal.head();
    rec.recordCreate('/strip/a');
    rec.recordCreate('/strip/b');
    await assert.rejects(rec.barrier(), RegisterMismatchError);
    assert.ok(rec.failed instanceof RegisterMismatchError, String(rec.failed));
    assert.equal(await journal.head(), head); // Nothing of the run was written.
  });

  it('copies write payloads: the caller may reuse its buffer at once', async () => {
    const journal = new MemoryJournal(aRecoveryLog, { commitDelayMs: 20 });
    const rec = await openRecorder(journal);
    const fnode = rec.recordCreate('/strip/a');
    const buffer = Buffer.from('original');
    rec.recordWriteAt(fnode, buffer, 0);
    buffer.write('CLOBBER!');
    await rec.barrier();
    const ops = await readAllOps(journal);
    assert.equal(Buffer.from(ops[1].payload!).toString(), 'original');
  });

  it('tracks the write head from commits and fails on a commit behind it', async () => {
    const spy = new SpyJournal(prefilledJournal());
    const rec = await openRecorder(spy);
    assert.equal(rec.writeHead, PREFIX);
    rec.recordCreate('/strip/a');
    await rec.barrier();
    const [created] = await readAllOps(spy, PREFIX);
    assert.equal(rec.writeHead, created.end);
    assert.equal(rec.writeHead, await spy.head());

    // A journal that acknowledges an append below what it acknowledged before lost data.
    spy.mapResult = (r) => ({ begin: r.begin - 10, end: r.end - 10 });
    rec.recordCreate('/strip/b');
    await assert.rejects(rec.barrier(), WriteHeadRegressionError);
    assert.ok(rec.failed instanceof WriteHeadRegressionError, String(rec.failed));
  });

  it('ops carry lower-bound offsets that never exceed where they landed', async () => {
    const journal = prefilledJournal();
    const rec = await openRecorder(journal);
    const a = rec.recordCreate('/strip/a');
    rec.recordWriteAt(a, Buffer.from('hello'), 0);
    await rec.barrier();
    rec.recordLink('/strip/a', '/strip/b');
    rec.recordCreate('/strip/c');
    const result = await rec.buildHints();
    const ops = await readAllOps(journal, PREFIX);
    for (const node of result.liveNodes) {
      const first = ops.find((e) => e.op.seqNo === node.segments[0].firstSeqNo)!;
      assert.ok(node.segments[0].firstOffset <= first.offset, 'a lower bound');
      assert.equal(node.segments[0].firstChecksum, first.op.checksum);
    }
  });

  it('without register checks a zombie keeps appending (raced histories for tests)', async () => {
    const journal = new SpyJournal(new MemoryJournal(aRecoveryLog));
    const rec = await openRecorder(journal, { disableRegisterChecks: true });
    await journal.append(new Uint8Array(0), { unionRegisters: authorFence(otherAuthor) });
    rec.recordCreate('/strip/a');
    await rec.barrier();
    assert.equal(rec.failed, undefined);
    assert.equal(journal.appends.at(-1)!.options?.checkRegisters, undefined);
    assert.equal((await readAllOps(journal)).length, 1);
  });

  it('produces a log that replays to exactly what was recorded', async () => {
    const journal = new MemoryJournal(aRecoveryLog);
    const rec = await openRecorder(journal);
    const a = rec.recordCreate('/strip/dir/a');
    rec.recordWriteAt(a, Buffer.from('hello world'), 0);
    rec.recordWriteAt(a, Buffer.from('HELLO'), 0);
    rec.recordLink('/strip/dir/a', '/strip/b');
    const c = rec.recordCreate('/strip/c');
    rec.recordWriteAt(c, Buffer.from('c!'), 3);
    rec.recordRename('/strip/c', '/strip/dir/a');
    rec.recordCreate('/strip/id.tmp');
    rec.recordRename('/strip/id.tmp', '/strip/IDENTITY', 'db-42');
    await rec.barrier();

    const ops = await readAllOps(journal);
    // The FSM of a reader accepts the whole chain.
    const reader = emptyFSM(aRecoveryLog);
    for (const e of ops) reader.apply(e.op, e.opBytes);
    assert.equal(reader.nextChecksum, rec.fsm.nextChecksum);
    assert.deepEqual(reader.buildHints(aRecoveryLog).properties, [
      { path: '/IDENTITY', content: 'db-42' },
    ]);

    const tree = replayOps(ops);
    const content = (p: string): string =>
      Buffer.from(tree.contents.get(tree.links.get(p)!)!).toString('latin1');
    assert.deepEqual([...tree.links.keys()].sort(), ['/b', '/dir/a']);
    assert.equal(content('/b'), 'HELLO world');
    assert.equal(content('/dir/a'), '\0\0\0c!');
    assert.deepEqual(tree.properties, new Map([['/IDENTITY', 'db-42']]));
  });
});

/** Plays `journal` from `hints` into memory, as a replica would; returns the FSM. */
async function playToHead(journal: Journal, hints: FSMHints, handoff?: number): Promise<FSM> {
  const player = new Player({ fs: new Volume().promises as unknown as TargetFs });
  if (handoff === undefined) player.finishAtWriteHead();
  else player.injectHandoff(handoff);
  return (await player.play({ hints, dir: '/replica', journals: () => journal })).fsm;
}

/** Opens a Recorder expecting FsmJournalMismatchError, and checks that it appended nothing. */
async function assertOpenRefused(
  journal: SpyJournal,
  options: Omit<RecorderOptions, 'journal' | 'dir'>,
): Promise<FsmJournalMismatchError> {
  const head = await journal.head();
  const appends = journal.appends.length;
  const err = await Recorder.open({ journal, dir, ...options }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof FsmJournalMismatchError, `expected a refusal, got ${String(err)}`);
  assert.equal(err.code, 'FsmJournalMismatch');
  assert.equal(err.log, journal.name);
  assert.equal(await journal.head(), head, 'nothing appended');
  assert.deepEqual(
    journal.appends.slice(appends).map((a) => a.bytes.length),
    [0],
    'only the zero-byte barrier that reads the write head',
  );
  return err;
}

describe('Recorder.open refuses an FSM that does not continue the journal', () => {
  it('a new FSM on a journal that already holds ops (two writers would both be acknowledged)', async () => {
    const journal = new SpyJournal(new MemoryJournal(aRecoveryLog));
    const first = await Recorder.open({
      journal,
      fsm: emptyFSM(aRecoveryLog),
      author: anAuthor,
      dir,
    });
    first.recordCreate('/strip/a');
    await first.barrier();

    const err = await assertOpenRefused(journal, {
      fsm: emptyFSM(aRecoveryLog),
      author: otherAuthor,
    });
    const head = await journal.head();
    assert.ok(head > 0);
    assert.equal(err.head, head);
    assert.equal(err.playedThrough, undefined);
    assert.match(
      err.message,
      new RegExp(`the FSM is new .* already holds ${head} bytes.*Play the log`),
    );

    // The first writer is unaffected, and the log holds one linear history.
    first.recordCreate('/strip/b');
    await first.barrier();
    const reader = emptyFSM(aRecoveryLog);
    for (const e of await readAllOps(journal)) reader.apply(e.op, e.opBytes);
    assert.deepEqual([...reader.links.keys()], ['/a', '/b']);
  });

  it('an FSM with the history of another log on a journal that is not empty', async () => {
    const journal1 = new MemoryJournal(aRecoveryLog);
    const rec1 = await openRecorder(journal1);
    rec1.recordCreate('/strip/a');
    await rec1.barrier();

    const journal2 = new SpyJournal(new MemoryJournal(otherLog));
    const intruder = await openRecorder(journal2, { author: otherAuthor });
    intruder.recordCreate('/strip/other');
    await intruder.barrier();
    const err = await assertOpenRefused(journal2, {
      fsm: await replayedFSM(journal1),
      author: anAuthor,
    });
    assert.match(err.message, /history is in "examples\/integration-tests\/recovery-log"/);
  });

  it('an FSM a Player played through offset X, once the journal has grown to Y > X', async () => {
    const journal = new SpyJournal(new MemoryJournal(aRecoveryLog));
    const rec = await openRecorder(journal);
    rec.recordWriteAt(rec.recordCreate('/strip/a'), Buffer.from('one'), 0);
    const replica = await playToHead(journal, await rec.buildHints());
    const x = await journal.head();
    // The original writer goes on after the replica read the log.
    rec.recordCreate('/strip/b');
    await rec.barrier();
    const y = await journal.head();
    assert.ok(y > x);

    const err = await assertOpenRefused(journal, { fsm: replica, author: otherAuthor });
    assert.equal(err.playedThrough, x);
    assert.equal(err.head, y);
    assert.match(
      err.message,
      new RegExp(`played through offset ${x}, but the journal has grown to ${y}`),
    );

    // A journal shorter than what the FSM read (another journal of that name) is refused too.
    const shorter = new SpyJournal(new MemoryJournal(aRecoveryLog));
    const lost = await assertOpenRefused(shorter, { fsm: replica, author: otherAuthor });
    assert.match(lost.message, /journal ends at 0/);
  });

  it("still opens: a new FSM on an empty journal, and a Player's FSM at the write head", async () => {
    // Gazette's start of a brand-new log.
    const journal = new SpyJournal(new MemoryJournal(aRecoveryLog));
    const rec = await Recorder.open({
      journal,
      fsm: emptyFSM(aRecoveryLog),
      author: anAuthor,
      dir,
    });
    rec.recordCreate('/strip/a');
    const hints = await rec.buildHints();

    // Read-only playback, nothing appended since: a new author continues the history.
    const readOnly = await playToHead(journal, hints);
    const next = await Recorder.open({ journal, fsm: readOnly, author: otherAuthor, dir });
    next.recordCreate('/strip/b');
    await next.barrier();

    // A hand-off: the Player's no-op fences the log, its author records on.
    const taker = 4242;
    const handedOff = await playToHead(journal, await next.buildHints(), taker);
    const last = await Recorder.open({ journal, fsm: handedOff, author: taker, dir });
    last.recordCreate('/strip/c');
    await last.barrier();
    await assert.rejects(next.barrier(), RegisterMismatchError);

    const reader = emptyFSM(aRecoveryLog);
    for (const e of await readAllOps(journal)) reader.apply(e.op, e.opBytes);
    assert.deepEqual([...reader.links.keys()], ['/a', '/b', '/c']);
  });
});

describe('Recorder hints and durability', () => {
  it('buildHints resolves only after the ops it describes are durable', async () => {
    const journal = new MemoryJournal(aRecoveryLog, { commitDelayMs: 20 });
    const rec = await openRecorder(journal);
    rec.recordWriteAt(rec.recordCreate('/strip/a'), Buffer.from('data'), 0);
    const result = await rec.buildHints();
    assert.equal(result.liveNodes[0].segments[0].lastSeqNo, 2);
    const ops = await readAllOps(journal); // No barrier: buildHints must have waited.
    assert.deepEqual(
      ops.map((e) => e.op.seqNo),
      [1, 2],
    );
  });
});

describe('Recorder over FileJournal', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'recorder-file-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('records a session that a reopened journal replays exactly', async () => {
    const journal = await FileJournal.create(join(root, 'log'), aRecoveryLog);
    const rec = await openRecorder(journal);
    const a = rec.recordCreate('/strip/db/000001.log');
    rec.recordWriteAt(a, Buffer.from('put k1 v1;'), 0);
    rec.recordWriteAt(a, Buffer.from('put k2 v2;'), 10);
    rec.recordCreate('/strip/db/CURRENT.tmp');
    rec.recordWriteAt(rec.fnodeAt('/strip/db/CURRENT.tmp')!, Buffer.from('MANIFEST-1'), 0);
    rec.recordRename('/strip/db/CURRENT.tmp', '/strip/db/CURRENT');
    rec.recordLink('/strip/db/000001.log', '/strip/backup.log');
    rec.recordCreate('/strip/id.tmp');
    rec.recordRename('/strip/id.tmp', '/strip/IDENTITY', 'f1c5-identity');
    const result = await rec.buildHints();
    await journal.close();

    const reopened = await FileJournal.open(join(root, 'log'));
    try {
      const ops = await readAllOps(reopened);
      const reader = emptyFSM(aRecoveryLog);
      for (const e of ops) reader.apply(e.op, e.opBytes);
      assert.deepEqual(reader.buildHints(aRecoveryLog).properties, result.properties);
      for (const node of result.liveNodes) {
        const first = ops.find((e) => e.op.seqNo === node.segments[0].firstSeqNo)!;
        assert.ok(node.segments[0].firstOffset <= first.offset, 'a lower bound');
        assert.equal(node.segments[0].firstChecksum, first.op.checksum);
      }
      const tree = replayOps(ops);
      const files = Object.fromEntries(
        [...tree.links].map(([path, fnode]) => [
          path,
          Buffer.from(tree.contents.get(fnode)!).toString(),
        ]),
      );
      assert.deepEqual(files, {
        '/db/000001.log': 'put k1 v1;put k2 v2;',
        '/backup.log': 'put k1 v1;put k2 v2;',
        '/db/CURRENT': 'MANIFEST-1',
      });
      assert.equal(tree.links.get('/db/000001.log'), tree.links.get('/backup.log'));
    } finally {
      await reopened.close();
    }
  });

  it('another journal instance fencing the log stops the recorder', async () => {
    const dirOfLog = join(root, 'log');
    const mine = await FileJournal.create(dirOfLog, aRecoveryLog);
    const rec = await openRecorder(mine);
    rec.recordCreate('/strip/x');
    await rec.barrier();

    // A new owner (as a Player's hand-off does) appends a no-op and takes the fence.
    const theirs = await FileJournal.open(dirOfLog);
    const handoff = encodeFrame(
      encodeRecordedOp({
        seqNo: rec.fsm.nextSeqNo,
        checksum: rec.fsm.nextChecksum,
        author: otherAuthor,
        firstOffset: 0,
        lastOffset: 0,
        log: '',
      }),
    );
    await theirs.append(handoff, { unionRegisters: authorFence(otherAuthor) });

    rec.recordCreate('/strip/zombie');
    await assert.rejects(rec.barrier(), RegisterMismatchError);
    assert.ok(rec.failed instanceof RegisterMismatchError, String(rec.failed));
    await mine.close();

    const ops = await readAllOps(theirs);
    assert.deepEqual(
      ops.map((e) => [e.op.author, e.op.seqNo]),
      [
        [anAuthor, 1],
        [otherAuthor, 2],
      ],
    );
    await theirs.close();
  });
});
