/**
 * Peers: what a user would pick instead, on the same payloads with the same durability, measured
 * side by side with our FileJournal. Ratio = our rate / the peer's rate (above 1: we are faster).
 *
 * - peer-hypercore: the npm append-only log (hypercore@10). It never fsyncs by itself, so after
 *   its own flush the bench fdatasyncs every file of its storage: without that its figures would
 *   not be durable and the comparison would be unfair to us.
 * - peer-classic-level: LevelDB puts; `sync: true` on every put for per-op durability, or plain
 *   puts closed by one synced put (its WAL sync covers every earlier put) for the batch case.
 *
 * The peers are devDependencies used only here.
 */
import { closeSync, fdatasyncSync, fsyncSync, openSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import Hypercore from 'hypercore';
import { createJournal, type Journal } from '../lib/library.js';
import { measurePaired, timed } from '../lib/measure.js';
import type { BenchResult } from '../lib/report.js';
import { pairedRow, rateRatio, type BenchContext, type Scenario } from '../lib/scenario.js';
import { KiB, MB } from '../lib/stats.js';

function payloads(count: number, size: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => {
    const b = new Uint8Array(size).fill(0x70 + (i % 16));
    new DataView(b.buffer).setUint32(0, i);
    return b;
  });
}

/** Appends every block without waiting, then waits for all: group commit does the rest. */
async function journalAppendAll(ctx: BenchContext, blocks: readonly Uint8Array[]): Promise<number> {
  return withJournal(ctx, async (journal) =>
    timed(async () => {
      await Promise.all(blocks.map((b) => journal.append(b)));
    }),
  );
}

/** `concurrency` writers, each appending and awaiting one block at a time. */
async function journalSynced(
  ctx: BenchContext,
  blocks: readonly Uint8Array[],
  concurrency: number,
): Promise<number> {
  return withJournal(ctx, (journal) =>
    timed(() => inWorkers(blocks, concurrency, async (b) => void (await journal.append(b)))),
  );
}

async function withJournal<T>(ctx: BenchContext, fn: (j: Journal) => Promise<T>): Promise<T> {
  const dir = ctx.scratch.dir('peer-ours');
  try {
    const journal = await createJournal(dir);
    try {
      return await fn(journal);
    } finally {
      await journal.close();
    }
  } finally {
    ctx.scratch.discard(dir);
  }
}

async function inWorkers<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

/** fdatasync every file under `dir` and fsync the directories (hypercore never does). */
function syncTree(dir: string): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) syncTree(p);
    else {
      const fd = openSync(p, 'r+');
      fdatasyncSync(fd);
      closeSync(fd);
    }
  }
  const d = openSync(dir, 'r');
  fsyncSync(d);
  closeSync(d);
}

async function hypercoreAppendAll(
  ctx: BenchContext,
  blocks: readonly Uint8Array[],
): Promise<number> {
  const dir = ctx.scratch.dir('peer-hypercore');
  try {
    const core = new Hypercore(dir);
    await core.ready();
    const seconds = await timed(async () => {
      await Promise.all(blocks.map((b) => core.append(b)));
      await core.core?.flush();
      syncTree(dir);
    });
    if (core.length !== blocks.length) {
      throw new Error(`hypercore holds ${core.length} blocks, expected ${blocks.length}`);
    }
    await core.close();
    return seconds;
  } finally {
    ctx.scratch.discard(dir);
  }
}

async function withLevel<T>(
  ctx: BenchContext,
  fn: (db: ClassicLevel<Uint8Array, Uint8Array>) => Promise<T>,
): Promise<T> {
  const dir = ctx.scratch.dir('peer-level');
  try {
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, {
      keyEncoding: 'view',
      valueEncoding: 'view',
    });
    await db.open();
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  } finally {
    ctx.scratch.discard(dir);
  }
}

/** LevelDB keys: 16 bytes, so key + value = the 116 bytes our journal appends per op. */
function keyOf(i: number): Uint8Array {
  const k = new Uint8Array(16);
  new DataView(k.buffer).setUint32(12, i);
  return k;
}

export const peerHypercore: Scenario = {
  name: 'peer-hypercore',
  async run(ctx): Promise<BenchResult[]> {
    const small = payloads(ctx.sizes.peerSmallOps, 100);
    const largeCount = Math.max(1, Math.round(ctx.sizes.peerLargeBytes / (64 * KiB)));
    const large = payloads(largeCount, 64 * KiB);
    const label =
      'hypercore@10: append each block, its flush, then fdatasync of its files (same durability)';
    const smallM = await measurePaired(
      ctx.plan,
      async () => small.length / (await journalAppendAll(ctx, small)),
      async () => small.length / (await hypercoreAppendAll(ctx, small)),
      rateRatio,
    );
    const mb = (largeCount * 64 * KiB) / MB;
    const largeM = await measurePaired(
      ctx.plan,
      async () => mb / (await journalAppendAll(ctx, large)),
      async () => mb / (await hypercoreAppendAll(ctx, large)),
      rateRatio,
    );
    return [
      pairedRow(
        {
          name: 'peer-hypercore',
          label: 'peer-hypercore (100 B blocks, one sync)',
          unit: 'ops/s',
          params: { ours: 'FileJournal', blockBytes: 100, blocks: small.length, sync: 'once' },
          baselineLabel: label,
        },
        smallM,
      ),
      pairedRow(
        {
          name: 'peer-hypercore',
          label: 'peer-hypercore (64 KiB blocks, one sync)',
          unit: 'MB/s',
          params: { ours: 'FileJournal', blockBytes: 64 * KiB, blocks: largeCount, sync: 'once' },
          baselineLabel: label,
        },
        largeM,
      ),
    ];
  },
};

export const peerClassicLevel: Scenario = {
  name: 'peer-classic-level',
  async run(ctx): Promise<BenchResult[]> {
    const rows: BenchResult[] = [];
    const values = payloads(ctx.sizes.peerSmallOps, 100);
    const records = values.map((v, i) => {
      const r = new Uint8Array(116);
      r.set(keyOf(i), 0);
      r.set(v, 16);
      return r;
    });
    // Batch: every put, one sync at the end.
    const batch = await measurePaired(
      ctx.plan,
      async () => records.length / (await journalAppendAll(ctx, records)),
      async () =>
        records.length /
        (await withLevel(ctx, (db) =>
          timed(async () => {
            await Promise.all(values.slice(0, -1).map((v, i) => db.put(keyOf(i), v)));
            await db.put(keyOf(values.length - 1), values[values.length - 1]!, { sync: true });
          }),
        )),
      rateRatio,
    );
    rows.push(
      pairedRow(
        {
          name: 'peer-classic-level',
          label: 'peer-classic-level (puts, one sync)',
          unit: 'ops/s',
          params: { ours: 'FileJournal', recordBytes: 116, ops: records.length, sync: 'once' },
          baselineLabel: 'classic-level puts, the last with sync:true (its WAL sync covers all)',
        },
        batch,
      ),
    );
    // Every op durable before the writer goes on.
    for (const concurrency of [1, 16]) {
      const n = Math.min(records.length, ctx.sizes.peerSyncedOps * concurrency);
      const m = await measurePaired(
        ctx.plan,
        async () => n / (await journalSynced(ctx, records.slice(0, n), concurrency)),
        async () =>
          n /
          (await withLevel(ctx, (db) =>
            timed(() =>
              inWorkers(
                values.slice(0, n).map((v, i) => [keyOf(i), v] as const),
                concurrency,
                ([k, v]) => db.put(k, v, { sync: true }),
              ),
            ),
          )),
        rateRatio,
      );
      rows.push(
        pairedRow(
          {
            name: 'peer-classic-level',
            label: `peer-classic-level (sync each, ${concurrency} writer${concurrency === 1 ? '' : 's'})`,
            unit: 'ops/s',
            params: { ours: 'FileJournal', recordBytes: 116, ops: n, sync: 'each', concurrency },
            baselineLabel: 'classic-level put with sync:true, awaited, per writer',
            // Issue 11: one writer waiting for every op must be at least as fast as LevelDB.
            ...(concurrency === 1
              ? { targets: [{ on: 'ratio', op: '>=', threshold: 1.0 }] as const }
              : {}),
          },
          m,
        ),
      );
    }
    return rows;
  },
};
