/**
 * playback-throughput and playback-memory (one set of runs, two figures) and
 * hinted-playback-bytes.
 *
 * Throughput: a log of files written in 64 KiB writes, all live, replayed into a fresh
 * directory by a Player in a child process; baseline: a child that reads the same log bytes
 * from a plain file and writes every payload into a file per fnode (no decoding beyond frame
 * boundaries, no checksums, no FSM). Both children report their peak RSS; ours must stay
 * bounded however large the log.
 *
 * Hinted bytes: a log in which 90% of the written bytes belong to files deleted later. The
 * Player starts from the hints and should read little more than the live bytes.
 */
import { join } from 'node:path';
import type { PlaybackJob, PlaybackReport } from '../child/playback.js';
import { childScript, runChild } from '../lib/child.js';
import { playInto, writeHintsFile } from '../lib/library.js';
import { buildLog, exportJournal } from '../lib/logs.js';
import { measure, measurePaired } from '../lib/measure.js';
import type { BenchResult } from '../lib/report.js';
import {
  pairedRow,
  rateRatio,
  singleRow,
  type BenchContext,
  type Scenario,
} from '../lib/scenario.js';
import { KiB, MB, MiB, summarize } from '../lib/stats.js';

const CHILD = childScript(import.meta.url, '../child/playback');

export const playbackThroughput: Scenario = {
  name: 'playback-throughput',
  async run(ctx: BenchContext): Promise<BenchResult[]> {
    const dir = ctx.scratch.dir('playback');
    try {
      const fileBytes = Math.min(8 * MiB, ctx.sizes.playbackBytes / 4);
      const log = await buildLog(dir, {
        payloadBytes: ctx.sizes.playbackBytes,
        fileBytes,
        writeBytes: 64 * KiB,
        groupSize: 1,
      });
      const hintsPath = await writeHintsFile(join(dir, 'hints.json'), log.hints);
      const logPath = join(dir, 'log.bin');
      await exportJournal(log.journal, logPath);
      await log.journal.close();
      const journalDir = join(dir, 'journal');

      const rss = { ours: [] as number[], raw: [] as number[] };
      const play = async (mode: 'ours' | 'raw', run: number): Promise<number> => {
        const outDir = join(dir, `out-${mode}`);
        const job: PlaybackJob =
          mode === 'ours' ? { mode, journalDir, hintsPath, outDir } : { mode, logPath, outDir };
        const r = await runChild<PlaybackReport>(ctx.root, CHILD, job);
        ctx.scratch.discard(outDir);
        if (r.payloadBytes !== log.liveBytes) {
          throw new Error(`${mode} playback wrote ${r.payloadBytes} B, expected ${log.liveBytes}`);
        }
        if (run >= 0) rss[mode].push(r.maxRssBytes / MiB);
        return log.logBytes / MB / r.seconds;
      };
      // Each child is a fresh process: a warm-up run would only warm the page cache, which
      // building the log just did. The full run keeps one anyway.
      const plan = { warmup: ctx.quick ? 0 : ctx.plan.warmup, runs: ctx.plan.runs };
      const m = await measurePaired(
        plan,
        (run) => play('ours', run),
        (run) => play('raw', run),
        rateRatio,
      );
      const logMiB = Math.round(log.logBytes / MiB);
      const rssOurs = summarize(rss.ours);
      const rssRaw = summarize(rss.raw);
      return [
        pairedRow(
          {
            name: 'playback-throughput',
            label: `playback-throughput (${logMiB} MiB log)`,
            unit: 'MB/s',
            params: { logMiB, files: log.files, writeBytes: 64 * KiB },
            baselineLabel:
              'read the log file, write each payload to a file per fnode (no decode/verify)',
            targets: [{ on: 'ratio', op: '>=', threshold: 0.8 }],
          },
          m,
        ),
        singleRow(
          {
            name: 'playback-memory',
            label: `playback-memory (peak RSS, ${logMiB} MiB log)`,
            unit: 'MiB',
            params: { logMiB },
            baselineLabel: 'peak RSS of the raw playback child (same node + tsx start-up)',
            targets: [{ on: 'value', op: '<=', threshold: 200 }],
          },
          rssOurs,
          rssRaw.median,
          summarize(rss.ours.map((o, i) => o / rss.raw[i]!)),
        ),
      ];
    } finally {
      ctx.scratch.discard(dir);
    }
  },
};

export const hintedPlaybackBytes: Scenario = {
  name: 'hinted-playback-bytes',
  async run(ctx: BenchContext): Promise<BenchResult[]> {
    const dir = ctx.scratch.dir('hinted');
    try {
      const groupSize = 10;
      const groups = 4;
      const writeBytes = 64 * KiB;
      const fileBytes = Math.max(
        writeBytes,
        Math.floor(ctx.sizes.hintedBytes / (groupSize * groups) / writeBytes) * writeBytes,
      );
      const log = await buildLog(dir, {
        payloadBytes: fileBytes * groupSize * groups,
        fileBytes,
        writeBytes,
        groupSize,
      });
      const readBytes: number[] = [];
      const written: number[] = [];
      const seconds = await measure(
        { warmup: 0, runs: Math.min(3, ctx.plan.runs) },
        async (run) => {
          const out = join(dir, `out-${run}`);
          const t0 = performance.now();
          const r = await playInto(log.journal, log.hints, out);
          const s = (performance.now() - t0) / 1000;
          ctx.scratch.discard(out);
          // More than the live bytes is allowed (dead files inside hinted ranges are replayed and
          // dropped); less would be data loss.
          if (r.payloadBytesWritten < log.liveBytes) {
            throw new Error(`playback wrote ${r.payloadBytesWritten} B, live is ${log.liveBytes}`);
          }
          readBytes.push(r.bytesRead);
          written.push(r.payloadBytesWritten);
          return s;
        },
      );
      await log.journal.close();
      const read = summarize(readBytes);
      return [
        singleRow(
          {
            name: 'hinted-playback-bytes',
            label: 'hinted-playback-bytes (read / live)',
            unit: 'B read',
            params: {
              logMiB: Math.round(log.logBytes / MiB),
              liveMiB: Math.round((log.liveBytes / MiB) * 10) / 10,
              deadFraction: 0.9,
              payloadWrittenMiB: Math.round((summarize(written).median / MiB) * 10) / 10,
              playSeconds: Math.round(seconds.median * 1000) / 1000,
            },
            baselineLabel: 'live payload bytes (ratio = bytes the Player read / live bytes)',
            // Issue 11: at most 10% more than the live bytes, and never more than the whole log
            // (a summary counting read-ahead past what it used once reported 1.43x the log).
            targets: [
              { on: 'ratio', op: '<=', threshold: 1.1 },
              { on: 'max', op: '<=', threshold: log.logBytes },
            ],
          },
          read,
          log.liveBytes,
        ),
      ];
    } finally {
      ctx.scratch.discard(dir);
    }
  },
};
