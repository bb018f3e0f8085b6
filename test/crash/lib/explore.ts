/**
 * Exhaustive crash exploration of one recorded run (B3 / ALICE style): rebuild the disk after
 * every storage event of the run, crash it in every crash mode `exhaustiveModes` lists, recover
 * each resulting disk with the real FileJournal + Player, and check the invariants against the
 * ledger as it stood at that event. Recoveries are memoised by disk image (and hints): many crash
 * states leave identical disks, and recovery is a function of the disk, so each distinct image is
 * recovered once and every state is still checked against its own acknowledged / written bounds.
 *
 * Also: one bit flip per frame region (magic, length, op, payload) in the final, fully synced
 * log (media damage, I4), and on a sample of distinct images a continuation check (I7).
 */
import { decodeCommitRecord } from '../../../src/journal/commit-record.js';
import { decodeRecordedOp } from '../../../src/wire/codec.js';
import { crashClass, describeCrashMode, exhaustiveModes, fatesFor } from './crash-modes.js';
import { CrashableTarget } from './crashable-target.js';
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

/** A shared target volume for read-only recoveries (the Player deletes its directory first). */
let sharedTarget: CrashableTarget | undefined;

async function recoverReadOnly(
  disk: DiskModel,
  hints: LedgerHints | undefined,
): Promise<Observation> {
  sharedTarget ??= new CrashableTarget();
  const target = sharedTarget.reboot();
  const result = await runRecovery({
    storage: new FaultyFs(disk.clone(), { record: false }),
    journalDir: SIM_JOURNAL_DIR,
    hints: hints?.hints,
    target,
  });
  return result.observation;
}

/** Walks every crash state of the world's current epoch. */
export async function exploreCrashStates(world: SimWorld, options: ExploreOptions): Promise<void> {
  const { stats, memo } = options;
  const events = world.fs.events;
  const payloads = world.payloads();
  const disk = world.epochDisk.clone();
  const dataIno =
    world.epochDisk.lookup(`${SIM_JOURNAL_DIR}/data`) ??
    world.fs.model.lookup(`${SIM_JOURNAL_DIR}/data`);
  let lastAppend = -1;
  events.forEach((event, i) => {
    if (event.t === 'write' && event.ino === dataIno) lastAppend = i;
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

/** Frame regions of a journal's bytes (for bit flips). */
export interface FrameRegion {
  readonly frame: number;
  readonly region: 'magic' | 'length' | 'op' | 'payload';
  readonly begin: number;
  readonly end: number;
}

export function frameRegions(bytes: Uint8Array): FrameRegion[] {
  const out: FrameRegion[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  for (let frame = 0; at + 8 <= bytes.length; frame++) {
    const length = view.getUint32(at + 4, true);
    const opEnd = at + 8 + length;
    if (opEnd > bytes.length) break;
    const op = decodeRecordedOp(bytes.subarray(at + 8, opEnd));
    const payload = op.write?.length ?? 0;
    out.push({ frame, region: 'magic', begin: at, end: at + 4 });
    out.push({ frame, region: 'length', begin: at + 4, end: at + 8 });
    if (length > 0) out.push({ frame, region: 'op', begin: at + 8, end: opEnd });
    if (payload > 0) out.push({ frame, region: 'payload', begin: opEnd, end: opEnd + payload });
    at = opEnd + payload;
  }
  return out;
}

/** [begin, end) of the journal's last commit (read from its commits file). */
function lastCommit(commits: Uint8Array): { begin: number; end: number } | undefined {
  let last: { begin: number; end: number } | undefined;
  for (let at = 0; at < commits.length;) {
    const decoded = decodeCommitRecord(commits, at, at);
    if (decoded.kind !== 'record') break;
    if (decoded.record.end > decoded.record.begin) last = decoded.record;
    at += decoded.record.length;
  }
  return last;
}

/** A copy of `disk` with one byte of the file at `path` replaced. */
function withByte(disk: DiskModel, path: string, offset: number, value: number): DiskModel {
  const files = disk.files();
  const bytes = files.get(path)!.slice();
  bytes[offset] = value;
  files.set(path, bytes);
  return DiskModel.fromFiles(files);
}

/**
 * Media damage: in the world's final disk (everything synced), flip one bit in each region of
 * each frame and recover read-only. A flip must give a typed integrity error or a valid prefix
 * that keeps every acknowledged op (except the documented last-commit gap).
 */
export async function exploreBitFlips(world: SimWorld, options: ExploreOptions): Promise<void> {
  const { stats } = options;
  const disk = world
    .diskAt(world.clock())
    .crash({ op: () => ({ kind: 'keep' }), keepDirChanges: () => true });
  const files = disk.files();
  const data = files.get(`${SIM_JOURNAL_DIR}/data`);
  const commits = files.get(`${SIM_JOURNAL_DIR}/commits`);
  if (data === undefined || commits === undefined) return;
  const expectation = world.ledger.expectationAt();
  const last = lastCommit(commits);
  const payloads = world.payloads();
  for (const region of frameRegions(data)) {
    const at = Math.floor((region.begin + region.end - 1) / 2);
    const flipped = withByte(disk, `${SIM_JOURNAL_DIR}/data`, at, data[at]! ^ (1 << (at % 8)));
    const observation = await recoverReadOnly(flipped, expectation.hints);
    stats.recoveries++;
    const inLast = last !== undefined && at >= last.begin && at < last.end;
    const check = checkRecovery(
      expectation,
      observation,
      {
        kind: 'media',
        acknowledged: expectation.acked === expectation.written,
        lastCommit: inLast,
      },
      payloads,
    );
    stats.states++;
    stats.note(`bitflip-${region.region}`);
    if (check.gap !== undefined) stats.gap(check.gap);
    if (check.violations.length > 0) {
      const where = `${options.where} bit flip in frame ${region.frame} ${region.region} @${at}`;
      stats.violation(where, check.violations);
      await options.onViolation?.({
        at: world.clock(),
        mode: `bitflip ${region.region} @${at}`,
        disk: flipped,
        violations: check.violations,
      });
    }
  }
}
