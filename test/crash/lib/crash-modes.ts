/**
 * Crash modes: named, serialisable recipes for what a power cut does to the unsynced state of a
 * DiskModel (see disk-model.ts), and the enumerations the exhaustive layer walks through.
 *
 * Pending operations are ordered by issue (`seq`). "last" is the most recently issued one: for a
 * journal that is the tail of the latest batch, where torn and garbage tails come from.
 */
import type { CrashFates, DiskModel, Ino, PendingOp, WriteFate } from './disk-model.js';

/** What happens to unsynced directory changes (creates, links, renames, unlinks). */
export type DirFate = 'keep' | 'lose';

export type CrashMode =
  /** Everything issued reached the disk (a process kill: the page cache survives). */
  | { readonly kind: 'keep-all' }
  /** Only synced state survives: every unsynced write and directory change is lost. */
  | { readonly kind: 'drop-all' }
  /** The first `keep` pending ops (issue order) reached the disk, the rest did not. */
  | { readonly kind: 'prefix'; readonly keep: number; readonly dirs: DirFate }
  /**
   * All pending ops but the last reached the disk; the last kept only `bytes` bytes (`grain`:
   * the boundary the tear is on: 4096, 512, or 1 for an arbitrary byte).
   */
  | {
      readonly kind: 'torn-last';
      readonly bytes: number;
      readonly grain: 1 | 512 | 4096;
      readonly dirs: DirFate;
    }
  /** All pending ops but the last reached the disk; the last's range holds garbage / zeros. */
  | { readonly kind: 'garbage-last'; readonly seed: number; readonly dirs: DirFate }
  | { readonly kind: 'zeros-last'; readonly dirs: DirFate }
  /** Pending ops persist as an arbitrary subset (ALICE reordering): op i kept iff bit i of mask. */
  | { readonly kind: 'subset'; readonly mask: number; readonly dirs: DirFate }
  /** Every pending op and directory gets a pseudo-random fate from `seed` (fast-check mode). */
  | { readonly kind: 'random'; readonly seed: number };

export function describeCrashMode(mode: CrashMode): string {
  switch (mode.kind) {
    case 'keep-all':
    case 'drop-all':
      return mode.kind;
    case 'prefix':
      return `prefix(${mode.keep}, dirs ${mode.dirs})`;
    case 'torn-last':
      return `torn-last(${mode.bytes} B, ${mode.grain === 1 ? 'byte' : `${mode.grain} B boundary`}, dirs ${mode.dirs})`;
    case 'garbage-last':
      return `garbage-last(seed ${mode.seed}, dirs ${mode.dirs})`;
    case 'zeros-last':
      return `zeros-last(dirs ${mode.dirs})`;
    case 'subset':
      return `subset(0b${mode.mask.toString(2)}, dirs ${mode.dirs})`;
    case 'random':
      return `random(seed ${mode.seed})`;
  }
}

/** Coverage class of a crash mode (for the counters every run prints). */
export function crashClass(mode: CrashMode): string {
  switch (mode.kind) {
    case 'prefix':
    case 'subset':
      return mode.kind === 'prefix' ? 'drop-tail' : 'reorder';
    case 'torn-last':
      return mode.grain === 1 ? 'torn-byte' : `torn-${mode.grain}`;
    case 'garbage-last':
      return 'garbage';
    case 'zeros-last':
      return 'zeros';
    default:
      return mode.kind;
  }
}

/** A small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEEP: WriteFate = { kind: 'keep' };
const DROP: WriteFate = { kind: 'drop' };

/** The fates `mode` assigns to the pending state of `disk`. */
export function fatesFor(mode: CrashMode, disk: DiskModel): CrashFates {
  const pending = disk.pendingOps();
  const rank = new Map<number, number>(pending.map((p, i) => [p.op.seq, i]));
  const last = pending.length - 1;
  const dirs = (fate: DirFate) => (): boolean => fate === 'keep';
  switch (mode.kind) {
    case 'keep-all':
      return { op: () => KEEP, keepDirChanges: () => true };
    case 'drop-all':
      return { op: () => DROP, keepDirChanges: () => false };
    case 'prefix':
      return {
        op: (_ino, _i, op) => ((rank.get(op.seq) ?? 0) < mode.keep ? KEEP : DROP),
        keepDirChanges: dirs(mode.dirs),
      };
    case 'subset':
      return {
        op: (_ino, _i, op) => (((mode.mask >>> (rank.get(op.seq) ?? 0)) & 1) === 1 ? KEEP : DROP),
        keepDirChanges: dirs(mode.dirs),
      };
    case 'torn-last':
    case 'garbage-last':
    case 'zeros-last': {
      const lastFate: WriteFate =
        mode.kind === 'torn-last'
          ? { kind: 'torn', keep: mode.bytes }
          : mode.kind === 'garbage-last'
            ? { kind: 'garbage', seed: mode.seed }
            : { kind: 'zeros' };
      return {
        op: (_ino, _i, op) => (rank.get(op.seq) === last ? lastFate : KEEP),
        keepDirChanges: dirs(mode.dirs),
      };
    }
    case 'random': {
      const next = prng(mode.seed);
      const opFates = new Map<number, WriteFate>();
      for (const { op } of pending) opFates.set(op.seq, randomFate(op, next));
      const dirFates = new Map<Ino, boolean>();
      for (const ino of disk.unsyncedDirs()) dirFates.set(ino, next() < 0.5);
      return {
        op: (_ino, _i, op) => opFates.get(op.seq) ?? KEEP,
        keepDirChanges: (ino) => dirFates.get(ino) ?? true,
      };
    }
  }
}

function randomFate(op: PendingOp, next: () => number): WriteFate {
  const r = next();
  if (r < 0.35) return KEEP;
  if (r < 0.7) return DROP;
  if (op.kind === 'truncate') return r < 0.85 ? KEEP : DROP;
  if (r < 0.85) {
    const granularity = [1, 512, 4096][Math.floor(next() * 3)]!;
    const cuts = tornCuts(op.offset, op.bytes.length, granularity);
    return { kind: 'torn', keep: cuts.length === 0 ? 0 : cuts[Math.floor(next() * cuts.length)]! };
  }
  if (r < 0.93) return { kind: 'garbage', seed: Math.floor(next() * 0xffffffff) };
  return { kind: 'zeros' };
}

/**
 * Byte counts at which a write of `length` bytes at `offset` can tear: every byte for
 * granularity 1, else where the file offset is a multiple of the granularity (sector, page).
 */
export function tornCuts(offset: number, length: number, granularity: number): number[] {
  const out: number[] = [];
  if (granularity <= 1) {
    for (let k = 1; k < length; k++) out.push(k);
    return out;
  }
  const first = Math.ceil((offset + 1) / granularity) * granularity - offset;
  for (let k = first; k < length; k += granularity) out.push(k);
  return out;
}

/**
 * The crash modes the exhaustive layer applies at one crash point: keep / drop everything,
 * keep each issue-order prefix, every other subset (reordering) when few writes are pending,
 * tear the last pending write (see tearPoints), garbage or zeros in its place; each with
 * unsynced directory changes kept and lost (when there are any).
 */
export function exhaustiveModes(disk: DiskModel, options: { everyByte: boolean }): CrashMode[] {
  const pending = disk.pendingOps();
  const dirChoices: DirFate[] = disk.unsyncedDirs().length > 0 ? ['keep', 'lose'] : ['keep'];
  if (pending.length === 0) {
    return dirChoices.map((dirs) =>
      dirs === 'keep' ? { kind: 'keep-all' } : { kind: 'drop-all' },
    );
  }
  const modes: CrashMode[] = [];
  for (const dirs of dirChoices) {
    for (let keep = 0; keep <= pending.length; keep++) modes.push({ kind: 'prefix', keep, dirs });
    if (pending.length > 1 && pending.length <= 4) {
      // Every subset that is not a prefix (prefixes are above): writes reaching the disk out of order.
      for (let mask = 0; mask < 1 << pending.length; mask++) {
        if ((mask & (mask + 1)) !== 0) modes.push({ kind: 'subset', mask, dirs });
      }
    }
    const last = pending[pending.length - 1]!.op;
    if (last.kind === 'write') {
      for (const { bytes, grain } of tearPoints(
        last.offset,
        last.bytes.length,
        options.everyByte,
      )) {
        modes.push({ kind: 'torn-last', bytes, grain, dirs });
      }
      modes.push({ kind: 'garbage-last', seed: 0x5eed + last.seq, dirs });
      modes.push({ kind: 'zeros-last', dirs });
    }
  }
  return modes;
}

/** Bytes at or below this length tear at every byte when `everyByte` is asked for. */
export const EVERY_BYTE_LIMIT = 640;

/**
 * Where a write tears: at 512 B and 4 KiB boundaries and at its first, middle and last byte;
 * with `everyByte`, at every byte too (for writes longer than EVERY_BYTE_LIMIT: every byte of
 * the first EVERY_BYTE_LIMIT - 64 and the last 64, where its frame header, op and payload
 * boundaries lie; payload bytes in between are all alike to a reader).
 */
export function tearPoints(
  offset: number,
  length: number,
  everyByte: boolean,
): { bytes: number; grain: 1 | 512 | 4096 }[] {
  const cuts = new Map<number, 1 | 512 | 4096>();
  const add = (bytes: number, grain: 1 | 512 | 4096): void => {
    if (bytes > 0 && bytes < length && !cuts.has(bytes)) cuts.set(bytes, grain);
  };
  for (const k of tornCuts(offset, length, 4096)) add(k, 4096);
  for (const k of tornCuts(offset, length, 512)) add(k, 512);
  for (const k of [1, Math.floor(length / 2), length - 1]) add(k, 1);
  if (everyByte) {
    const head = length <= EVERY_BYTE_LIMIT ? length : EVERY_BYTE_LIMIT - 64;
    for (let k = 1; k < head; k++) add(k, 1);
    if (length > EVERY_BYTE_LIMIT) for (let k = length - 64; k < length; k++) add(k, 1);
  }
  return [...cuts].sort(([a], [b]) => a - b).map(([bytes, grain]) => ({ bytes, grain }));
}
