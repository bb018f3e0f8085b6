/**
 * The kill test is only as good as its oracle. These in-process checks pin it down: the model
 * (TreeModel) predicts what RecordedFs + Player really produce, op by op; and findPrefix reports
 * the violations it exists to catch (a tree no prefix makes, a lost acknowledged op, a zombie's
 * file, an FSM position that does not match) instead of passing them.
 */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FSM } from '../../../src/fsm.js';
import { MemoryJournal } from '../../../src/journal/memory.js';
import { Player } from '../../../src/player.js';
import { RecordedFs, type BaseFs } from '../../../src/recorded-fs.js';
import { Recorder } from '../../../src/recorder.js';
import { findPrefix, type PrefixInput } from './ledger.js';
import { TreeModel, prng, type KillOp } from './model.js';
import { framePayloadCut } from './child-faults.js';
import { snapshotTree } from './tree.js';
import { nextOp, perform } from './workload.js';

describe('kill test oracle', function () {
  this.timeout(60_000);
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'recoverylog-kill-oracle-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** Records `count` workload ops; returns the journal, the ops and the model after each. */
  async function record(seed: number, count: number) {
    const journal = new MemoryJournal('kill/oracle');
    const dir = join(root, 'live');
    await fsp.mkdir(dir, { recursive: true });
    const recorder = await Recorder.open({
      journal,
      fsm: new FSM({ log: journal.name, liveNodes: [], properties: [] }),
      author: 7,
      dir,
    });
    const rfs = new RecordedFs(recorder, fsp as unknown as BaseFs);
    const model = new TreeModel();
    const random = prng(seed);
    const ops: KillOp[] = [];
    const posts = new Map<number, { seqNo: number; checksum: number }>();
    for (let i = 1; i <= count; i++) {
      const op = nextOp(model, random);
      await perform(rfs, dir, op);
      model.apply(op);
      ops.push(op);
      posts.set(i, { seqNo: recorder.fsm.nextSeqNo, checksum: recorder.fsm.nextChecksum });
      // The model predicts the recording directory itself after every op.
      assert.equal((await snapshotTree(dir)).digest, model.snapshot().digest, `after op ${i}`);
    }
    await recorder.barrier();
    return { journal, dir, ops, posts, model };
  }

  async function replay(journal: MemoryJournal) {
    const player = new Player();
    player.finishAtWriteHead();
    const target = join(root, 'replay');
    const result = await player.play({
      hints: { log: journal.name, liveNodes: [], properties: [] },
      dir: target,
      journals: () => journal,
    });
    return {
      tree: await snapshotTree(target),
      fsm: { seqNo: result.fsm.nextSeqNo, checksum: result.fsm.nextChecksum },
    };
  }

  for (const seed of [1, 2, 3]) {
    it(`predicts RecordedFs and Player exactly (seed ${seed}), and findPrefix finds the end`, async () => {
      const { journal, ops, posts, model } = await record(seed, 120);
      const recovered = await replay(journal);
      assert.equal(recovered.tree.digest, model.snapshot().digest);
      const result = findPrefix({
        base: new TreeModel(),
        basePost: { seqNo: 1, checksum: 0 },
        ops,
        posts,
        acked: ops.length,
        noops: 0,
        crashedInRecovery: false,
        recovered,
      });
      assert.ok(result.ok, result.ok ? '' : result.violation.detail);
      assert.equal(result.ok && result.j, ops.length);
    });
  }

  it('reports a lost acknowledged op (I2), a foreign tree (I1), a zombie (I3), a wrong FSM (I3)', async () => {
    const { journal, ops, posts } = await record(4, 40);
    const recovered = await replay(journal);
    const input: PrefixInput = {
      base: new TreeModel(),
      basePost: { seqNo: 1, checksum: 0 },
      ops,
      posts,
      acked: ops.length,
      noops: 0,
      crashedInRecovery: false,
      recovered,
    };
    // The journal only had the first 30 ops, but 40 were acknowledged.
    const shorter = ops.slice(0, 30);
    const prefixModel = new TreeModel();
    for (const op of shorter) prefixModel.apply(op);
    const lost = findPrefix({
      ...input,
      recovered: { tree: prefixModel.snapshot(), fsm: posts.get(30)! },
    });
    assert.equal(lost.ok ? 'ok' : lost.violation.invariant, 'I2');

    const foreign = findPrefix({
      ...input,
      recovered: {
        ...recovered,
        tree: { ...recovered.tree, digest: 'x', entries: recovered.tree.entries.slice(1) },
      },
    });
    assert.equal(foreign.ok ? 'ok' : foreign.violation.invariant, 'I1');

    const zombie = findPrefix({
      ...input,
      recovered: {
        ...recovered,
        tree: {
          ...recovered.tree,
          entries: [
            ...recovered.tree.entries,
            { path: '/zombie-9', kind: 'file', size: 1, hash: 'h', group: '/zombie-9' },
          ],
        },
      },
    });
    assert.equal(zombie.ok ? 'ok' : zombie.violation.invariant, 'I3');

    const wrongFsm = findPrefix({
      ...input,
      recovered: { ...recovered, fsm: { seqNo: recovered.fsm.seqNo + 1, checksum: 0 } },
    });
    assert.equal(wrongFsm.ok ? 'ok' : wrongFsm.violation.invariant, 'I3');
    // One crashed recovery's hand-off no-op is allowed on top.
    const withNoop = findPrefix({
      ...input,
      noops: 1,
      recovered: { ...recovered, fsm: { seqNo: recovered.fsm.seqNo + 1, checksum: 0 } },
    });
    assert.ok(withNoop.ok);
  });

  it('cuts a batch between the first frame and the Write payload after it', async () => {
    const { journal } = await record(5, 30);
    const bytes = (await journal.read(0, { blocking: false })).bytes;
    const cut = framePayloadCut(bytes);
    // The bytes up to the cut are whole frames; the next bytes are a payload, not a frame.
    assert.ok(cut !== undefined && cut > 8 && cut < bytes.length, `cut at ${cut}`);
    assert.notDeepEqual([...bytes.subarray(cut, cut + 4)], [0x66, 0x33, 0x93, 0x36]);
    // Bytes that do not start with a frame are not cut (the storage seam passes them on).
    assert.equal(framePayloadCut(bytes.subarray(1)), undefined);
  });
});
