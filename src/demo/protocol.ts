/**
 * Messages between the demo's parent and its recording child (over the Node IPC channel).
 * The child derives everything from the seed, so it only reports progress.
 */

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
  /** The child failed (it exits 1 after this). */
  | { type: 'error'; message: string };

export function isChildMessage(value: unknown): value is ChildMessage {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { type?: unknown }).type === 'string'
  );
}
