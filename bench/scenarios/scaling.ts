/**
 * scaling: recording and playback at three log sizes. Cost per byte (ns/B) should not grow with
 * the log: nothing in the library may be worse than linear in the log's size. Rows per size
 * compare with the smallest size (ratio = cost here / cost at the smallest size, ~1 when flat);
 * one row per phase reports the least-squares slope of cost per byte against size.
 *
 * Each record row also carries `rawNsPerB`: the cost of writing as many bytes with plain
 * write(2) + fdatasync at that size, in the same run. When our cost grows with size and that
 * grows too, the disk (e.g. dirty-page writeback throttling) and not the library is the cause.
 */
import { join } from 'node:path';
import { writeChunksDurably } from '../lib/raw.js';
import { timed } from '../lib/measure.js';
import { playInto } from '../lib/library.js';
import { buildLog } from '../lib/logs.js';
import type { BenchResult } from '../lib/report.js';
import { singleRow, type BenchContext, type Scenario } from '../lib/scenario.js';
import { KiB, MiB, slope, summarize } from '../lib/stats.js';

type Phase = 'record' | 'playback';

export const scaling: Scenario = {
  name: 'scaling',
  async run(ctx: BenchContext): Promise<BenchResult[]> {
    const sizes = ctx.sizes.scalingBytes;
    const cost: Record<Phase, number[][]> = {
      record: sizes.map(() => []),
      playback: sizes.map(() => []),
    };
    const raw: number[][] = sizes.map(() => []);
    const chunk = new Uint8Array(64 * KiB).fill(0x5c);
    // Each run records and replays every size: three runs are plenty for a slope.
    const runs = Math.min(ctx.plan.runs, 3);
    for (let run = -1; run < runs; run++) {
      // Sizes in alternating order per run, so drift does not masquerade as a slope.
      const order = sizes.map((_, i) => i);
      if ((run & 1) !== 0) order.reverse();
      for (const i of order) {
        const bytes = sizes[i]!;
        const dir = ctx.scratch.dir('scaling');
        try {
          const log = await buildLog(dir, {
            payloadBytes: bytes,
            fileBytes: Math.min(8 * MiB, bytes / 4),
            writeBytes: 64 * KiB,
            groupSize: 1,
          });
          const t0 = performance.now();
          await playInto(log.journal, log.hints, join(dir, 'out'));
          const playSeconds = (performance.now() - t0) / 1000;
          await log.journal.close();
          if (run < 0) continue; // warm-up
          cost.record[i]!.push((log.recordSeconds * 1e9) / log.logBytes);
          cost.playback[i]!.push((playSeconds * 1e9) / log.logBytes);
          const chunks = Array.from(
            { length: Math.ceil(log.logBytes / chunk.length) },
            () => chunk,
          );
          const rawSeconds = await timed(() => writeChunksDurably(join(dir, 'raw'), chunks));
          raw[i]!.push((rawSeconds * 1e9) / (chunks.length * chunk.length));
        } finally {
          ctx.scratch.discard(dir);
        }
      }
    }
    const mibs = sizes.map((b) => b / MiB);
    const rows: BenchResult[] = [];
    for (const phase of ['record', 'playback'] as const) {
      const summaries = cost[phase].map((samples) => summarize(samples));
      const base = summaries[0]!.median;
      summaries.forEach((s, i) => {
        rows.push(
          singleRow(
            {
              name: 'scaling',
              label: `scaling ${phase} ns/B, ${mibs[i]} vs ${mibs[0]} MiB`,
              unit: 'ns/B',
              params:
                phase === 'record'
                  ? {
                      phase,
                      logMiB: mibs[i]!,
                      rawNsPerB: Math.round(summarize(raw[i]!).median * 100) / 100,
                    }
                  : { phase, logMiB: mibs[i]! },
              baselineLabel: `ns/B at the smallest size (${mibs[0]} MiB)`,
              ...(i === summaries.length - 1
                ? { targets: [{ on: 'ratio', op: '<=', threshold: 1.25 }] as const }
                : {}),
            },
            s,
            base,
            summarize(cost[phase][i]!.map((c, run) => c / cost[phase][0]![run]!)),
          ),
        );
      });
      const perRunSlopes = Array.from({ length: runs }, (_, run) =>
        slope(
          mibs,
          cost[phase].map((samples) => samples[run]!),
        ),
      );
      const fit = summarize(perRunSlopes);
      // Relative drift over the whole range the fit predicts: slope * span / cost at smallest.
      const span = mibs[mibs.length - 1]! - mibs[0]!;
      rows.push(
        singleRow(
          {
            name: 'scaling',
            label: `scaling ${phase} slope`,
            unit: 'ns/B per MiB',
            params: { phase, stat: 'slope', logMiB: mibs },
            baselineLabel: 'ns/B at the smallest size (ratio = fitted drift across the range)',
          },
          fit,
          base,
          summarize(perRunSlopes.map((s, run) => (s * span) / cost[phase][0]![run]!)),
        ),
      );
    }
    return rows;
  },
};
