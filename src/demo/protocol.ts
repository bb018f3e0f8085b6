/**
 * Messages between the demo's parent and its recording child (over the Node IPC channel).
 * The child derives everything from the seed, so it only reports progress.
 */
import type { FSMHints } from '../wire/types.js';

export interface ChildArgs {
  /** Directory the store lives in (recorded). */
  storeDir: string;
  /** Directory of the FileJournal (created by the child). */
  logDir: string;
  /** Journal name. */
  logName: string;
  /** Directory of the HintsStore. */
  hintsDir: string;
  seed: number;
  puts: number;
  /**
   * Record onto (or recover from) a JetStream journal named `logName` on these servers, with
   * hints in the KV store `bucket`/`store`, instead of the FileJournal in `logDir` and the
   * HintsStore in `hintsDir`.
   */
  nats?: { servers: string[]; bucket: string; store: string };
  /**
   * Recover instead of recording: play the stored hints into this directory with a hand-off
   * (a fresh process as the "other machine"), then report 'recovered'.
   */
  recoverInto?: string;
}

/** What a recovering child reports (PlayStats' figures). */
export interface RecoveredReport {
  type: 'recovered';
  author: number;
  /** The journal's head before and after the hand-off. */
  headBefore: number;
  headAfter: number;
  /** How the hints were described to the user. */
  hints: string;
  stats: {
    opsApplied: number;
    opsSkipped: Partial<Record<string, number>>;
    bytesRead: number;
    payloadBytesWritten: number;
    files: number;
    seconds: number;
  };
}

export type ChildMessage =
  /** Recording started. */
  | { type: 'started'; author: number; pid: number }
  /**
   * A durable point: every op up to workload state `state` is on stable storage and the hints
   * stored as primary cover it. `digest` is the child's own digest of its directory then.
   */
  | { type: 'ack'; action: number; state: number; puts: number; digest: string; liveFiles: number }
  /** The whole workload was recorded. */
  | { type: 'finished'; state: number }
  | RecoveredReport
  /** The child failed (it exits 1 after this). */
  | { type: 'error'; message: string };

/** How recovery starts, in words. */
export function describeHints(hints: FSMHints): string {
  if (hints.liveNodes.length === 0) return 'no hints (replaying the log from offset 0)';
  const segments = hints.liveNodes.flatMap((n) => n.segments);
  const first = Math.min(...segments.map((s) => s.firstOffset));
  const properties = hints.properties.length;
  return (
    `the primary hints: ${hints.liveNodes.length} live files in ${segments.length} segments, ` +
    `${properties} ${properties === 1 ? 'property' : 'properties'}, reading from offset ${first}`
  );
}

export function isChildMessage(value: unknown): value is ChildMessage {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { type?: unknown }).type === 'string'
  );
}
