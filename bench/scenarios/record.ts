/**
 * record-small-ops and record-large-writes: a stream of writes to one file recorded through a
 * Recorder into a FileJournal with ONE barrier at the end, against the physical limit: the very
 * bytes the Recorder produced, appended to a plain file with one write(2) per op and one
 * fdatasync. The ratio therefore isolates the library's own cost (encoding, checksums, FSM,
 * group commit), not the size of our framing.
 */
import { join } from 'node:path';
import { createJournal, openRecorder } from '../lib/library.js';
import { measurePaired, timed } from '../lib/measure.js';
import { readJournal, splitFrames, writeChunksDurably } from '../lib/raw.js';
import type { BenchResult } from '../lib/report.js';
import { pairedRow, rateRatio, type BenchContext, type Scenario } from '../lib/scenario.js';
import { KiB, MB } from '../lib/stats.js';

interface Recording {
  seconds: number;
  /** The journal's bytes (only when asked for: the baseline's input). */
  log?: Uint8Array;
}

/**
 * Records `count` writes of `payload` at consecutive offsets of one file; with `handOver` the
 * Recorder appends the buffer itself instead of a copy (it is never modified here).
 */
async function recordWrites(
  ctx: BenchContext,
  payload: Uint8Array,
  count: number,
  keepLog: boolean,
  handOver = false,
): Promise<Recording> {
  const dir = ctx.scratch.dir('record');
  try {
    const journal = await createJournal(join(dir, 'journal'));
    const recorder = await openRecorder(journal, join(dir, 'data'));
    const fnode = recorder.recordCreate(join(dir, 'data', 'file'));
    await recorder.barrier();
    const seconds = await timed(async () => {
      const options = handOver ? { handOver: true } : undefined;
      for (let i = 0; i < count; i++) {
        recorder.recordWriteAt(fnode, payload, i * payload.length, options);
      }
      await recorder.barrier();
    });
    const log = keepLog ? await readJournal(journal) : undefined;
    await journal.close();
    return { seconds, ...(log ? { log } : {}) };
  } finally {
    ctx.scratch.discard(dir);
  }
}

/** The frames a run writes, captured once from an untimed recording (which also warms up). */
async function framesOf(ctx: BenchContext, payload: Uint8Array, count: number) {
  const { log } = await recordWrites(ctx, payload, count, true);
  const frames = splitFrames(log!);
  // The create op and the Recorder's opening no-op are setup, not part of the timed writes.
  return frames.slice(frames.length - count);
}

async function rawAppend(ctx: BenchContext, frames: readonly Uint8Array[]): Promise<number> {
  const dir = ctx.scratch.dir('raw');
  try {
    return await timed(() => writeChunksDurably(join(dir, 'log'), frames));
  } finally {
    ctx.scratch.discard(dir);
  }
}

export const recordSmallOps: Scenario = {
  name: 'record-small-ops',
  async run(ctx): Promise<BenchResult[]> {
    const count = ctx.sizes.smallOps;
    const payload = new Uint8Array(100).fill(0x61);
    const frames = await framesOf(ctx, payload, count);
    const m = await measurePaired(
      ctx.plan,
      async () => count / (await recordWrites(ctx, payload, count, false)).seconds,
      async () => count / (await rawAppend(ctx, frames)),
      rateRatio,
    );
    const frameBytes = frames.reduce((a, f) => a + f.length, 0) / frames.length;
    return [
      pairedRow(
        {
          name: 'record-small-ops',
          label: 'record-small-ops (100 B writes)',
          unit: 'ops/s',
          params: { ops: count, payloadBytes: 100, frameBytes: Math.round(frameBytes) },
          baselineLabel: 'the same encoded frames, one write(2) each + one fdatasync',
          targets: [
            { on: 'value', op: '>=', threshold: 500_000 },
            { on: 'ratio', op: '>=', threshold: 0.5 },
          ],
        },
        m,
      ),
    ];
  },
};

export const recordLargeWrites: Scenario = {
  name: 'record-large-writes',
  async run(ctx): Promise<BenchResult[]> {
    const size = 64 * KiB;
    const count = Math.max(1, Math.round(ctx.sizes.largeBytes / size));
    const payload = new Uint8Array(size);
    for (let i = 0; i < size; i++) payload[i] = (i * 31) & 0xff;
    const frames = await framesOf(ctx, payload, count);
    const mb = (count * size) / MB;
    const rows: BenchResult[] = [];
    // Copied (the default), and handed over (issue 11: no payload copy, its CRC computed once).
    for (const handOver of [false, true]) {
      const m = await measurePaired(
        ctx.plan,
        async () => mb / (await recordWrites(ctx, payload, count, false, handOver)).seconds,
        async () => mb / (await rawAppend(ctx, frames)),
        rateRatio,
      );
      rows.push(
        pairedRow(
          {
            name: 'record-large-writes',
            label: `record-large-writes (64 KiB writes${handOver ? ', handed over' : ''})`,
            unit: 'MB/s',
            params: {
              writes: count,
              writeBytes: size,
              totalMiB: (count * size) / 1024 / 1024,
              handOver,
            },
            baselineLabel: 'the same frames + payloads, one write(2) each + one fdatasync',
            targets: [{ on: 'ratio', op: '>=', threshold: 0.9 }],
          },
          m,
        ),
      );
    }
    return rows;
  },
};
