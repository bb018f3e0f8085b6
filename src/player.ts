/**
 * Player: rebuilds a recorded directory from its recovery log(s), reading only what the hints say
 * is live, and then either stops at the write head (read-only recovery) or takes ownership of the
 * log with a fenced hand-off no-op (fail-over). Strict by default: see docs/ARCHITECTURE.md
 * ("Recovering").
 */
import { notePlayedThrough } from './fsm-position.js';
import type { JournalResolver } from './journal/journal.js';
import { playerReused } from './player/errors.js';
import { HandoffMailbox } from './player/handoff.js';
import {
  Playback,
  type PlaybackWarning,
  type PlayResult,
  type PlayStats,
  type SkipReason,
} from './player/playback.js';
import { nodeTargetFs, type TargetFileHandle, type TargetFs } from './player/target-fs.js';
import type { Author, FSMHints } from './wire/types.js';

export * from './player/errors.js';
export { STAGING_DIR, stagedPath } from './player/staging.js';
export { nodeTargetFs } from './player/target-fs.js';
export type { PlaybackWarning, PlayResult, PlayStats, SkipReason, TargetFileHandle, TargetFs };

/** Payloads up to this size are verified in memory; larger ones are verified, then re-read. */
const DEFAULT_MAX_BUFFERED_PAYLOAD = 16 * 1024 * 1024;

export interface PlayerOptions {
  /**
   * Follow Gazette exactly: skip garbage and every op the FSM rejects, instead of failing with
   * CorruptLogError. For logs imported from Gazette. Undecodable or truncated frames and Write
   * payloads failing their CRC are fatal in both modes.
   */
  lenient?: boolean;
  /** Aborts playback: play() rejects with PlaybackAbortedError and the directory is removed. */
  signal?: AbortSignal;
  /** Where the directory is rebuilt: node:fs promises (default) or e.g. a memfs `vol.promises`. */
  fs?: TargetFs;
  /** Called after every journal read. */
  onProgress?: (progress: { offset: number; log: string; readThrough: number }) => void;
  /** Called for what lenient mode skips (with the reason) and for offset jumps. */
  onWarning?: (warning: PlaybackWarning) => void;
  /** Largest Write payload verified in memory before it is written (default 16 MiB). */
  maxBufferedPayload?: number;
  /** Upper bound on bytes per journal read (default 1 MiB). */
  readSize?: number;
  /** Staged files kept open at once (default 64). */
  maxOpenFiles?: number;
}

export interface PlayArgs {
  hints: FSMHints;
  /** Target directory. It is deleted first, and deleted again if playback fails. */
  dir: string;
  /** Opens the journals named by the hints (several when hints span logs). */
  journals: JournalResolver;
}

export class Player {
  /** Resolves the first time playback reaches the live write head (rejects if play() fails first). */
  readonly tailing: Promise<void>;
  /** Resolves when play() has settled, successfully or not. */
  readonly done: Promise<void>;

  readonly #options: PlayerOptions;
  readonly #mailbox = new HandoffMailbox();
  #resolveTailing!: () => void;
  #rejectTailing!: (err: unknown) => void;
  #resolveDone!: () => void;
  #started = false;

  constructor(options: PlayerOptions = {}) {
    this.#options = options;
    this.tailing = new Promise<void>((resolve, reject) => {
      this.#resolveTailing = resolve;
      this.#rejectTailing = reject;
    });
    // Callers who never await `tailing` must not see an unhandled rejection.
    this.tailing.catch(() => undefined);
    this.done = new Promise<void>((resolve) => {
      this.#resolveDone = resolve;
    });
  }

  /**
   * Read-only finish: complete at the first write head observed after this call. May be called
   * before play(). Only one of finishAtWriteHead() / injectHandoff() per Player.
   */
  finishAtWriteHead(): void {
    this.#mailbox.post({ kind: 'finish' });
  }

  /**
   * Take ownership: at the write head, append a no-op by `author` that fences the log
   * (registers = authorFence(author)), and complete once it is read back as applied; if another
   * writer got there first, read on and try again. May be called before play().
   */
  injectHandoff(author: Author): void {
    this.#mailbox.post({ kind: 'inject', author });
  }

  /**
   * Plays the hints into `dir`. Blocks (tails the log) until a finish was requested. The result's
   * FSM remembers how far it read the hints' log: Recorder.open refuses it once that log has
   * grown past it (another writer appended since), instead of forking the history.
   */
  async play(args: PlayArgs): Promise<PlayResult> {
    if (this.#started) throw playerReused();
    this.#started = true;
    const o = this.#options;
    // The furthest offset of the hints' log read. Reads may run past the last applied op (a
    // hand-off completes at its no-op, whatever follows it in the same read), so this can only
    // overstate: Recorder.open may then miss a mismatch, but never refuses a matching FSM.
    let readThrough: number | undefined;
    const onProgress = (p: { offset: number; log: string; readThrough: number }): void => {
      if (p.log === args.hints.log) readThrough = Math.max(readThrough ?? 0, p.offset);
      o.onProgress?.(p);
    };
    try {
      const result = await new Playback({
        hints: args.hints,
        dir: args.dir,
        journals: args.journals,
        fs: o.fs ?? nodeTargetFs,
        lenient: o.lenient ?? false,
        signal: o.signal,
        mailbox: this.#mailbox,
        onTailing: () => this.#resolveTailing(),
        onProgress,
        onWarning: o.onWarning,
        maxBufferedPayload: o.maxBufferedPayload ?? DEFAULT_MAX_BUFFERED_PAYLOAD,
        readSize: o.readSize,
        maxOpenFiles: o.maxOpenFiles,
      }).run();
      // Nothing read (an empty log): the FSM applied nothing from it, and the fallback checks
      // of Recorder.open (a new FSM needs an empty journal) apply.
      if (readThrough !== undefined) notePlayedThrough(result.fsm, result.log, readThrough);
      return result;
    } catch (err) {
      this.#rejectTailing(err);
      throw err;
    } finally {
      this.#resolveDone();
    }
  }
}
