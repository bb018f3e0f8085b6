/**
 * The seeded-bug suite (Chipmunk's re-injectable bugs): each of the eight deliberate mistakes in
 * src/testing/faults.ts is switched on in turn, and this layer's own machinery (the same crash
 * exploration, recovery crashes, hand-off races and fork scenarios the other tests run) must
 * report a violation. Before that, the same detector runs with no bug on and must report none,
 * so a catch is the bug's doing. A seeded bug this layer does not catch fails the suite.
 *
 * Runs here keep their counters apart from the run's totals and save nothing to the corpus.
 */
import assert from 'node:assert/strict';
import {
  SEEDED_BUGS,
  disableSeededBugs,
  withSeededBug,
  type SeededBug,
} from '../../../src/testing/faults.js';
import { RecoveryMemo, exploreBitFlips, exploreCrashStates } from '../lib/explore.js';
import { CrashStats } from '../lib/stats.js';
import type { TreeOp } from '../lib/tree-model.js';
import { SimWorld } from '../lib/world.js';
import { simStats } from './run-stats.js';
import { crashPlayerAtEveryStep, runFork } from './scenarios.js';
import { describeWorkload, runWorkload, type WaitPattern } from './workloads.js';

const WORKLOADS: { ops: TreeOp[]; pattern: WaitPattern }[] = [
  {
    // The write is not the last commit: a flip in it reaches the Player (the journal cuts a
    // damaged last commit before anyone reads it).
    ops: [
      { kind: 'create', path: '/a/x' },
      { kind: 'write', path: '/a/x', offset: 0, data: { pattern: 9, length: 40 } },
      { kind: 'create', path: '/a/y' },
    ],
    pattern: 'each',
  },
  {
    ops: [
      { kind: 'create', path: '/a/x' },
      { kind: 'link', from: '/a/x', to: '/b/x' },
      { kind: 'create', path: '/a/y' },
    ],
    pattern: 'hints',
  },
  {
    ops: [
      { kind: 'create', path: '/a/x' },
      { kind: 'append', path: '/a/x', data: { pattern: 5, length: 700 } },
    ],
    pattern: 'end',
  },
];

/** Explores crash states of the workloads until something is caught (returns the count). */
async function exploreUntilCaught(stats: CrashStats, flips: boolean): Promise<number> {
  const memo = new RecoveryMemo();
  for (const { ops, pattern } of WORKLOADS) {
    const world = await runWorkload(ops, pattern);
    const where = describeWorkload(ops, pattern);
    const options = { stats, memo, everyByte: false, continuationEvery: 4, where };
    if (flips) await exploreBitFlips(world, options);
    else await exploreCrashStates(world, options);
    stats.violation(where, world.violations);
    await world.close();
    if (stats.violations.length > 0) break;
  }
  return stats.violations.length;
}

const DETECTORS: Record<
  SeededBug,
  { how: string; detect: (stats: CrashStats) => Promise<number> }
> = {
  ackBeforeSync: {
    how: 'crash between the early ack and the sync: an acknowledged op is lost (I2)',
    detect: (stats) => exploreUntilCaught(stats, false),
  },
  noDirFsync: {
    how: 'crash with unsynced directory entries lost: the journal vanishes after it was created (I2)',
    detect: (stats) => exploreUntilCaught(stats, false),
  },
  noTornTailCut: {
    how: 'a torn last commit is trusted: recovery fails on crash damage (I4)',
    detect: (stats) => exploreUntilCaught(stats, false),
  },
  applyPayloadBeforeCrc: {
    how: 'a flipped payload bit reaches a staged file before the CRC check (I4)',
    detect: (stats) => exploreUntilCaught(stats, true),
  },
  nonIdempotentMakeLive: {
    how: 'a recovery crashed mid-way is re-run over its leftovers and fails or differs (I6)',
    detect: async (stats) => {
      const world = await runWorkload(WORKLOADS[1]!.ops, 'each');
      const { disk, expectation } = world.crash({ kind: 'keep-all' });
      const result = await crashPlayerAtEveryStep(disk, expectation, false, 'seeded', stats);
      stats.violation('crash during recovery', result.violations);
      return stats.violations.length;
    },
  },
  hintsIncludeUnacked: {
    how: 'BuildHints resolves before the ops it references are durable (I5)',
    detect: async (stats) => {
      const world = await SimWorld.create();
      world.record({ kind: 'create', path: '/a/x' });
      world.record({ kind: 'write', path: '/a/x', offset: 0, data: { pattern: 3, length: 10 } });
      await world.buildHints();
      await world.sync();
      stats.violation('hints', world.violations);
      await world.close();
      return stats.violations.length;
    },
  },
  acceptWrongSeqNo: {
    how: "the Player's hand-off no-op, which lost the race to a zombie's append, is taken for an op with a wrong checksum (I2/I4)",
    detect: async (stats) => {
      const world = await SimWorld.create();
      world.record({ kind: 'create', path: '/a/x' });
      await world.sync();
      await world.handoffLive({ race: true }).catch(() => undefined);
      stats.violation('hand-off race', world.violations);
      await world.close().catch(() => undefined);
      return stats.violations.length;
    },
  },
  noAuthorCheck: {
    how: "at an unfenced fork the zombie's op with the same SeqNo and checksum is applied (I1/I3)",
    detect: async (stats) => {
      const world = await runFork(
        [{ zombie: false, kind: 0, i: 0, pattern: 1 }],
        [
          { zombie: true, kind: 0, i: 0, pattern: 2 },
          { zombie: false, kind: 0, i: 1, pattern: 3 },
        ],
        { stats },
      );
      stats.violation('fork', world.violations);
      await world.close();
      return stats.violations.length;
    },
  },
};

describe('simulated crashes: seeded bugs are caught', function () {
  this.timeout(0);
  afterEach(() => disableSeededBugs());

  for (const bug of SEEDED_BUGS) {
    const { how, detect } = DETECTORS[bug];
    it(`${bug}: ${how}`, async function () {
      const control = new CrashStats();
      assert.equal(
        await detect(control),
        0,
        `the detector reports violations with no bug on:\n${control.report('control').join('\n')}`,
      );
      const stats = new CrashStats();
      const started = performance.now();
      const caught = await withSeededBug(bug, () => detect(stats));
      const ms = performance.now() - started;
      simStats.note('seeded-bug-caught', caught > 0 ? 1 : 0);
      console.log(
        `      ${bug}: ${caught > 0 ? 'caught' : 'NOT CAUGHT'} in ${ms.toFixed(0)} ms after ${stats.states} crash states` +
          (caught > 0
            ? ` (${stats.violations[0]!.invariant}: ${stats.violations[0]!.message.split('\n')[0]!.slice(0, 140)})`
            : ''),
      );
      assert.ok(caught > 0, `seeded bug ${bug} was not caught by the simulated layer`);
    });
  }
});
