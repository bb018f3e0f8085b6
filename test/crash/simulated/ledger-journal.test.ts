/**
 * The ledger's view of appends (test/crash/lib/ledger-journal.ts) against the real Recorder: the
 * Recorder merges the record calls of one synchronous run into one append, so acknowledgements
 * must follow the SeqNos an append carries, not the number of appends.
 */
import assert from 'node:assert/strict';
import { FSM } from '../../../src/fsm.js';
import type { AppendResult } from '../../../src/journal/journal.js';
import { MemoryJournal } from '../../../src/journal/memory.js';
import { Recorder } from '../../../src/recorder.js';
import { FRAME_MAGIC } from '../../../src/wire/framing.js';
import { LedgerJournal, type AppendLabel } from '../lib/ledger-journal.js';

const LOG = 'sim/ledger-journal-test';
const AUTHOR = 0x0c0c0001;
const DIR = '/data';

interface Seen {
  acked: { label: AppendLabel; result: AppendResult }[];
  failed: AppendLabel[];
}

async function setUp(): Promise<{
  journal: MemoryJournal;
  proxy: LedgerJournal;
  recorder: Recorder;
  seen: Seen;
  /** Runs a record call and labels it with the SeqNos it produced. */
  labelled: (index: number, call: () => unknown) => void;
}> {
  const journal = new MemoryJournal(LOG);
  const seen: Seen = { acked: [], failed: [] };
  const proxy = new LedgerJournal(journal, AUTHOR, {
    clock: () => 0,
    acked: (label, _at, result) => seen.acked.push({ label, result }),
    failed: (label) => seen.failed.push(label),
  });
  const fsm = new FSM({ log: LOG, liveNodes: [], properties: [] });
  const recorder = await Recorder.open({ journal: proxy, fsm, author: AUTHOR, dir: DIR });
  const labelled = (index: number, call: () => unknown): void => {
    const first = recorder.fsm.nextSeqNo;
    call();
    proxy.expect({ kind: 'history', index }, first, recorder.fsm.nextSeqNo);
  };
  return { journal, proxy, recorder, seen, labelled };
}

describe('simulated crashes: the ledger follows merged appends by content', function () {
  it('acknowledges every record call a merged append carried, and only those', async function () {
    const { journal, proxy, recorder, seen, labelled } = await setUp();
    // A payload holding the frame magic: the decoder must skip it as raw bytes, not as a frame.
    const payload = Uint8Array.of(...FRAME_MAGIC, 9, 0, 0, 0, 1, 2);
    let x = 0;
    labelled(0, () => (x = recorder.recordCreate(`${DIR}/x`)));
    labelled(1, () => recorder.recordWriteAt(x, payload, 0));
    labelled(2, () => recorder.recordRename(`${DIR}/x`, `${DIR}/y`)); // two ops in one call
    const syncsBefore = journal.stats.syncs;
    await recorder.barrier();
    assert.equal(journal.stats.syncs - syncsBefore, 1, 'the three calls shared one append');
    assert.deepEqual(
      seen.acked.map((a) => a.label.index),
      [0, 1, 2],
    );
    const [first] = seen.acked;
    for (const { result } of seen.acked) assert.deepEqual(result, first!.result);

    labelled(3, () => recorder.recordRemove(`${DIR}/y`));
    await recorder.barrier();
    assert.deepEqual(
      seen.acked.map((a) => a.label.index),
      [0, 1, 2, 3],
    );
    assert.ok(seen.acked[3]!.result.begin >= first!.result.end, 'a later append, a later range');
    assert.deepEqual(seen.failed, []);
    assert.deepEqual(proxy.problems, []);
  });

  it('flags an append carrying ops no label claims, and acknowledges nothing for it', async function () {
    const { proxy, recorder, seen, labelled } = await setUp();
    labelled(0, () => recorder.recordCreate(`${DIR}/x`));
    const unlabelled = recorder.fsm.nextSeqNo;
    recorder.recordCreate(`${DIR}/y`); // recorded behind the ledger's back
    await recorder.barrier();
    assert.deepEqual(
      seen.acked.map((a) => a.label.index),
      [0],
    );
    assert.equal(proxy.problems.length, 1);
    assert.ok(
      proxy.problems[0]!.includes(`SeqNos ${unlabelled}, which no pending label claims`),
      proxy.problems[0],
    );
  });

  it('fails the labels a failed append carried', async function () {
    const { journal, recorder, seen, labelled } = await setUp();
    labelled(0, () => recorder.recordCreate(`${DIR}/x`));
    labelled(1, () => recorder.recordCreate(`${DIR}/y`));
    journal.failNextCommit();
    await assert.rejects(recorder.barrier());
    assert.deepEqual(seen.acked, []);
    assert.deepEqual(
      seen.failed.map((l) => l.index),
      [0, 1],
    );
  });

  it('flags frames of another author (a writer appending through the wrong proxy)', async function () {
    const journal = new MemoryJournal(LOG);
    const proxy = new LedgerJournal(journal, AUTHOR + 1, {
      clock: () => 0,
      acked: () => assert.fail('nothing may be acknowledged'),
      failed: () => undefined,
    });
    const fsm = new FSM({ log: LOG, liveNodes: [], properties: [] });
    const recorder = await Recorder.open({ journal: proxy, fsm, author: AUTHOR, dir: DIR });
    proxy.expect({ kind: 'zombie', index: 0 }, recorder.fsm.nextSeqNo, recorder.fsm.nextSeqNo + 1);
    recorder.recordCreate(`${DIR}/x`);
    await recorder.barrier();
    assert.equal(proxy.problems.length, 1);
    assert.match(proxy.problems[0]!, /is by author/);
  });
});
