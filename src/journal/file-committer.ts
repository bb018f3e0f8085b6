/**
 * The file journal's commit path: runs each batch the append queue (group-commit.ts) hands it.
 * A batch of only barriers writes nothing and is answered at the latest head this process can
 * see. Any other batch takes the lock (idle-lock.ts), starts a writer epoch when we have none
 * (takeover.ts: fencing the previous writer) and commits through the owned fragment
 * (fragment-writer.ts); a batch fenced by another writer is retried in a new epoch. Once idle,
 * the writer confirms its last commit with an empty one.
 */
import { RecoveryLogError } from '../errors.js';
import { JournalContendedError, JournalWriteError } from './errors.js';
import type { ChainReader } from './file-reader.js';
import type { Follower } from './file-follower.js';
import type { FileJournalState } from './file-state.js';
import { FencedError, type OwnedFragment } from './fragment-writer.js';
import {
  planBatch,
  type AppendQueue,
  type CommitHooks,
  type QueuedAppend,
} from './group-commit.js';
import type { HeadWaiters } from './head-waiters.js';
import type { IdleLock } from './idle-lock.js';
import { FORMAT_VERSION, writeMeta } from './journal-meta.js';
import type { JournalStorage } from './storage.js';
import { fsyncDirectory, startEpoch } from './takeover.js';

/** Fenced commits retried in a new epoch before the batch fails (each means another writer won). */
const MAX_FENCED_RETRIES = 32;
/** An idle writer confirms its last commit after this long (see fragment-writer.ts). */
const CONFIRM_DELAY_MS = 10;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return JSON.stringify(error) ?? String(error); // not an Error: show what it is
  } catch {
    return String(error);
  }
}

/** The parts of the journal a committer works with (see file.ts). */
export interface CommitterParts {
  readonly storage: JournalStorage;
  readonly dir: string;
  readonly name: string;
  readonly state: FileJournalState;
  readonly queue: AppendQueue;
  readonly reader: ChainReader;
  readonly follower: Follower;
  readonly waiters: HeadWaiters;
  readonly lock: IdleLock;
  /** A fragment is rolled once it holds this many bytes. */
  readonly fragmentBytes: number;
  readonly hooks: CommitHooks | undefined;
}

export class Committer {
  /** The confirmation under way, if any (batches and close wait for it). */
  confirming: Promise<void> | undefined;
  private confirmTimer: NodeJS.Timeout | undefined;
  /** When the last batch ended (performance.now()): the idle confirmation waits for quiet. */
  private lastBatchEnd = 0;

  constructor(
    private readonly parts: CommitterParts,
    /** journal.json's format version: an older (1, 2) journal is upgraded by its first writer. */
    private metaVersion: number,
  ) {}

  /**
   * Runs one batch (the append queue's runBatch). While this process holds the lock and its
   * epoch, a batch awaits nothing but its commit (fragment-writer.ts): the waits below are taken
   * only when there is something to wait for, and the lock and the idle confirmation are looked
   * after by timers, off this path (idle-lock.ts, scheduleConfirm).
   */
  async commit(entries: QueuedAppend[]): Promise<void> {
    const { state, follower, lock, queue, name } = this.parts;
    state.writing += 1;
    let failed = false;
    try {
      if (follower.refreshing !== undefined) await follower.refreshing;
      if (lock.releasing !== undefined) await lock.releasing;
      if (this.confirming !== undefined) await this.confirming;
      if (follower.broken !== undefined) throw follower.broken;
      if (entries.every((entry) => entry.size === 0 && entry.unionRegisters === undefined)) {
        await this.answerBarriers(entries);
        return;
      }
      if (!lock.held) await lock.acquire();
      await this.commitInEpoch(entries);
    } catch (error) {
      failed = true;
      // Lock and refresh I/O (e.g. EROFS once ext4 aborts its journal) fails the batch like a
      // data write does: a typed error, never a raw errno.
      throw error instanceof RecoveryLogError
        ? error
        : new JournalWriteError(name, describe(error), error);
    } finally {
      state.writing -= 1;
      const releasing = lock.releaseUnlessBusy(failed);
      if (releasing !== undefined) await releasing;
      this.lastBatchEnd = performance.now();
      if (!failed && queue.pendingCount === 0) this.scheduleConfirm();
    }
  }

  /**
   * Only barriers (and register checks): they write nothing, so they need neither the lock nor
   * an epoch. Answers them at the latest head and registers we can see.
   */
  private async answerBarriers(entries: QueuedAppend[]): Promise<void> {
    const { reader, follower, queue, name } = this.parts;
    await follower.followOthers();
    const top = reader.top()?.index;
    const plan = planBatch(name, entries, reader.head(), top?.registers ?? {});
    queue.settle(plan, false);
  }

  /** Commits the batch in our epoch, in a new one each time another writer fenced us. */
  private async commitInEpoch(entries: QueuedAppend[]): Promise<void> {
    const { queue, waiters, name, hooks } = this.parts;
    for (let attempt = 0; ; attempt += 1) {
      const current = this.parts.state.owned;
      const owned = current !== undefined && !current.ended ? current : await this.ensureOwned();
      for (const entry of entries) {
        entry.result = undefined;
        entry.error = undefined;
      }
      const plan = planBatch(name, entries, owned.index.end, owned.index.registers);
      if (!plan.needsCommit) {
        queue.settle(plan, false);
        return;
      }
      try {
        await owned.commit(plan, hooks);
      } catch (error) {
        // Another writer fenced our epoch: nothing of this batch committed. Continue in a new
        // epoch after theirs, checking registers against their state.
        if (!(error instanceof FencedError)) throw error;
        if (attempt + 1 >= MAX_FENCED_RETRIES) {
          throw new JournalContendedError(name, MAX_FENCED_RETRIES);
        }
        // Two writers fencing each other in turn could go on forever: back off at random.
        await sleep(Math.random() * 2 ** Math.min(attempt, 8));
        continue;
      }
      waiters.notify(owned.index.end);
      queue.settle(plan, true);
      if (owned.size >= this.parts.fragmentBytes) {
        // Roll: the next batch starts a new epoch. Being fenced first ends the epoch as well.
        await owned.seal().catch((error: unknown) => {
          if (!(error instanceof FencedError)) throw error;
        });
      }
      return;
    }
  }

  /** Our writer epoch, starting one (fencing the previous writer) when we have none. */
  private async ensureOwned(): Promise<OwnedFragment> {
    const { state, storage, dir, name, lock, reader } = this.parts;
    if (state.owned !== undefined && !state.owned.ended) return state.owned;
    if (state.owned !== undefined) {
      await state.owned.close();
      state.owned = undefined;
    }
    if (this.metaVersion < FORMAT_VERSION) {
      // Version 1 readers would see only the legacy prefix, version 2 readers would take INLINE
      // records for damage or a torn tail: make them refuse the journal instead.
      await writeMeta(storage, dir, name);
      await fsyncDirectory(storage, dir);
      this.metaVersion = FORMAT_VERSION;
    }
    // The lock's random token names this writer in its START and in the FENCEs it appends.
    const owned = await startEpoch(storage, dir, lock.token);
    state.owned = owned;
    await reader.reload();
    return owned;
  }

  /**
   * Arms the idle confirmation unless it is armed already. Batches do not disarm it: a timer
   * that fires while batches keep coming re-arms itself for the rest of the delay, so a writer
   * at concurrency 1 sets one timer per CONFIRM_DELAY_MS, not one per commit.
   */
  private scheduleConfirm(delayMs = CONFIRM_DELAY_MS): void {
    if (this.confirmTimer !== undefined || this.parts.state.owned?.unconfirmed !== true) return;
    this.confirmTimer = setTimeout(() => {
      this.confirmTimer = undefined;
      this.confirmIfIdle();
    }, delayMs);
    this.confirmTimer.unref?.();
  }

  private confirmIfIdle(): void {
    const { state, queue } = this.parts;
    // A batch under way or queued re-arms the timer when it ends (its finally).
    if (state.writing > 0 || state.closed || queue.pendingCount > 0) return;
    const idleFor = performance.now() - this.lastBatchEnd;
    if (idleFor < CONFIRM_DELAY_MS) {
      this.scheduleConfirm(CONFIRM_DELAY_MS - idleFor);
      return;
    }
    const owned = state.owned;
    if (owned === undefined || !owned.unconfirmed) return;
    state.writing += 1;
    // A refresh that started before us may be between its look at our index file's size and
    // parsing it: our record written meanwhile would be parsed into the index we share with it
    // (file-reader.ts) as well as added by us. Let it finish first, as a batch does.
    const refreshed = this.parts.follower.refreshing ?? Promise.resolve();
    this.confirming = refreshed
      .then(() => owned.confirm())
      .catch(() => {
        // Nothing waits on a confirmation; a failed one only retires this epoch (the next
        // writer fences it), since a failed sync leaves the file in doubt.
        owned.ended = true;
      })
      .finally(() => {
        state.writing -= 1;
        this.confirming = undefined;
      });
  }

  cancelConfirm(): void {
    if (this.confirmTimer !== undefined) clearTimeout(this.confirmTimer);
    this.confirmTimer = undefined;
  }

  /** On close, after the queue drained: seals our fragment (unless the journal failed). */
  async closeOwned(seal: boolean): Promise<void> {
    const owned = this.parts.state.owned;
    this.parts.state.owned = undefined;
    if (owned === undefined) return;
    if (seal) await owned.seal().catch(() => undefined);
    await owned.close();
  }
}
