/**
 * Exhaustive crash exploration of one recorded run (B3 / ALICE style): rebuild the disk after
 * every storage event of the run, crash it in every crash mode `exhaustiveModes` lists, recover
 * each resulting disk with the real FileJournal + Player, and check the invariants against the
 * ledger as it stood at that event. Recoveries are memoised by disk image (and hints): many crash
 * states leave identical disks, and recovery is a function of the disk, so each distinct image is
 * recovered once and every state is still checked against its own acknowledged / written bounds.
 *
 * Also: on a sample of distinct images a continuation check (I7). Media damage (bit flips, I4)
 * lives in bit-flips.ts, re-exported here.
 */
import {
  FRAGMENT_RECORD_MAGIC,
  INLINE,
  RECORD_FIXED_BYTES,
} from '../../../src/journal/fragment-record.js';
import { recoverReadOnly } from './bit-flips.js';
import { crashClass, describeCrashMode, exhaustiveModes, fatesFor } from './crash-modes.js';
import { DiskModel } from './disk-model.js';
import { FaultyFs } from './faulty-fs.js';
import {
  checkRecovery,
  checkStagedWrites,
  describeError,
  type Observation,
  type Violation,
} from './invariants.js';
import type { LedgerHints } from './ledger.js';
import { runRecovery } from './recover.js';
import { recordTreeOp } from './record-op.js';
import type { CrashStats } from './stats.js';
import { applyTreeOp, stateKey } from './tree-model.js';
import { Recorder } from '../../../src/recorder.js';
import { SIM_JOURNAL_DIR, SIM_RECORD_DIR, imageKey, type SimWorld } from './world.js';

export { exploreBitFlips, frameRegions, type FrameRegion } from './bit-flips.js';

interface MemoEntry {
  /** The recovery's outcome, without its staged writes (checked once, below, to save memory). */
  readonly observation: Observation;
  /** I4 verdict on the Player's staged writes (a function of the image, like the outcome). */
  readonly stagedWriteViolations: Violation[];
  /** I7 result for this image (undefined: not checked). */
  continuation?: Violation[];
}

/** Recovery outcomes by disk image + hints, shared across workloads (bounded). */
export class RecoveryMemo {
  readonly #entries = new Map<string, MemoEntry>();
  readonly #hintKeys = new WeakMap<LedgerHints, string>();
  constructor(private readonly limit = 200_000) {}

  key(image: string, hints: LedgerHints | undefined): string {
    if (hints === undefined) return `${image}|-`;
    let k = this.#hintKeys.get(hints);
    if (k === undefined) {
      k = JSON.stringify(hints.hints);
      this.#hintKeys.set(hints, k);
    }
    return `${image}|${k}`;
  }

  get(key: string): MemoEntry | undefined {
    return this.#entries.get(key);
  }

  set(key: string, entry: MemoEntry): void {
    if (this.#entries.size >= this.limit) this.#entries.clear();
    this.#entries.set(key, entry);
  }

  get size(): number {
    return this.#entries.size;
  }
}

export interface ExploreOptions {
  readonly stats: CrashStats;
  readonly memo: RecoveryMemo;
  /**
   * Tear the run's last append (the final write to the journal's data file) at every byte, while
   * it is pending. Other pending writes tear at 512 / 4096 boundaries and at their first, middle
   * and last byte.
   */
  readonly everyByte: boolean;
  /**
   * Check I7 (continue under a new author, recover again) on every n-th distinct image that
   * recovered cleanly (0: never). Each check costs two more recoveries.
   */
  readonly continuationEvery: number;
  /** Label for violation reports. */
  readonly where: string;
  /** Called with each violating crash state (to save it to the corpus). */
  readonly onViolation?: (state: ViolatingState) => void | Promise<void>;
}

export interface ViolatingState {
  readonly at: number;
  readonly mode: string;
  readonly disk: DiskModel;
  readonly violations: readonly Violation[];
}

let continuationCounter = 0;

/** A write of an INLINE commit (format v3: a small batch's data follows its index record). */
function isInlineCommit(bytes: Uint8Array): boolean {
  return (
    bytes.byteLength > RECORD_FIXED_BYTES &&
    Buffer.from(bytes.buffer, bytes.byteOffset, 9).readUInt32LE(0) === FRAGMENT_RECORD_MAGIC &&
    bytes[8] === INLINE
  );
}

/** Walks every crash state of the world's current epoch. */
export async function exploreCrashStates(world: SimWorld, options: ExploreOptions): Promise<void> {
  const { stats, memo } = options;
  const events = world.fs.events;
  const payloads = world.payloads();
  const disk = world.epochDisk.clone();
  // Fragment data files (`<epoch>.data`): the ones present at the epoch's start and created since.
  const dataInos = new Set<number>();
  for (const path of world.epochDisk.files().keys()) {
    const ino = path.endsWith('.data') ? world.epochDisk.lookup(path) : undefined;
    if (ino !== undefined) dataInos.add(ino);
  }
  let lastAppend = -1;
  events.forEach((event, i) => {
    if (event.t === 'create' && event.name.endsWith('.data')) dataInos.add(event.ino);
    if (event.t === 'write' && (dataInos.has(event.ino) || isInlineCommit(event.bytes))) {
      lastAppend = i;
    }
  });
  for (let c = 0; c <= events.length; c++) {
    if (c > 0) disk.apply(events[c - 1]!);
    const expectation = world.ledger.expectationAt(c);
    const everyByte = options.everyByte && c > lastAppend;
    for (const mode of exhaustiveModes(disk, { everyByte })) {
      const crashed = disk.crash(fatesFor(mode, disk));
      const key = memo.key(imageKey(crashed), expectation.hints);
      let entry = memo.get(key);
      if (entry === undefined) {
        const { stagedWrites, ...observation } = await recoverReadOnly(crashed, expectation.hints);
        entry = {
          observation,
          stagedWriteViolations: checkStagedWrites(stagedWrites ?? [], payloads),
        };
        memo.set(key, entry);
        stats.recoveries++;
        stats.note(`recovered-${crashClass(mode)}`);
      }
      const check = checkRecovery(expectation, entry.observation, { kind: 'crash' });
      const violations = [...entry.stagedWriteViolations, ...check.violations];
      if (
        options.continuationEvery > 0 &&
        check.k !== undefined &&
        violations.length === 0 &&
        (entry.continuation !== undefined ||
          ++continuationCounter % options.continuationEvery === 0)
      ) {
        if (entry.continuation === undefined) {
          entry.continuation = await checkContinuation(world, crashed, expectation.hints, check.k);
          stats.recoveries += 2;
          stats.note('continuation');
        }
        violations.push(...entry.continuation);
      }
      stats.states++;
      stats.note(crashClass(mode));
      if (check.gap !== undefined) stats.gap(check.gap);
      if (violations.length > 0) {
        const where = `${options.where} @event ${c}/${events.length} ${describeCrashMode(mode)}`;
        stats.violation(where, violations);
        await options.onViolation?.({
          at: c,
          mode: describeCrashMode(mode),
          disk: crashed,
          violations,
        });
      }
    }
  }
}

/**
 * I7: recover `disk` taking the log over as a new author, record one more op, make it durable,
 * and recover again: the second recovery must hold S_k plus that op.
 */
async function checkContinuation(
  world: SimWorld,
  disk: DiskModel,
  hints: LedgerHints | undefined,
  k: number,
): Promise<Violation[]> {
  const fs = new FaultyFs(disk.clone(), { record: false });
  const author = 0x7e570000 + k;
  const first = await runRecovery({
    storage: fs,
    journalDir: SIM_JOURNAL_DIR,
    hints: hints?.hints,
    handoff: author,
    keepOpen: true,
  });
  if (!first.observation.ok || first.fsm === undefined || first.journal === undefined) {
    return [
      {
        invariant: 'I7',
        message: `recovery with a hand-off failed where a read-only one succeeded: ${first.observation.ok ? '?' : describeError(first.observation.error)}`,
      },
    ];
  }
  const op = { kind: 'create', path: '/i7-continued' } as const;
  const before = world.ledger.state(k);
  try {
    const recorder = await Recorder.open({
      journal: first.journal,
      fsm: first.fsm,
      author,
      dir: SIM_RECORD_DIR,
    });
    recordTreeOp(recorder, SIM_RECORD_DIR, before, op);
    await recorder.barrier();
  } catch (error) {
    await first.journal.close().catch(() => undefined);
    return [
      {
        invariant: 'I7',
        message: `a new Recorder could not continue after recovery: ${describeError(error)}`,
      },
    ];
  }
  await first.journal.close();
  const again = await runRecovery({
    storage: new FaultyFs(
      fs.model.crash({ op: () => ({ kind: 'drop' }), keepDirChanges: () => false }),
      { record: false },
    ),
    journalDir: SIM_JOURNAL_DIR,
  });
  const expected = stateKey(applyTreeOp(before, op));
  if (again.observation.ok && again.observation.key === expected) return [];
  return [
    {
      invariant: 'I7',
      message:
        `after continuing under a new author, the next recovery does not hold S_${k} + ${op.path}: ` +
        (again.observation.ok
          ? `got\n${again.observation.key}`
          : describeError(again.observation.error)),
    },
  ];
}
