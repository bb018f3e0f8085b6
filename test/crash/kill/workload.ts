/**
 * The random workload a recording child runs: ops chosen from the current TreeModel so each is
 * valid (and so each is exactly one append), performed through RecordedFs on the real directory.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { RecordedFs } from '../../../src/recorded-fs.js';
import {
  PROPERTY_PATHS,
  payloadBytes,
  type KillOp,
  type Payload,
  type TreeModel,
} from './model.js';

/** A small name space: collisions (rename over, link, re-create) happen often. */
const NAMES = ['/a', '/b', '/c', '/d', '/e', '/s/f', '/s/g', '/s/t/h', '/s/t/i', '/u/j'];
/** Files beyond this size are only truncated or removed, so journals stay small. */
const MAX_FILE = 48 * 1024;

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

/** Mostly small writes; a few larger ones make frames with sizable payloads behind them. */
function payload(random: () => number): Payload {
  const r = random();
  const length =
    r < 0.75
      ? 1 + Math.floor(random() * 200)
      : r < 0.98
        ? 201 + Math.floor(random() * 4000)
        : 4201 + Math.floor(random() * 28_000);
  return { seed: Math.floor(random() * 0xffffffff), length };
}

/** The next op for `model`; always one RecordedFs records as a single append. */
export function nextOp(model: TreeModel, random: () => number): KillOp {
  const existing = model.paths;
  const free = NAMES.filter((n) => !model.has(n));
  for (;;) {
    const r = random();
    if (existing.length === 0 || (r < 0.1 && free.length > 0)) {
      const path = pick(random, free.length > 0 ? free : NAMES);
      if (model.has(path) && model.linkCount(path) > 1) continue;
      return { kind: 'create', path };
    }
    const path = pick(random, existing);
    const big = model.size(path) > MAX_FILE;
    if (r < 0.45) {
      if (big) continue;
      const size = model.size(path);
      const offset =
        random() < 0.8 ? Math.floor(random() * (size + 1)) : size + 1 + Math.floor(random() * 4096);
      return { kind: 'write', path, offset, data: payload(random) };
    }
    if (r < 0.6) {
      if (big) continue;
      return { kind: 'append', path, data: payload(random) };
    }
    if (r < 0.68) {
      if (model.linkCount(path) > 1) continue;
      return { kind: 'create', path };
    }
    if (r < 0.78) {
      if (free.length === 0) continue;
      return { kind: 'link', from: path, to: pick(random, free) };
    }
    if (r < 0.9) {
      const property = PROPERTY_PATHS.find((p) => !model.isProperty(p));
      // A file with other hard links cannot become a property (RecordedFs refuses: the other
      // links could change it after its content is recorded).
      if (property !== undefined && random() < 0.04 && model.linkCount(path) === 1)
        return { kind: 'rename', from: path, to: property };
      const to = pick(random, NAMES);
      if (to === path || model.sameFile(path, to)) continue;
      return { kind: 'rename', from: path, to };
    }
    return { kind: 'unlink', path };
  }
}

/**
 * Performs `op` under `root` through `rfs` (one recorded append). Parent directories are made on
 * the base file system, unrecorded: RecordedFs records a mkdir as an append of its own, and this
 * layer's ledger has one state per workload step, compared by files (a recovered tree holding a
 * step's mkdir but not its create would read as the previous state one op further on). The
 * Player makes a recorded file's parents anyway; recorded directory ops are covered by the unit
 * and differential tests.
 */
export async function perform(rfs: RecordedFs, root: string, op: KillOp): Promise<void> {
  const abs = (p: string): string => root + p;
  const parentOf = (p: string): Promise<unknown> => mkdir(dirname(abs(p)), { recursive: true });
  switch (op.kind) {
    case 'create': {
      await parentOf(op.path);
      const h = await rfs.open(abs(op.path), 'w');
      await h.close();
      return;
    }
    case 'write':
    case 'append': {
      const h = await rfs.open(abs(op.path), op.kind === 'write' ? 'r+' : 'a');
      try {
        const bytes = payloadBytes(op.data);
        const { bytesWritten } =
          op.kind === 'write'
            ? await h.write(bytes, 0, bytes.length, op.offset)
            : await h.write(bytes, 0, bytes.length, null);
        if (bytesWritten !== bytes.length) {
          throw new Error(`short write to ${op.path}: ${bytesWritten} of ${bytes.length} bytes`);
        }
      } finally {
        await h.close();
      }
      return;
    }
    case 'link':
      await parentOf(op.to);
      await rfs.link(abs(op.from), abs(op.to));
      return;
    case 'rename':
      await parentOf(op.to);
      await rfs.rename(abs(op.from), abs(op.to));
      return;
    case 'unlink':
      await rfs.unlink(abs(op.path));
      return;
  }
}
