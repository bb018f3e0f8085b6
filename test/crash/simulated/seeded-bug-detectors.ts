/**
 * The seeded-bug suite's detectors: each is a small run of this layer's own machinery (the same
 * crash exploration, recovery crashes, hand-off races and fork scenarios the other tests run)
 * that reports the violations it finds. The suite runs a detector on the code as it is (it must
 * report none), then with a bug switched on (it must report one): on a faulty disk
 * (`diskFaults`), or imported from a patched copy of the sources (source-mutants.ts), which is
 * why `runDetector` takes and returns plain data only.
 */
import type { Journal } from '../../../src/journal/journal.js';
import type { DiskModel } from '../lib/disk-model.js';
import { FaultyFs, type DiskFaults } from '../lib/faulty-fs.js';
import { RecoveryMemo, exploreBitFlips, exploreCrashStates, frameRegions } from '../lib/explore.js';
import { checkRecovery } from '../lib/invariants.js';
import { runRecovery } from '../lib/recover.js';
import { CrashStats } from '../lib/stats.js';
import type { TreeOp } from '../lib/tree-model.js';
import { SIM_JOURNAL_DIR, SimWorld } from '../lib/world.js';
import { crashPlayerAtEveryStep, runFork } from './scenarios.js';
import { describeWorkload, runWorkload, type WaitPattern } from './workloads.js';

export const DETECTOR_NAMES = [
  /** Crash states of a few workloads (every storage event, every crash mode). */
  'crash-states',
  /** One bit flip per frame region and index record of the same workloads, on disk. */
  'bit-flips',
  /**
   * One bit flip in each Write payload on its way from the journal to the Player (as from a
   * journal that does not verify what it returns): the Player's own CRC check must stop it.
   */
  'payload-flips-in-transit',
  /** A recovery crashed at every Player I/O step, then recovered again. */
  'recovery-crash',
  /** BuildHints checked against what is acknowledged when it resolves. */
  'hints',
  /** A live hand-off whose no-op loses the race to the zombie's append. */
  'handoff-race',
  /** An unfenced fork: a zombie's op with the same SeqNo and checksum as the live one's. */
  'fork',
] as const;

export type DetectorName = (typeof DETECTOR_NAMES)[number];

/** What a detector run found (plain data: it may come from a patched copy of the modules). */
export interface DetectorRun {
  /** Violations reported (0: nothing caught). */
  caught: number;
  states: number;
  first: { invariant: string; message: string } | undefined;
  report: string[];
}

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
async function exploreUntilCaught(
  stats: CrashStats,
  flips: boolean,
  diskFaults: DiskFaults | undefined,
): Promise<number> {
  const memo = new RecoveryMemo();
  for (const { ops, pattern } of WORKLOADS) {
    const world = await runWorkload(ops, pattern, { diskFaults });
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

/** Every byte of the journal in `disk` (opened read-only on a copy). */
async function journalBytes(disk: DiskModel): Promise<Uint8Array> {
  const result = await runRecovery({
    storage: new FaultyFs(disk.clone(), { record: false }),
    journalDir: SIM_JOURNAL_DIR,
    keepOpen: true,
  });
  const journal = result.journal;
  if (journal === undefined) throw new Error('the clean journal did not open');
  try {
    const head = await journal.head();
    const parts: Uint8Array[] = [];
    for (let at = 0; at < head;) {
      const { offset, bytes } = await journal.read(at, { blocking: false });
      if (offset !== at) throw new Error(`the clean journal jumped from ${at} to ${offset}`);
      parts.push(bytes);
      at += bytes.length;
    }
    return Buffer.concat(parts);
  } finally {
    await journal.close();
  }
}

/** `journal` as the Player sees it, with the bit at journal offset `at` flipped in every read. */
function flippedInTransit(journal: Journal, at: number): Journal {
  return {
    name: journal.name,
    append: (data, options) => journal.append(data, options),
    read: async (offset, options) => {
      const result = await journal.read(offset, options);
      const i = at - result.offset;
      if (i < 0 || i >= result.bytes.length) return result;
      const bytes = Uint8Array.from(result.bytes);
      bytes[i]! ^= 1 << (at % 8);
      return { offset: result.offset, bytes };
    },
    head: () => journal.head(),
    registers: () => journal.registers(),
    close: () => journal.close(),
  };
}

/** Flips a bit of each Write payload between journal and Player (returns the count caught). */
async function flipPayloadsInTransit(
  stats: CrashStats,
  diskFaults: DiskFaults | undefined,
): Promise<number> {
  for (const { ops, pattern } of WORKLOADS) {
    const world = await runWorkload(ops, pattern, { diskFaults });
    const where = describeWorkload(ops, pattern);
    const disk = world
      .diskAt(world.clock())
      .crash({ op: () => ({ kind: 'keep' }), keepDirChanges: () => true });
    const expectation = world.ledger.expectationAt();
    const payloads = world.payloads();
    const bytes = await journalBytes(disk);
    for (const region of frameRegions(bytes)) {
      if (region.region !== 'payload') continue;
      const at = Math.floor((region.begin + region.end - 1) / 2);
      const result = await runRecovery({
        storage: new FaultyFs(disk.clone(), { record: false }),
        journalDir: SIM_JOURNAL_DIR,
        hints: expectation.hints?.hints,
        wrapJournal: (journal) => flippedInTransit(journal, at),
      });
      stats.recoveries++;
      stats.states++;
      const check = checkRecovery(
        expectation,
        result.observation,
        {
          kind: 'media',
          acknowledged: expectation.acked === expectation.written,
          lastCommit: false,
        },
        payloads,
      );
      stats.violation(`${where} payload bit flipped in transit @${at}`, check.violations);
    }
    await world.close();
    if (stats.violations.length > 0) break;
  }
  return stats.violations.length;
}

const DETECTORS: Record<
  DetectorName,
  (stats: CrashStats, diskFaults: DiskFaults | undefined) => Promise<number>
> = {
  'crash-states': (stats, diskFaults) => exploreUntilCaught(stats, false, diskFaults),
  'bit-flips': (stats, diskFaults) => exploreUntilCaught(stats, true, diskFaults),
  'payload-flips-in-transit': flipPayloadsInTransit,
  'recovery-crash': async (stats, diskFaults) => {
    const world = await runWorkload(WORKLOADS[1]!.ops, 'each', { diskFaults });
    const { disk, expectation } = world.crash({ kind: 'keep-all' });
    const result = await crashPlayerAtEveryStep(disk, expectation, false, 'seeded', stats);
    stats.violation('crash during recovery', result.violations);
    return stats.violations.length;
  },
  hints: async (stats, diskFaults) => {
    const world = await SimWorld.create({ diskFaults });
    world.record({ kind: 'create', path: '/a/x' });
    world.record({ kind: 'write', path: '/a/x', offset: 0, data: { pattern: 3, length: 10 } });
    await world.buildHints();
    await world.sync();
    stats.violation('hints', world.violations);
    await world.close();
    return stats.violations.length;
  },
  'handoff-race': async (stats, diskFaults) => {
    const world = await SimWorld.create({ diskFaults });
    world.record({ kind: 'create', path: '/a/x' });
    await world.sync();
    await world.handoffLive({ race: true }).catch(() => undefined);
    stats.violation('hand-off race', world.violations);
    await world.close().catch(() => undefined);
    return stats.violations.length;
  },
  fork: async (stats, diskFaults) => {
    if (diskFaults !== undefined) throw new Error('the fork detector runs on a healthy disk only');
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
};

/** Runs one detector (its counters kept apart from the run's totals; nothing saved). */
export async function runDetector(
  name: DetectorName,
  diskFaults?: DiskFaults,
): Promise<DetectorRun> {
  const detect = DETECTORS[name];
  if (detect === undefined) throw new Error(`unknown detector ${name}`);
  const stats = new CrashStats();
  const caught = await detect(stats, diskFaults);
  const first = stats.violations[0];
  return {
    caught,
    states: stats.states,
    first: first && { invariant: first.invariant, message: first.message },
    report: stats.report('seeded'),
  };
}
