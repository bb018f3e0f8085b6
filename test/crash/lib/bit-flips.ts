/**
 * Media damage (I4): one bit flip per frame region (magic, length, op, payload) and one per index
 * record, each in its own copy of a journal image, recovered read-only.
 *
 * Two images per run: the world's final disk, where the last commit is always confirmed (by the
 * idle confirmation, or sealed), and the disk at the latest moment inside the documented window
 * (README, "a damaged last commit"): every acknowledged batch durable, and the newest fragment's
 * last record a data COMMIT that no later record confirms. A flip in that commit (its bytes or its
 * record) may lose that batch and only it; every other flip must give a typed integrity error or
 * a valid prefix keeping every acknowledged op. Without the second image that window is
 * documented but never damaged.
 */
import { COMMIT, type Decoded } from '../../../src/journal/fragment-record.js';
import { decodeRecordedOp } from '../../../src/wire/codec.js';
import { CrashableTarget } from './crashable-target.js';
import { DiskModel } from './disk-model.js';
import { FaultyFs } from './faulty-fs.js';
import { checkRecovery, type Observation, type Violation } from './invariants.js';
import { imageContent, imageFragments, locate, type ImageFragment } from './journal-image.js';
import type { LedgerHints } from './ledger.js';
import { runRecovery } from './recover.js';
import type { CrashStats } from './stats.js';
import { SIM_JOURNAL_DIR, type SimWorld } from './world.js';

/**
 * How many storage events before the end of a run the window is looked for. The window closes
 * a few events after the last acknowledgement (the idle confirmation's write and sync, lock
 * renewals, a close's SEAL), so a short scan finds it; the bound keeps the scan's replay cheap.
 */
export const WINDOW_SCAN_EVENTS = 32;

/** Marks the flips inside the window in reports (and saved cases' modes). */
export const IN_WINDOW = '[in the unconfirmed last commit]';

/** What a bit-flip exploration needs (a subset of explore.ts's ExploreOptions). */
export interface BitFlipOptions {
  readonly stats: CrashStats;
  /** Label for violation reports. */
  readonly where: string;
  /** Called with each violating image (to save it to the corpus). */
  readonly onViolation?: (state: {
    readonly at: number;
    readonly mode: string;
    readonly disk: DiskModel;
    readonly violations: readonly Violation[];
  }) => void | Promise<void>;
}

/** A shared target volume for read-only recoveries (the Player deletes its directory first). */
let sharedTarget: CrashableTarget | undefined;

/** Recovers a copy of `disk` read-only (the disk is left as it is). */
export async function recoverReadOnly(
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

type DecodedCommit = Extract<Decoded, { readonly kind: typeof COMMIT }>;

/** The newest fragment's last record, when it is a data COMMIT (nothing after it confirms it). */
function unconfirmedLastCommit(fragments: readonly ImageFragment[]): DecodedCommit | undefined {
  const last = fragments.at(-1)?.records.at(-1);
  return last !== undefined && last.kind === COMMIT && last.end > last.begin ? last : undefined;
}

/**
 * How many leading history entries lie wholly below journal offset `offset` (their appends
 * ended by then). Entries acknowledged without an append of their own (the hand-off no-op a
 * Player appended before the world's Recorder existed) count as below.
 */
function entriesBelow(world: SimWorld, offset: number): number {
  const { history } = world.ledger;
  let n = 0;
  while (n < history.length) {
    const range = world.ranges.get(n);
    if (range === undefined ? history[n]!.ackedAt === undefined : range.end > offset) break;
    n++;
  }
  return n;
}

/**
 * The latest clock, among the last `scan` events, inside the window: the newest fragment's last
 * record is a data COMMIT whose ops were all acknowledged by then (so its bytes and record are
 * durable) and no later record confirms it yet. Undefined when the run never was in it there.
 */
export function unconfirmedWindowAt(
  world: SimWorld,
  scan = WINDOW_SCAN_EVENTS,
): number | undefined {
  const end = world.clock();
  const from = Math.max(0, end - scan);
  const events = world.fs.events;
  const disk = world.diskAt(from);
  let found: number | undefined;
  for (let c = from; c <= end; c++) {
    if (c > from) disk.apply(events[c - 1]!);
    const commit = unconfirmedLastCommit(imageFragments(disk.files(), SIM_JOURNAL_DIR));
    if (commit === undefined) continue;
    const carried = entriesBelow(world, commit.end);
    if (carried > entriesBelow(world, commit.begin) && world.ledger.ackedAt(c) >= carried) {
      found = c;
    }
  }
  return found;
}

/**
 * Flips bits in the final image, and in the image at the latest moment inside the documented
 * window when that is another one (see the module comment).
 */
export async function exploreBitFlips(world: SimWorld, options: BitFlipOptions): Promise<void> {
  const end = world.clock();
  await flipImage(world, end, options);
  const window = await options.stats.time('bitflip-window', async () => {
    const at = unconfirmedWindowAt(world);
    if (at !== undefined && at !== end) await flipImage(world, at, options);
    return at;
  });
  options.stats.note(window === undefined ? 'bitflip-window-missed' : 'bitflip-window-image');
}

/**
 * Flips one bit per frame region and per index record of the disk at clock `at` (every write
 * made then kept, as if synced), and checks each recovery against what was acknowledged by then.
 */
async function flipImage(world: SimWorld, at: number, options: BitFlipOptions): Promise<void> {
  const { stats } = options;
  const disk = world.diskAt(at).crash({ op: () => ({ kind: 'keep' }), keepDirChanges: () => true });
  const files = disk.files();
  const fragments = imageFragments(files, SIM_JOURNAL_DIR);
  if (fragments.length === 0) return;
  const data = imageContent(files, fragments);
  const expectation = world.ledger.expectationAt(at);
  const payloads = world.payloads();
  // The documented window: its commit's data and record were synced together, so damage there
  // reads as an unfinished write; recovery may lose that batch, never an op acknowledged before.
  const unconfirmed = unconfirmedLastCommit(fragments);
  const lostMayStart =
    unconfirmed === undefined ? undefined : entriesBelow(world, unconfirmed.begin);
  const flips: { where: string; region: string; path: string; at: number; inWindow: boolean }[] =
    [];
  for (const region of frameRegions(data)) {
    const offset = Math.floor((region.begin + region.end - 1) / 2);
    const place = locate(fragments, offset);
    if (place === undefined) continue;
    flips.push({
      where: `frame ${region.frame} ${region.region} @${offset}`,
      region: region.region,
      path: place.path,
      at: place.position,
      inWindow:
        unconfirmed !== undefined && offset >= unconfirmed.begin && offset < unconfirmed.end,
    });
  }
  for (const fragment of fragments) {
    fragment.records.forEach((record, i) => {
      flips.push({
        where: `index ${fragment.epoch} record ${i} (kind ${record.kind}) @${record.position}`,
        region: 'record',
        path: fragment.indexPath,
        // The middle of the record itself (an INLINE commit's data is flipped as frames above).
        at: record.position + Math.floor(headerLength(record) / 2),
        inWindow: record === unconfirmed,
      });
    });
  }
  const label = at === world.clock() ? '' : ` (image at event ${at}, inside the window)`;
  for (const flip of flips) {
    const original = files.get(flip.path)!;
    const flipped = withByte(disk, flip.path, flip.at, original[flip.at]! ^ (1 << (flip.at % 8)));
    const observation = await recoverReadOnly(flipped, expectation.hints);
    stats.recoveries++;
    const expect =
      flip.inWindow && lostMayStart !== undefined
        ? { ...expectation, acked: Math.min(expectation.acked, lostMayStart) }
        : expectation;
    if (flip.inWindow) stats.note('bitflip-unconfirmed-last-commit');
    const check = checkRecovery(
      expect,
      observation,
      { kind: 'media', acknowledged: expect.acked === expect.written, lastCommit: flip.inWindow },
      payloads,
    );
    // The documented silent loss, seen (it must stay confined to the window's batch).
    if (flip.inWindow && check.k !== undefined && check.k < expectation.acked) {
      stats.note('bitflip-unconfirmed-batch-lost');
    }
    stats.states++;
    stats.note(`bitflip-${flip.region}`);
    if (check.gap !== undefined) stats.gap(check.gap);
    if (check.violations.length > 0) {
      const what = `${flip.where}${flip.inWindow ? ` ${IN_WINDOW}` : ''}${label}`;
      const where = `${options.where} bit flip in ${what}`;
      stats.violation(where, check.violations);
      await options.onViolation?.({
        at,
        mode: `bitflip ${what}`,
        disk: flipped,
        violations: check.violations,
      });
    }
  }
}
