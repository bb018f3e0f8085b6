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
  zombies: number;
  zombiesFenced: number;
  epochs: number;
  corpusCases: number;
  /** Generations also replayed through the shared corpus checker (KILL_CHECK_CORPUS=1). */
  crossChecked: number;
  recoveryMs: number[];
  violations: (Violation & { lane: number; gen: number; corpus?: string })[];
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
  const sortedMs = [...stats.recoveryMs].sort((a, b) => a - b);
  const median = sortedMs.length > 0 ? sortedMs[Math.floor(sortedMs.length / 2)]! : 0;
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
  ];
  return { summary, details };
}
