/**
 * Following other processes: picks up what other writers committed to the journal directory
 * (another epoch's fragment growing, a new fragment after a takeover, fragments pruned), and
 * wakes blocked readers when the head moves. Directory watching (with polling as the fallback)
 * runs only while a reader is blocked. Corruption found on the way breaks the journal: every
 * later call fails with it.
 */
import { RecoveryLogError } from '../errors.js';
import { JournalIOError } from './errors.js';
import type { ChainReader } from './file-reader.js';
import type { FileJournalState } from './file-state.js';
import type { HeadWaiters } from './head-waiters.js';
import { epochOfFragmentFile } from './fragment-layout.js';
import type { JournalStorage } from './storage.js';

export class Follower {
  /** Corruption found while following other processes' commits: every call fails with it. */
  broken: Error | undefined;
  /** The refresh under way, if any (close and batches wait for it). */
  refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private watcher: { close(): void } | undefined;
  private poller: NodeJS.Timeout | undefined;

  constructor(
    private readonly storage: JournalStorage,
    private readonly dir: string,
    private readonly name: string,
    private readonly reader: ChainReader,
    private readonly waiters: HeadWaiters,
    private readonly pollIntervalMs: number,
    private readonly state: FileJournalState,
  ) {}

  /** Picks up what other processes committed, unless our own batch is in flight. */
  refresh(): Promise<void> {
    const state = this.state;
    if (state.writing > 0 || state.closed || this.broken !== undefined) return Promise.resolve();
    if (this.refreshing !== undefined) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.refreshAgain = false;
          if (state.writing > 0 || state.closed) break;
          await this.followOthers();
        } while (this.refreshAgain);
      } catch (error) {
        if (!state.closed) this.fail(error);
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  /** Reads other writers' new commits now (also while our batch waits to commit). */
  async followOthers(): Promise<void> {
    const before = this.reader.head();
    const owned = this.state.owned;
    // While our epoch is unfenced nobody else can commit: our state is the journal's.
    if (owned !== undefined && !owned.ended && !(await owned.wasFenced())) return;
    const top = this.reader.top();
    if (top === undefined || (await top.refreshIndex(), top.index?.closed !== false)) {
      await this.reader.reload();
    }
    const head = this.reader.head();
    if (head > before) this.waiters.notify(head);
  }

  private fail(error: unknown): void {
    this.broken =
      error instanceof RecoveryLogError
        ? error
        : new JournalIOError(this.name, this.dir, 'read new commits from', error);
    this.waiters.rejectAll(this.broken);
  }

  startWatching(): void {
    if (this.state.closed) return;
    this.watcher = this.storage.watch?.(this.dir, (file) => {
      if (!this.ourOwnWrite(file)) void this.refresh();
    });
    this.poller = setInterval(() => void this.refresh(), this.pollIntervalMs);
  }

  /**
   * True for a change to the files of the epoch we are writing: our own commits, which wake
   * waiters directly (file-committer.ts), so a reader blocked in the writer's process costs no
   * refresh (a stat) per commit. Another writer's FENCE lands in our index file too, but it
   * claimed its own epoch's index first and creates its data file and START after fencing us:
   * those changes name its files, and the refresh they start finds the FENCE (polling remains
   * the fallback, as for any missed change).
   */
  private ourOwnWrite(file: string | null): boolean {
    const owned = this.state.owned;
    return (
      file !== null &&
      owned !== undefined &&
      !owned.ended &&
      epochOfFragmentFile(file) === owned.epoch
    );
  }

  stopWatching(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.poller !== undefined) clearInterval(this.poller);
    this.poller = undefined;
  }
}
