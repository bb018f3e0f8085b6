/**
 * The benchmark harness: `npm run bench` (full, a few minutes) or `npm run bench -- --quick`
 * (under 90 s). Measures the machine's physical limits, then every scenario against its baseline
 * in the same run; prints a table and writes bench/results/latest.json and latest.svg.
 *
 * Options: --quick, --only a,b (scenario names), --runs N, --warmup N, --out DIR, --list.
 */
import { renameSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measurePhysicalLimits, describeMachine } from './lib/env.js';
import { closeAllJournals } from './lib/library.js';
import {
  formatNumber,
  formatTable,
  type BenchReport,
  type BenchResult,
  type ScenarioFailure,
} from './lib/report.js';
import { FULL, QUICK, type BenchContext, type Scenario } from './lib/scenario.js';
import { MiB } from './lib/stats.js';
import { renderSvg } from './lib/svg.js';
import { ScratchSpace } from './lib/tmp.js';
import { jetStream } from './scenarios/jetstream.js';
import { hintedPlaybackBytes, playbackThroughput } from './scenarios/playback.js';
import { peerClassicLevel, peerHypercore } from './scenarios/peers.js';
import { recordLargeWrites, recordSmallOps } from './scenarios/record.js';
import { recordedFsOverhead } from './scenarios/recordedfs-overhead.js';
import { scaling } from './scenarios/scaling.js';
import { syncedOpsConcurrency } from './scenarios/synced-ops.js';

export const SCENARIOS: readonly Scenario[] = [
  recordSmallOps,
  recordLargeWrites,
  syncedOpsConcurrency,
  recordedFsOverhead,
  playbackThroughput,
  hintedPlaybackBytes,
  scaling,
  peerHypercore,
  peerClassicLevel,
  jetStream,
];

interface Options {
  quick: boolean;
  only: string[] | undefined;
  runs: number | undefined;
  warmup: number | undefined;
  out: string;
  list: boolean;
}

class UsageError extends Error {}

function parseArgs(argv: readonly string[], root: string): Options {
  const o: Options = {
    quick: false,
    only: undefined,
    runs: undefined,
    warmup: undefined,
    out: join(root, 'bench', 'results'),
    list: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    const count = (): number => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 0) throw new UsageError(`${a} needs a whole number`);
      return n;
    };
    const flag = a.split('=')[0];
    if (flag === '--quick') o.quick = true;
    else if (flag === '--only') o.only = value().split(',').filter(Boolean);
    else if (flag === '--runs') o.runs = count();
    else if (flag === '--warmup') o.warmup = count();
    else if (flag === '--out') o.out = resolve(value());
    else if (flag === '--list') o.list = true;
    else throw new UsageError(`unknown option ${a}`);
  }
  if (o.runs === 0) throw new UsageError('--runs must be at least 1');
  const known = new Set(SCENARIOS.map((s) => s.name));
  for (const name of o.only ?? []) {
    if (!known.has(name)) {
      throw new UsageError(`unknown scenario ${name}; known: ${[...known].join(', ')}`);
    }
  }
  return o;
}

function writeAtomically(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

async function main(): Promise<number> {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  let options: Options;
  try {
    options = parseArgs(process.argv.slice(2), root);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (options.list) {
    for (const s of SCENARIOS) process.stdout.write(`${s.name}\n`);
    return 0;
  }

  const started = new Date();
  const t0 = performance.now();
  const log = (m: string): void => {
    const at = ((performance.now() - t0) / 1000).toFixed(1).padStart(6);
    process.stderr.write(`[bench ${at}s] ${m}\n`);
  };
  const scratch = new ScratchSpace();
  const sizes = options.quick ? QUICK : FULL;
  const plan = {
    warmup: options.warmup ?? 1,
    runs: options.runs ?? (options.quick ? 3 : 5),
  };

  log(`physical limits in ${scratch.root}`);
  const physical = measurePhysicalLimits(scratch.dir('physical'), {
    syncs: options.quick ? 200 : 1000,
    seqBytes: (options.quick ? 64 : 256) * MiB,
    runs: options.quick ? 2 : 3,
  });
  log(
    `fdatasync ${formatNumber(physical.fdatasyncLatencyMs)} ms, write ${formatNumber(physical.seqWriteMBps)} MB/s, read ${formatNumber(physical.seqReadMBps)} MB/s`,
  );

  const ctx: BenchContext = {
    quick: options.quick,
    sizes,
    plan,
    scratch,
    physical,
    root,
    log,
  };
  const results: BenchResult[] = [];
  const failures: ScenarioFailure[] = [];
  const scenarioSeconds: Record<string, number> = {};
  const selected = SCENARIOS.filter((s) => !options.only || options.only.includes(s.name));
  for (const scenario of selected) {
    log(`${scenario.name} ...`);
    const s0 = performance.now();
    try {
      const rows = await scenario.run(ctx);
      results.push(...rows);
      for (const r of rows) {
        log(
          `  ${r.name} ${formatNumber(r.value)} ${r.unit}` +
            (r.ratio === null ? '' : `, ratio ${formatNumber(r.ratio)}`) +
            (r.met === undefined ? '' : r.met ? ' (target met)' : ' (TARGET MISSED)'),
        );
      }
    } catch (err) {
      const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
      failures.push({ scenario: scenario.name, message });
      log(`  FAILED: ${message}`);
    }
    // Normally each scenario closes its journals; after a failure this releases the rest.
    await closeAllJournals();
    const seconds = (performance.now() - s0) / 1000;
    scenarioSeconds[scenario.name] = Math.round(seconds * 10) / 10;
    log(`  ${seconds.toFixed(1)} s`);
  }
  scratch.remove();

  const args = process.argv.slice(2);
  const report: BenchReport = {
    env: {
      ...describeMachine(),
      physical,
      quick: options.quick,
      startedAt: started.toISOString(),
      durationSeconds: Math.round(performance.now() - t0) / 1000,
      command: `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`,
    },
    results,
    failures,
    scenarioSeconds,
  };
  writeAtomically(join(options.out, 'latest.json'), JSON.stringify(report, null, 2) + '\n');
  writeAtomically(join(options.out, 'latest.svg'), renderSvg(report));

  const p = report.env.physical;
  process.stdout.write(
    `\nrecoverylog bench${options.quick ? ' --quick' : ''}: node ${report.env.node}, ${report.env.cpus} x ${report.env.cpu}, ${report.env.disk.fsType} (${report.env.disk.device})\n` +
      `physical limits: fdatasync ${formatNumber(p.fdatasyncLatencyMs)} ms, sequential write ${formatNumber(p.seqWriteMBps)} MB/s (with fdatasync), sequential read ${formatNumber(p.seqReadMBps)} MB/s\n\n` +
      formatTable(results) +
      '\n\n' +
      `seconds per scenario: ${Object.entries(scenarioSeconds)
        .map(([n, t]) => `${n} ${t}`)
        .join(', ')}\n` +
      `${report.env.durationSeconds.toFixed(1)} s; wrote ${join(options.out, 'latest.json')} and latest.svg\n`,
  );
  if (failures.length > 0) {
    process.stdout.write(`FAILED scenarios: ${failures.map((f) => f.scenario).join(', ')}\n`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
