/**
 * jetstream: the JetStreamJournal against the raw JetStream client on a local 3-node R3 cluster
 * (file storage, 127.0.0.1, its own ports and temporary directory, stopped by PID), once with
 * the server's default sync and once with `sync_interval: always`.
 *
 * - Appends: `concurrency` loops each awaiting `journal.append(payload)`, for 100 B and 64 KiB
 *   payloads at concurrency 1 and 64: ops/s and the p50/p99 latency of one append. Baseline: the
 *   raw client publishing the same payloads with the same headers and message ids, with the
 *   expected-sequence fencing from one publisher (at 64, concurrent publishes without it: they
 *   cannot share one expectation, which is what the journal's group commit solves).
 * - Playback (default sync only: reads do not depend on it): a Player rebuilding a recorded log
 *   from the journal, MB/s of log. Baseline: an ordered consumer fetching every message of the
 *   same stream (no decoding, checks or file writes).
 *
 * Skipped, with the reason printed, when nats-server (scripts/nats/install.sh) or the optional
 * client packages are not available. Run alone: `npm run bench -- --only jetstream`.
 */
import { join } from 'node:path';
import { JetStreamJournal } from '../../src/journal/jetstream.js';
import {
  RawPublisher,
  jetStreamSetup,
  percentile,
  rawConsume,
  recordIntoJetStream,
  startBenchCluster,
  timedLoops,
  type JetStreamSetup,
  type SyncSetting,
} from '../lib/jetstream.js';
import { playInto } from '../lib/library.js';
import type { BenchResult } from '../lib/report.js';
import { singleRow, type BenchContext, type Scenario } from '../lib/scenario.js';
import { KiB, MB, MiB, summarize } from '../lib/stats.js';

const PAYLOADS = [100, 64 * KiB] as const;
const LEVELS = [1, 64] as const;
const SYNCS: readonly SyncSetting[] = ['default', 'always'];

interface Cell {
  sync: SyncSetting;
  payloadBytes: number;
  concurrency: number;
}

interface Samples {
  rate: number[];
  latencies: number[];
}

async function appendCells(
  ctx: BenchContext,
  setup: JetStreamSetup,
  sync: SyncSetting,
  urls: string[],
): Promise<BenchResult[]> {
  const seconds = ctx.quick ? 0.5 : 2;
  const plan = { warmup: ctx.quick ? 0 : 1, runs: ctx.quick ? 2 : ctx.plan.runs };
  const rows: BenchResult[] = [];
  for (const payloadBytes of PAYLOADS) {
    for (const concurrency of LEVELS) {
      const cell: Cell = { sync, payloadBytes, concurrency };
      const tag = `${payloadBytes}-${concurrency}`;
      const journal = await JetStreamJournal.open(`bench/js-ours-${tag}`, { servers: urls });
      const raw = await RawPublisher.open(setup.modules, urls, `bench/js-raw-${tag}`);
      const payload = new Uint8Array(payloadBytes).fill(0x61);
      const ours: Samples = { rate: [], latencies: [] };
      const base: Samples = { rate: [], latencies: [] };
      const ratios: number[] = [];
      try {
        for (let run = -plan.warmup; run < plan.runs; run++) {
          const measureOurs = () =>
            timedLoops(concurrency, seconds, async () => {
              await journal.append(payload);
            });
          const measureRaw = () =>
            timedLoops(concurrency, seconds, () => raw.publish(payload, concurrency === 1));
          // Alternate who goes first (the second inherits the first one's server-side work).
          let o: Awaited<ReturnType<typeof measureOurs>>;
          let b: typeof o;
          if ((run & 1) === 0) {
            o = await measureOurs();
            b = await measureRaw();
          } else {
            b = await measureRaw();
            o = await measureOurs();
          }
          if (run < 0) continue;
          ours.rate.push(o.opsPerSecond);
          base.rate.push(b.opsPerSecond);
          ours.latencies.push(...o.latenciesMs);
          base.latencies.push(...b.latenciesMs);
          ratios.push(o.opsPerSecond / b.opsPerSecond);
        }
      } finally {
        await journal.close();
        await raw.close();
      }
      rows.push(...cellRows(cell, seconds, ours, base, ratios));
      ctx.log(
        `  sync=${sync} ${payloadBytes} B c=${concurrency}: ` +
          `${Math.round(summarize(ours.rate).median)} vs raw ${Math.round(summarize(base.rate).median)} ops/s`,
      );
    }
  }
  return rows;
}

function cellRows(
  cell: Cell,
  seconds: number,
  ours: Samples,
  base: Samples,
  ratios: number[],
): BenchResult[] {
  const params = {
    sync: cell.sync,
    payloadBytes: cell.payloadBytes,
    concurrency: cell.concurrency,
    secondsPerRun: seconds,
  };
  const what = `${cell.payloadBytes === 100 ? '100 B' : '64 KiB'}, c=${cell.concurrency}, sync ${cell.sync}`;
  const rawLabel =
    cell.concurrency === 1
      ? 'raw js.publish of the same payload, headers and msg id, fenced by expected sequence'
      : 'raw js.publish of the same payload, headers and msg id, concurrent (no fencing)';
  const rows = [
    singleRow(
      {
        name: 'jetstream-append',
        label: `jetstream-append (${what})`,
        unit: 'ops/s',
        params,
        baselineLabel: rawLabel,
      },
      summarize(ours.rate),
      summarize(base.rate).median,
      summarize(ratios),
    ),
  ];
  for (const p of [50, 99]) {
    const value = percentile(ours.latencies, p);
    const baseline = percentile(base.latencies, p);
    rows.push(
      singleRow(
        {
          name: 'jetstream-append-latency',
          label: `jetstream-append p${p} (${what})`,
          unit: 'ms',
          params: { ...params, percentile: p, samples: ours.latencies.length },
          baselineLabel: `${rawLabel}; ratio = ours / raw (lower is better)`,
        },
        { median: value, min: value, max: value, n: ours.latencies.length },
        baseline,
      ),
    );
  }
  return rows;
}

async function playbackRows(
  ctx: BenchContext,
  setup: JetStreamSetup,
  urls: string[],
  dir: string,
): Promise<BenchResult[]> {
  const totalBytes = Math.min(ctx.sizes.playbackBytes, 64 * MiB);
  const log = await recordIntoJetStream(urls, 'bench/js-playback', join(dir, 'data'), totalBytes);
  const plan = { warmup: ctx.quick ? 0 : 1, runs: ctx.quick ? 2 : ctx.plan.runs };
  const ours: number[] = [];
  const base: number[] = [];
  const ratios: number[] = [];
  for (let run = -plan.warmup; run < plan.runs; run++) {
    const play = async (): Promise<number> => {
      const out = join(dir, `out-${run}`);
      const journal = await JetStreamJournal.open('bench/js-playback', {
        servers: urls,
        create: false,
      });
      try {
        const t0 = performance.now();
        const played = await playInto(journal, log.hints, out);
        const s = (performance.now() - t0) / 1000;
        if (played.bytesRead < log.logBytes * 0.99) {
          throw new Error(`playback read ${played.bytesRead} B of a ${log.logBytes} B log`);
        }
        return log.logBytes / MB / s;
      } finally {
        await journal.close();
        ctx.scratch.discard(out);
      }
    };
    const consume = async (): Promise<number> => {
      const t0 = performance.now();
      const bytes = await rawConsume(setup.modules, urls, log.stream);
      return bytes / MB / ((performance.now() - t0) / 1000);
    };
    let o: number;
    let b: number;
    if ((run & 1) === 0) {
      o = await play();
      b = await consume();
    } else {
      b = await consume();
      o = await play();
    }
    if (run < 0) continue;
    ours.push(o);
    base.push(b);
    ratios.push(o / b);
  }
  const logMiB = Math.round(log.logBytes / MiB);
  return [
    singleRow(
      {
        name: 'jetstream-playback',
        label: `jetstream-playback (${logMiB} MiB log)`,
        unit: 'MB/s',
        params: { logMiB, sync: 'default', writeBytes: 64 * KiB },
        baselineLabel:
          'an ordered consumer fetching every message of the stream (no decode/verify/writes)',
      },
      summarize(ours),
      summarize(base).median,
      summarize(ratios),
    ),
  ];
}

export const jetStream: Scenario = {
  name: 'jetstream',
  async run(ctx: BenchContext): Promise<BenchResult[]> {
    const setup = await jetStreamSetup();
    if ('skipped' in setup) {
      ctx.log(`  jetstream: SKIPPED (${setup.skipped})`);
      return [];
    }
    const rows: BenchResult[] = [];
    for (const sync of SYNCS) {
      const dir = ctx.scratch.dir(`jetstream-${sync}`);
      const cluster = await startBenchCluster(join(dir, 'cluster'), sync, setup.binary);
      try {
        rows.push(...(await appendCells(ctx, setup, sync, cluster.urls)));
        if (sync === 'default') rows.push(...(await playbackRows(ctx, setup, cluster.urls, dir)));
      } finally {
        await cluster.stop();
        ctx.scratch.discard(dir);
      }
    }
    return rows;
  },
};
