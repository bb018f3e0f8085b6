/**
 * synced-ops-concurrency: writers that each wait for durability after every op (a database
 * committing transactions). One writer is bounded by the disk's flush latency; many writers
 * should share flushes (group commit), so ops/s should grow nearly with concurrency.
 *
 * Rows: at concurrency 1 the baseline is the physical limit (write(2) + fdatasync in a loop);
 * at 16 and 256 the baseline is OUR concurrency-1 figure from the same repetition, so the ratio
 * is the group-commit speed-up.
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createJournal, openRecorder } from '../lib/library.js';
import type { RunPlan } from '../lib/measure.js';
import type { BenchResult } from '../lib/report.js';
import { singleRow, type BenchContext, type Scenario } from '../lib/scenario.js';
import { summarize } from '../lib/stats.js';

const LEVELS = [1, 16, 256] as const;

/** ops/s of `concurrency` writers, each: record a 100-byte write, await a barrier; for `seconds`. */
async function syncedRecording(
  ctx: BenchContext,
  concurrency: number,
  seconds: number,
): Promise<number> {
  const dir = ctx.scratch.dir('synced');
  try {
    const journal = await createJournal(join(dir, 'journal'));
    const recorder = await openRecorder(journal, join(dir, 'data'));
    const payload = new Uint8Array(100).fill(0x62);
    const fnodes = Array.from({ length: concurrency }, (_, i) =>
      recorder.recordCreate(join(dir, 'data', `f${i}`)),
    );
    await recorder.barrier();
    let ops = 0;
    const t0 = performance.now();
    const deadline = t0 + seconds * 1000;
    await Promise.all(
      fnodes.map(async (fnode) => {
        for (let offset = 0; performance.now() < deadline; offset += payload.length) {
          recorder.recordWriteAt(fnode, payload, offset);
          await recorder.barrier();
          ops++;
        }
      }),
    );
    const elapsed = (performance.now() - t0) / 1000;
    await journal.close();
    return ops / elapsed;
  } finally {
    ctx.scratch.discard(dir);
  }
}

/** The physical limit of one writer: write(2) of a 100-byte op + fdatasync, in a loop. */
function syncedRaw(ctx: BenchContext, seconds: number): number {
  const dir = ctx.scratch.dir('synced-raw');
  const fd = openSync(join(dir, 'log'), 'w');
  try {
    const frame = new Uint8Array(140).fill(0x63);
    let ops = 0;
    const t0 = performance.now();
    const deadline = t0 + seconds * 1000;
    while (performance.now() < deadline) {
      writeSync(fd, frame);
      fdatasyncSync(fd);
      ops++;
    }
    return ops / ((performance.now() - t0) / 1000);
  } finally {
    closeSync(fd);
    ctx.scratch.discard(dir);
  }
}

export const syncedOpsConcurrency: Scenario = {
  name: 'synced-ops-concurrency',
  async run(ctx): Promise<BenchResult[]> {
    const plan: RunPlan = ctx.plan;
    const seconds = ctx.sizes.syncedSeconds;
    const ours = new Map<number, number[]>(LEVELS.map((c) => [c, []]));
    const raw: number[] = [];
    const speedups = new Map<number, number[]>(LEVELS.map((c) => [c, []]));
    for (let i = -plan.warmup; i < plan.runs; i++) {
      const run = new Map<number, number>();
      // Alternate the order of levels between repetitions (drift hits all of them alike).
      const order = (i & 1) === 0 ? [...LEVELS] : [...LEVELS].reverse();
      for (const c of order) run.set(c, await syncedRecording(ctx, c, seconds));
      const r = syncedRaw(ctx, seconds);
      if (i < 0) continue;
      raw.push(r);
      for (const c of LEVELS) {
        ours.get(c)!.push(run.get(c)!);
        speedups.get(c)!.push(c === 1 ? run.get(1)! / r : run.get(c)! / run.get(1)!);
      }
    }
    return LEVELS.map((c) => {
      const value = summarize(ours.get(c)!);
      const ratio = summarize(speedups.get(c)!);
      const baseline = c === 1 ? summarize(raw).median : summarize(ours.get(1)!).median;
      return singleRow(
        {
          name: 'synced-ops-concurrency',
          label: `synced-ops-concurrency (${c} writer${c === 1 ? '' : 's'})`,
          unit: 'ops/s',
          params: { concurrency: c, payloadBytes: 100, secondsPerRun: seconds },
          baselineLabel:
            c === 1
              ? 'one writer doing write(2) + fdatasync per op (the disk flush limit)'
              : 'our ops/s at concurrency 1 in the same repetition (ratio = group-commit speed-up)',
          // Issue 11: one writer at 0.8 of the flush limit; 256 writers share flushes (>= 20x).
          ...(c === 1 ? { targets: [{ on: 'ratio', op: '>=', threshold: 0.8 }] as const } : {}),
          ...(c === 256 ? { targets: [{ on: 'ratio', op: '>=', threshold: 20 }] as const } : {}),
        },
        value,
        baseline,
        ratio,
      );
    });
  },
};
