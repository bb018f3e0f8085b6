/**
 * What the kill -9 parent and its recording children say to each other over the IPC channel, and
 * the failpoints a child can be armed with. Acknowledgements travel here only after the journal
 * sync they report has resolved; the ops themselves are written to an intent file (see
 * intents.ts) before they are performed, because a message in flight dies with the child.
 */
import type { TreeSnapshot } from './tree.js';

/**
 * Failpoints, by where they kill. All are reached through seams the library offers (the
 * FileJournal's and the HintsStore's storage, the Player's TargetFs and journal, the
 * child's own ack path: child-faults.ts), so they exercise the real code unchanged. Every one
 * must be reached in every run (kill.test.ts): a point whose seam moved fails the run.
 */
export const FAILPOINTS = [
  /** Batch write: the frame bytes reached the data file, the Write payload after them did not. */
  'kill-frame-payload',
  /** A batch's bytes are written to the data file, its fdatasync not yet issued. */
  'kill-write-before-sync',
  /** The commit record's fdatasync returned: the batch is durable, its appends not yet resolved. */
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

export type FailpointName = (typeof FAILPOINTS)[number];

export function isFailpointName(name: string): name is FailpointName {
  return (FAILPOINTS as readonly string[]).includes(name);
}

/**
 * The environment variable that arms a child (set by the parent, read by child-faults.ts only):
 * `name:N` dies at the Nth pass through failpoint `name`.
 */
export const FAILPOINT_ENV = 'KILL_FAILPOINT';

/** What a child writes to stderr just before it SIGKILLs itself: `<mark> <name> <hit>`. */
export const FAILPOINT_MARK = 'kill-failpoint-hit';

/** Parses FAILPOINT_ENV's value (undefined when unset); throws on an unknown name or count. */
export function parseFailpointSpec(
  spec: string | undefined,
): { name: FailpointName; hit: number } | undefined {
  if (spec === undefined || spec === '') return undefined;
  const [name = '', count = '1', ...rest] = spec.split(':');
  const hit = Number(count);
  if (!isFailpointName(name) || !Number.isSafeInteger(hit) || hit < 1 || rest.length > 0) {
    throw new Error(
      `${FAILPOINT_ENV}=${spec}: expected <failpoint>[:<hit >= 1>], failpoints: ${FAILPOINTS.join(', ')}`,
    );
  }
  return { name, hit };
}

/** The failpoint a line of a child's stderr says it died at (a FAILPOINT_MARK line), if any. */
export function failpointMark(line: string): string | undefined {
  const [mark, name] = line.trim().split(' ');
  return mark === FAILPOINT_MARK && name !== undefined && name !== '' ? name : undefined;
}

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
  /**
   * The parent will SIGSTOP this child while it records (a zombie that does not know it was
   * paused). A recording failure is then not a crash: once the parent resumed it, it is the
   * fencing it must meet, reported as a 'zombie-result' (see child.ts).
   */
  stoppable?: boolean;
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
      /** The attempt failed with RegisterMismatchError (the journal fenced its author). */
      fenced: boolean;
      /** The attempt (or the recording before it) failed at all; '' names no error. */
      failed: boolean;
      errorName: string;
      errorCode: string;
      message: string;
    }
  | { type: 'error'; message: string };
