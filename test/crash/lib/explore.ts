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
import {
  COMMIT,
  FRAGMENT_RECORD_MAGIC,
  INLINE,
  RECORD_FIXED_BYTES,
  type Decoded,
} from '../../../src/journal/fragment-record.js';
import { imageContent, imageFragments, locate } from './journal-image.js';
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

/** How many whole frames of the journal's bytes end at or before `offset`. */
function framesEndingBy(bytes: Uint8Array, offset: number): number {
  let count = 0;
  let frame = -1;
  let end = 0;
  for (const region of frameRegions(bytes)) {
    if (region.frame !== frame) {
      if (frame >= 0 && end <= offset) count++;
      frame = region.frame;
    }
    end = region.end;
  }
  if (frame >= 0 && end <= offset) count++;
  return count;
}

/** A record's own bytes, without the data an INLINE commit carries after it. */
function headerLength(record: Decoded): number {
  return record.kind === COMMIT && record.payloadAt !== undefined
    ? record.payloadAt - record.position
    : record.length;
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
 * each frame, and one bit in every index record, and recover read-only. A flip must give a typed
 * integrity error or a valid prefix that keeps every acknowledged op. The one documented
 * exception: a flip in the last data COMMIT record when no later record confirms it reads like an
 * unfinished write (README: "a damaged last commit"); that case is counted, and recovery must
 * then keep every op acknowledged before that commit.
 */
export async function exploreBitFlips(world: SimWorld, options: ExploreOptions): Promise<void> {
  const { stats } = options;
  const disk = world
    .diskAt(world.clock())
    .crash({ op: () => ({ kind: 'keep' }), keepDirChanges: () => true });
  const files = disk.files();
  const fragments = imageFragments(files, SIM_JOURNAL_DIR);
  if (fragments.length === 0) return;
  const data = imageContent(files, fragments);
  const expectation = world.ledger.expectationAt();
  const payloads = world.payloads();
  const flips: { where: string; region: string; path: string; at: number; gapFrom?: number }[] = [];
  const lastFragment = fragments.at(-1)!;
  // The last data commit, when no later record confirms it (its data and record were synced
  // together: damage there reads as an unfinished write, the documented window).
  const lastRecord = lastFragment.records.at(-1);
  const unconfirmed =
    lastRecord !== undefined && lastRecord.kind === COMMIT && lastRecord.end > lastRecord.begin
      ? lastRecord
      : undefined;
  for (const region of frameRegions(data)) {
    const at = Math.floor((region.begin + region.end - 1) / 2);
    const place = locate(fragments, at);
    if (place === undefined) continue;
    const inUnconfirmed =
      unconfirmed !== undefined && at >= unconfirmed.begin && at < unconfirmed.end;
    flips.push({
      where: `frame ${region.frame} ${region.region} @${at}`,
      region: region.region,
      path: place.path,
      at: place.position,
      ...(inUnconfirmed ? { gapFrom: unconfirmed.begin } : {}),
    });
  }
  for (const fragment of fragments) {
    fragment.records.forEach((record, i) => {
      const unconfirmedLast =
        fragment === lastFragment &&
        i === fragment.records.length - 1 &&
        record.kind === COMMIT &&
        record.end > record.begin;
      flips.push({
        where: `index ${fragment.epoch} record ${i} (kind ${record.kind}) @${record.position}`,
        region: 'record',
        path: fragment.indexPath,
        // The middle of the record itself (an INLINE commit's data is flipped as frames above).
        at: record.position + Math.floor(headerLength(record) / 2),
        ...(unconfirmedLast ? { gapFrom: record.begin } : {}),
      });
    });
  }
  for (const flip of flips) {
    const original = files.get(flip.path)!;
    const flipped = withByte(disk, flip.path, flip.at, original[flip.at]! ^ (1 << (flip.at % 8)));
    const observation = await recoverReadOnly(flipped, expectation.hints);
    stats.recoveries++;
    // The documented window: the unconfirmed last commit may be read as never written.
    const expect =
      flip.gapFrom === undefined
        ? expectation
        : {
            ...expectation,
            acked: Math.min(expectation.acked, framesEndingBy(data, flip.gapFrom)),
          };
    if (flip.gapFrom !== undefined) stats.note('bitflip-unconfirmed-last-commit');
    const check = checkRecovery(
      expect,
      observation,
      { kind: 'media', acknowledged: expect.acked === expect.written, lastCommit: false },
      payloads,
    );
    stats.states++;
    stats.note(`bitflip-${flip.region}`);
    if (check.gap !== undefined) stats.gap(check.gap);
    if (check.violations.length > 0) {
      const where = `${options.where} bit flip in ${flip.where}`;
      stats.violation(where, check.violations);
      await options.onViolation?.({
        at: world.clock(),
        mode: `bitflip ${flip.where}`,
        disk: flipped,
        violations: check.violations,
      });
    }
  }
}
