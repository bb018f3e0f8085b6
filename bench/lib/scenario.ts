/**
 * What a scenario is given and returns, plus the sizes of the quick and full profiles.
 */
import type { PairedSummary, RunPlan } from './measure.js';
import {
  withVerdict,
  type BenchResult,
  type Params,
  type PhysicalLimits,
  type Target,
} from './report.js';
import { MiB, type Summary } from './stats.js';
import type { ScratchSpace } from './tmp.js';

/** Workload sizes. `quick` keeps the whole bench under 90 s on 2 cores; `full` takes minutes. */
export interface SizeProfile {
  /** record-small-ops: 100-byte writes per run. */
  smallOps: number;
  /** record-large-writes: payload bytes per run (64 KiB writes). */
  largeBytes: number;
  /** synced-ops-concurrency: seconds per concurrency level per run. */
  syncedSeconds: number;
  /** recordedfs-overhead: puts of the demo's log-structured store. */
  workloadPuts: number;
  /** playback-throughput / playback-memory: log size. */
  playbackBytes: number;
  /** hinted-playback-bytes: log size (90% of it dead). */
  hintedBytes: number;
  /** scaling: log sizes. */
  scalingBytes: readonly number[];
  /** peers: small-op count, large-payload bytes, synced ops per concurrency level. */
  peerSmallOps: number;
  peerLargeBytes: number;
  peerSyncedOps: number;
}

export const QUICK: SizeProfile = {
  smallOps: 40_000,
  largeBytes: 32 * MiB,
  syncedSeconds: 0.5,
  workloadPuts: 1_500,
  playbackBytes: 32 * MiB,
  hintedBytes: 32 * MiB,
  scalingBytes: [8 * MiB, 16 * MiB, 32 * MiB],
  peerSmallOps: 5_000,
  peerLargeBytes: 16 * MiB,
  peerSyncedOps: 100,
};

export const FULL: SizeProfile = {
  smallOps: 200_000,
  largeBytes: 256 * MiB,
  syncedSeconds: 1.5,
  workloadPuts: 5_000,
  playbackBytes: 256 * MiB,
  hintedBytes: 128 * MiB,
  scalingBytes: [16 * MiB, 64 * MiB, 256 * MiB],
  peerSmallOps: 20_000,
  peerLargeBytes: 64 * MiB,
  peerSyncedOps: 500,
};

export interface BenchContext {
  quick: boolean;
  sizes: SizeProfile;
  /** Default repetition plan (a scenario may use fewer runs for very long workloads). */
  plan: RunPlan;
  scratch: ScratchSpace;
  physical: PhysicalLimits;
  /** Repository root (for child processes). */
  root: string;
  log(message: string): void;
}

export interface Scenario {
  /** The result `name` this scenario produces (several rows may share it, told apart by params). */
  name: string;
  run(ctx: BenchContext): Promise<BenchResult[]>;
}

export interface RowSpec {
  name: string;
  /** Short chart label. */
  label?: string;
  unit: string;
  params: Params;
  baselineLabel: string;
  targets?: readonly Target[];
}

/** A result row from a paired measurement (value and baseline medians, per-run ratio median). */
export function pairedRow(spec: RowSpec, m: PairedSummary): BenchResult {
  return withVerdict({
    name: spec.name,
    ...(spec.label ? { label: spec.label } : {}),
    value: m.ours.median,
    unit: spec.unit,
    baseline: m.baseline.median,
    ratio: m.ratio.median,
    params: spec.params,
    min: m.ours.min,
    max: m.ours.max,
    runs: m.ours.n,
    baselineLabel: spec.baselineLabel,
    ratioMin: m.ratio.min,
    ratioMax: m.ratio.max,
    ...(spec.targets ? { targets: spec.targets } : {}),
  });
}

/** A result row for a figure with no baseline of its own, or a baseline taken elsewhere. */
export function singleRow(
  spec: Omit<RowSpec, 'baselineLabel'> & { baselineLabel?: string },
  value: Summary,
  baseline: number | null = null,
  ratio: Summary | null = null,
): BenchResult {
  return withVerdict({
    name: spec.name,
    ...(spec.label ? { label: spec.label } : {}),
    value: value.median,
    unit: spec.unit,
    baseline,
    ratio: baseline === null ? null : (ratio?.median ?? value.median / baseline),
    params: spec.params,
    min: value.min,
    max: value.max,
    runs: value.n,
    ...(spec.baselineLabel ? { baselineLabel: spec.baselineLabel } : {}),
    ...(ratio ? { ratioMin: ratio.min, ratioMax: ratio.max } : {}),
    ...(spec.targets ? { targets: spec.targets } : {}),
  });
}

/** Higher-is-better ratio of two rates. */
export const rateRatio = (ours: number, baseline: number): number => ours / baseline;
