/**
 * What the kill -9 parent and its recording children say to each other over the IPC channel, and
 * the failpoints a child can be armed with. Acknowledgements travel here only after the journal
 * sync they report has resolved; the ops themselves are written to an intent file (see
 * intents.ts) before they are performed, because a message in flight dies with the child.
 */
import type { TreeSnapshot } from './tree.js';

/**
 * Failpoints, by where they kill. Most are reached through seams the library already offers
 * (FileJournal commit hooks, the Player's TargetFs and JournalResolver, the child's own ack
 * path), so they exercise the real code unchanged; the rest are one-line `failpoint(name)` calls
 * in the library (LIBRARY_FAILPOINTS), used only once they are placed.
 */
export const FAILPOINTS = [
  /** Batch write: the frame bytes reached the data file, the Write payload after them did not. */
  'kill-frame-payload',
  /** The batch (data + commit record) is written, its fdatasync not yet issued. */
  'kill-write-before-sync',
  /** Library: the batch is synced, its appends not yet resolved. */
  'kill-journal-after-sync',
  /** A barrier (or buildHints) resolved: durable, but the parent was not told yet. */
  'kill-sync-before-ack',
  /** HintsStore wrote and synced the temp file, not yet renamed over the hints file. */
  'kill-hints-write',
  /** Player: a Write payload was written to a staged file (mid-playback). */
  'kill-player-staging',
  /** Player makeLive: one hard link (or property file) of the recovered tree is in place. */
  'kill-player-make-live',
  /** Player hand-off: the fencing no-op is appended, not yet read back. */
  'kill-player-handoff',
] as const;

/** Failpoints that are one-line calls in the library, and the file each belongs in. */
export const LIBRARY_FAILPOINTS: Partial<Record<FailpointName, string>> = {
  'kill-journal-after-sync': 'src/journal/file.ts',
};

export type FailpointName = (typeof FAILPOINTS)[number];

/** Failpoints that fire only while a Player is recovering (never while recording). */
export const PLAYER_FAILPOINTS: readonly FailpointName[] = [
  'kill-player-staging',
  'kill-player-make-live',
  'kill-player-handoff',
];

/** What a zombie tries to write after it was fenced: nothing of it may ever be recovered. */
export function zombieFile(author: number): { path: string; content: string } {
  return { path: `/zombie-${author}`, content: `ZOMBIE ${author}\n` };
}

export interface GoMessage {
  type: 'go';
  journalDir: string;
  hintsDir: string;
  /** Where to recover the tree and then record into (fresh per child). */
  treeDir: string;
  /** Intent file: one JSON line per op before it is performed, one after (intents.ts). */
  intentsFile: string;
  author: number;
  seed: number;
  /** Recover from the stored hints (else from offset 0 with empty hints). */
  useHints: boolean;
}

export interface PauseMessage {
  type: 'pause';
}

/** Sent to a paused child after another process took the log over: try to append anyway. */
export interface ZombieMessage {
  type: 'zombie';
}

export type ParentMessage = GoMessage | PauseMessage | ZombieMessage;

export interface FsmPosition {
  seqNo: number;
  checksum: number;
}

export type ChildMessage =
  | { type: 'ready' }
  | {
      type: 'recovered';
      tree: TreeSnapshot;
      /** The FSM after playback (including this child's hand-off no-op). */
      fsm: FsmPosition;
      usedHints: boolean;
      recoveryMs: number;
    }
  /** Ops 1..op of this child are durable; `seqNo` is the FSM's last SeqNo after op `op`. */
  | { type: 'ack'; op: number; seqNo: number }
  /** Primary hints covering ops 1..op were stored. */
  | { type: 'hints'; op: number }
  | { type: 'paused'; op: number }
  | {
      type: 'zombie-result';
      fenced: boolean;
      errorName: string;
      errorCode: string;
      message: string;
    }
  | { type: 'error'; message: string };
