/**
 * Runs the kill -9 layer: a few lanes (one journal each) side by side until enough kills are
 * done, then a summary. Environment knobs (for long nightly runs or a quick look):
 *   KILL_TARGET   kills to reach (default 250)          KILL_LANES   parallel lanes (default 2)
 *   KILL_SECONDS  time cap in seconds (default 240)     KILL_SEED    lane seeds (default: random)
 *   KILL_FAILPOINTS  comma-separated subset of the failpoints to arm (default: all; the run goes
 *                    on past KILL_TARGET, within KILL_SECONDS, until every one was reached)
 *   KILL_HINTED   share of recoveries from stored hints, 0..1 (default 0.8; the rest from offset 0)
 *   KILL_CHECK_CORPUS=1  also replay every passing generation through the shared corpus checker
 *   KILL_CORPUS   directory for failing cases (default test/corpus; 'none' keeps nothing)
 *   KILL_STOP_SHARE  share of children SIGSTOPped while holding the append lock (default 0.03;
 *                    every lane also stops its third child)
 *   KILL_NS_ROUNDS   rounds of the namespace lane (namespaces.ts: raw appenders in two pid
 *                    namespaces on one journal), run beside the lanes (default 10; at least
 *                    one per mode, 5, unless 0, which turns the lane off)
 *   KILL_NS_LEASE_MS the appenders' lockLeaseMs (default 200)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareChildEntry } from './child-entry.js';
import { Lane } from './lane.js';
import { NAMESPACE_MODES, NamespaceLane } from './namespaces.js';
import { describeRun, emptyStats, unreachedFailpoints, type KillStats } from './stats.js';
import { FAILPOINTS, isFailpointName, type FailpointName } from './protocol.js';

/** The run stops after this many violations; only the first MAX_CORPUS_CASES are saved. */
const MAX_VIOLATIONS = 25;

export interface KillRunOptions {
  targetKills: number;
  lanes: number;
  maxSeconds: number;
  seed: number;
  failpoints?: readonly FailpointName[];
  hintedShare?: number;
  corpusDir?: string;
  childEnv?: Record<string, string>;
  /** Share of children SIGSTOPped while holding the lock (lane.ts 'stop' plan). */
  stopShare?: number;
  /** Rounds of the namespace lane (0: off). */
  nsRounds?: number;
  nsLeaseMs?: number;
  log?: (line: string) => void;
}

export interface KillRunResult {
  stats: KillStats;
  /** The failpoints this run armed: each must have been reached (stats.byFailpoint). */
  failpoints: readonly FailpointName[];
  seconds: number;
  summary: string;
  details: string[];
}

export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): KillRunOptions {
  const number = (name: string, fallback: number): number => {
    const value = env[name];
    if (value === undefined || value === '') return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) {
      throw new Error(`${name} must be a non-negative number, got ${value}`);
    }
    return n;
  };
  const failpoints = env.KILL_FAILPOINTS?.split(',').filter((f) => f !== '');
  for (const f of failpoints ?? []) {
    if (!isFailpointName(f)) {
      throw new Error(`KILL_FAILPOINTS: unknown failpoint ${f} (known: ${FAILPOINTS.join(', ')})`);
    }
  }
  return {
    failpoints: failpoints as FailpointName[] | undefined,
    hintedShare: Math.min(1, number('KILL_HINTED', 0.8)),
    corpusDir:
      env.KILL_CORPUS === undefined || env.KILL_CORPUS === '' ? undefined : env.KILL_CORPUS,
    targetKills: number('KILL_TARGET', 250),
    lanes: Math.max(1, Math.floor(number('KILL_LANES', 2))),
    maxSeconds: number('KILL_SECONDS', 240),
    seed: number('KILL_SEED', Math.floor(Math.random() * 0xffffffff)),
    stopShare: Math.min(1, number('KILL_STOP_SHARE', 0.03)),
    nsRounds: Math.floor(number('KILL_NS_ROUNDS', 10)),
    nsLeaseMs: number('KILL_NS_LEASE_MS', 200),
  };
}

export async function runKillTest(options: KillRunOptions): Promise<KillRunResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const entry = await prepareChildEntry(log);
  const root = await mkdtemp(join(tmpdir(), 'recoverylog-kill-'));
  const stats = emptyStats();
  const failpoints = options.failpoints ?? FAILPOINTS;
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  let stopped = false;
  const ctx = {
    root,
    stop: () => {
      stopped = true;
    },
    stats,
    seed: options.seed,
    failpoints,
    hintedShare: options.hintedShare ?? 0.8,
    stopShare: options.stopShare ?? 0.03,
    corpusDir: options.corpusDir,
    childEnv: options.childEnv,
    childArgs: entry.args,
    log,
    // A broken build fails every cycle: stop early rather than pile up hundreds of cases.
    // Past the target, the run goes on until every failpoint was reached (or time is up).
    finished: () =>
      stopped ||
      (stats.kills >= options.targetKills && unreachedFailpoints(stats, failpoints).length === 0) ||
      elapsed() > options.maxSeconds ||
      stats.violations.length >= MAX_VIOLATIONS,
  };
  try {
    const lanes = Array.from(
      { length: options.lanes },
      (_, i) => new Lane(i, (options.seed + i * 0x9e3779b9) >>> 0, ctx),
    );
    const nsRounds = options.nsRounds ?? 10;
    const namespaces =
      nsRounds > 0
        ? new NamespaceLane({
            root,
            stats,
            finished: ctx.finished,
            stop: ctx.stop,
            appenderArgs: entry.appenderArgs,
            leaseMs: options.nsLeaseMs ?? 200,
            rounds: nsRounds,
            minRounds: Math.min(nsRounds, NAMESPACE_MODES.length),
            seed: (options.seed ^ 0x5bd1e995) >>> 0,
            corpusDir: options.corpusDir,
            log,
          })
        : undefined;
    if (namespaces === undefined) stats.ns.skipped = 'KILL_NS_ROUNDS=0';
    // Every lane must be stopped before the directories go: settle all, then report a failure.
    const settled = await Promise.allSettled([
      ...lanes.map((lane) => lane.loop()),
      ...(namespaces !== undefined ? [namespaces.loop()] : []),
    ]);
    const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
  } finally {
    await rm(root, { recursive: true, force: true });
    await entry.dispose();
  }
  const seconds = elapsed();
  const { summary, details } = describeRun(stats, seconds, {
    lanes: options.lanes,
    children: entry.kind,
    seed: options.seed,
    failpoints,
  });
  log(summary);
  for (const line of details) log(line);
  return { stats, failpoints, seconds, summary, details };
}
