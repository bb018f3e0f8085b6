/**
 * What a kill run counts, and the lines it prints: the summary line the brief fixes
 * (`kill: <kills> kills (<random> random, <failpoint> at failpoints), <ops> acknowledged ops
 * checked, <v> violations`) and the coverage details under it.
 */
import type { Violation } from './ledger.js';
import { FAILPOINTS } from './protocol.js';

export interface KillStats {
  kills: number;
  random: number;
  failpoint: number;
  /** Kills at each failpoint (the child's own stderr mark says which it reached). */
  byFailpoint: Record<string, number>;
  /** Failpoint marks that were not the child's armed one of this run's list (each an error). */
  unexpectedFailpoints: string[];
  /** Children armed with each failpoint. */
  planned: Record<string, number>;
  /** Children armed with a failpoint they never reached (killed at random instead). */
  missed: Record<string, number>;
  /** Kills that hit a child before it had finished recovering. */
  duringRecovery: number;
  ackedOpsChecked: number;
  opsRecorded: number;
  recoveries: number;
  hintedRecoveries: number;
  /** Zombies poked after another process took their log over (paused and SIGSTOPped ones). */
  zombies: number;
  /** ... that met a failure, never an ack (RegisterMismatchError for the paused ones). */
  zombiesFenced: number;
  /** SIGSTOPped zombies (part of `zombies`): stopped right after an ack while recording. */
  stoppedZombies: number;
  /** ... that the lock file named as the append lock's holder while stopped. */
  stoppedHoldingLock: number;
  /** Recoveries (go to recovered, ms) whose hand-off had to get past a stopped lock holder. */
  handoffsPastStoppedMs: number[];
  /** ... past a paused (alive, idle) zombie that held the lock: the doorbell should suffice. */
  handoffsPastPausedMs: number[];
  /** What the zombies met when they tried to append after the hand-off, by error name. */
  zombieErrors: Record<string, number>;
  /** The namespace lane (namespaces.ts): raw appenders in two pid namespaces on one journal. */
  ns: NamespaceStats;
  epochs: number;
  corpusCases: number;
  /** Generations also replayed through the shared corpus checker (KILL_CHECK_CORPUS=1). */
  crossChecked: number;
  recoveryMs: number[];
  violations: (Violation & { lane: number; gen: number; corpus?: string })[];
}

export interface NamespaceStats {
  /** Why the lane did not run (no pid namespace available here), if it did not. */
  skipped?: string;
  /** How the namespaced appender is started (e.g. 'unshare --pid --fork --mount-proc'). */
  how: string;
  leaseMs: number;
  rounds: number;
  byMode: Record<string, number>;
  /** Appender processes started, and how many of them were SIGKILLed or SIGSTOPped mid-run. */
  appenders: number;
  killed: number;
  paused: number;
  /** Acknowledged appends found whole, once each, in order (counted once per appender). */
  acked: number;
  /** Writer epochs (`*.index` files) over all rounds, and the most in one round. */
  epochs: number;
  maxEpochs: number;
  /** Locks broken for a lapsed lease (the appenders count their renames of `lock`). */
  lockBreaks: number;
}

export function emptyStats(): KillStats {
  return {
    kills: 0,
    random: 0,
    failpoint: 0,
    byFailpoint: {},
    unexpectedFailpoints: [],
    planned: {},
    missed: {},
    duringRecovery: 0,
    ackedOpsChecked: 0,
    opsRecorded: 0,
    recoveries: 0,
    hintedRecoveries: 0,
    zombies: 0,
    zombiesFenced: 0,
    stoppedZombies: 0,
    stoppedHoldingLock: 0,
    handoffsPastStoppedMs: [],
    handoffsPastPausedMs: [],
    zombieErrors: {},
    ns: {
      how: '',
      leaseMs: 0,
      rounds: 0,
      byMode: {},
      appenders: 0,
      killed: 0,
      paused: 0,
      acked: 0,
      epochs: 0,
      maxEpochs: 0,
      lockBreaks: 0,
    },
    epochs: 0,
    corpusCases: 0,
    crossChecked: 0,
    recoveryMs: [],
    violations: [],
  };
}

export interface RunDescription {
  lanes: number;
  children: string;
  seed: number;
  /** The failpoints this run armed (every one must be reached). */
  failpoints: readonly string[];
}

/** Failpoints of the run that no child reached (the run fails unless this is empty). */
export function unreachedFailpoints(stats: KillStats, failpoints: readonly string[]): string[] {
  return failpoints.filter((f) => (stats.byFailpoint[f] ?? 0) === 0);
}

export function describeRun(
  stats: KillStats,
  seconds: number,
  run: RunDescription,
): { summary: string; details: string[] } {
  const summary =
    `kill: ${stats.kills} kills (${stats.random} random, ${stats.failpoint} at failpoints), ` +
    `${stats.ackedOpsChecked} acknowledged ops checked, ${stats.violations.length} violations`;
  const median = medianOf(stats.recoveryMs);
  const ns = stats.ns;
  const tally = (counts: Record<string, number>) =>
    Object.entries(counts)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'none';
  const missed = Object.entries(stats.missed).map(([f, n]) => `${f} ${n}`);
  const details = [
    `kill: ${seconds.toFixed(1)} s, ${(stats.kills / seconds).toFixed(2)} kills/s, ` +
      `${run.lanes} lanes, children ${run.children}, seed ${run.seed}`,
    `kill: failpoints hit: ${FAILPOINTS.map((f) => `${f} ${stats.byFailpoint[f] ?? 0}`).join(', ')}`,
    `kill: failpoints not reached: ${unreachedFailpoints(stats, run.failpoints).join(', ') || 'none'}` +
      (stats.unexpectedFailpoints.length > 0
        ? `; unexpected failpoint marks: ${stats.unexpectedFailpoints.join(', ')}`
        : ''),
    `kill: failpoints armed but not reached (then killed at random): ${missed.join(', ') || 'none'}`,
    `kill: ${stats.duringRecovery} kills during recovery (I6), ${stats.recoveries} recoveries ` +
      `(${stats.hintedRecoveries} from stored hints, median ${median.toFixed(0)} ms), ` +
      `${stats.opsRecorded} ops recorded, ${stats.zombies} zombies (${stats.zombiesFenced} fenced), ` +
      `${stats.epochs} journals` +
      (stats.crossChecked > 0 ? `, ${stats.crossChecked} cross-checked by the shared checker` : ''),
    `kill: zombies fenced: ${stats.zombiesFenced} of ${stats.zombies} (` +
      `${stats.zombies - stats.stoppedZombies} paused, ${stats.stoppedZombies} SIGSTOPped, ` +
      `${stats.stoppedHoldingLock} of them holding the append lock); what they met: ` +
      `${tally(stats.zombieErrors)}; hand-offs past a stopped lock holder: ` +
      describeTimes(stats.handoffsPastStoppedMs) +
      `, past a paused (idle, live) one: ${describeTimes(stats.handoffsPastPausedMs)}`,
    ns.skipped !== undefined
      ? `kill: namespaces: SKIPPED (${ns.skipped})`
      : `kill: namespaces: ${ns.rounds} rounds (${tally(ns.byMode)}) of two raw appenders on one ` +
        `journal, one under \`${ns.how}\`, one in the host pid namespace, lease ${ns.leaseMs} ms; ` +
        `${ns.acked} acknowledged appends checked (whole, once each, in order); ${ns.appenders} appenders ` +
        `(${ns.killed} SIGKILLed, ${ns.paused} SIGSTOPped for 3-4 leases mid-run); takeovers: ${ns.epochs} writer epochs (*.index files, ` +
        `at most ${ns.maxEpochs} in a round), ${ns.lockBreaks} lease breaks`,
  ];
  return { summary, details };
}

function describeTimes(ms: readonly number[]): string {
  if (ms.length === 0) return '0';
  return `${ms.length} (median ${medianOf(ms).toFixed(0)} ms, max ${Math.max(...ms).toFixed(0)} ms)`;
}

function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length > 0 ? sorted[Math.floor(sorted.length / 2)]! : 0;
}
