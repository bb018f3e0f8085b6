/**
 * The writer's hold on the directory lock (file-lock.ts) between batches. The lock is made on the
 * first append (readers never need it, nor its random token) and taken per batch; after a batch
 * it is kept for the next one when appends are queued, else for a short linger, unless another
 * process rang the doorbell. Safety never rests on it (see file.ts): it only keeps writers from
 * taking turns per batch.
 */
import { DirectoryLock } from './file-lock.js';
import type { FileJournalState } from './file-state.js';
import type { JournalStorage } from './storage.js';

/**
 * An idle appender keeps the lock this long after its last batch. Bounded, so that a process
 * that stops appending (or exits without close) does not leave the lock taken for long.
 */
const LOCK_LINGER_MS = 50;
/** How often a lingering holder looks at the doorbell: another process waits about this long. */
const DOORBELL_CHECK_MS = 5;

export class IdleLock {
  #lock: DirectoryLock | undefined;
  private swept = false;
  /** While the lock lingers (see LOCK_LINGER_MS): when it must go, and the next doorbell check. */
  private lingerUntil = 0;
  private lingerCheck: NodeJS.Timeout | undefined;
  /** When releaseUnlessBusy last looked at the doorbell (performance.now()). */
  private doorbellCheckedAt = -Infinity;
  /** A release started by the linger check; a batch waits for it before taking the lock again. */
  releasing: Promise<void> | undefined;

  constructor(
    private readonly storage: JournalStorage,
    private readonly dir: string,
    private readonly name: string,
    private readonly leaseMs: number,
    private readonly timeoutMs: number,
    private readonly state: FileJournalState,
  ) {}

  private get lock(): DirectoryLock {
    this.#lock ??= new DirectoryLock(this.storage, this.dir, this.name, this.leaseMs);
    return this.#lock;
  }

  /** The lock's random token: it names this writer in its START and in the FENCEs it appends. */
  get token(): string {
    return this.lock.token;
  }

  get held(): boolean {
    return this.#lock?.held === true;
  }

  /** Takes the lock unless held (the first time, sweeping what crashed holders left). */
  async acquire(): Promise<void> {
    if (this.lock.held) return;
    await this.lock.acquire(this.timeoutMs);
    if (!this.swept) {
      this.swept = true;
      await this.lock.sweepLeftovers();
    }
  }

  /**
   * After a batch: keeps the lock unless another process is waiting for it (or the batch failed,
   * or we close): for the next batch when appends are queued, else for a linger. A writer
   * handing the lock to another one seals its fragment first: the other will start a new epoch
   * anyway, and the SEAL confirms our last commit and checksums the fragment.
   */
  async releaseUnlessBusy(failed: boolean): Promise<void> {
    if (this.#lock?.held !== true) return;
    const state = this.state;
    try {
      const keep = !failed && !state.closed && !(await this.doorbellRang());
      if (!keep) {
        this.stopLingering();
        if (!failed && !state.closed) await state.owned?.seal().catch(() => undefined);
        await this.lock.release();
      } else if (state.pendingAppends() === 0) {
        this.lingerUntil = Date.now() + LOCK_LINGER_MS;
        this.scheduleLingerCheck();
      }
    } catch {
      this.stopLingering();
      await this.lock.release().catch(() => undefined);
    }
  }

  /**
   * Whether another process waits for the lock, looked at no more often than the linger check
   * does: a stat after every batch would be per-commit I/O at concurrency 1. With no append
   * queued the answer can wait for the linger check (DOORBELL_CHECK_MS away), and while appends
   * keep coming a waiter gets the lock at most DOORBELL_CHECK_MS later than it would have.
   */
  private async doorbellRang(): Promise<boolean> {
    const now = performance.now();
    if (this.state.pendingAppends() === 0 || now - this.doorbellCheckedAt < DOORBELL_CHECK_MS) {
      return false;
    }
    this.doorbellCheckedAt = now;
    return this.lock.othersWaiting();
  }

  /**
   * After an idle confirmation: the linger check skips a busy writer, so a confirmation must not
   * leave the lock held for good (it would then wait a whole lease to be taken).
   */
  lingerAfterConfirm(): void {
    if (this.held && this.state.pendingAppends() === 0 && !this.state.closed) {
      this.scheduleLingerCheck();
    }
  }

  private scheduleLingerCheck(): void {
    if (this.lingerCheck !== undefined) return;
    // Not unref'd: a process that exits without close() waits out the linger and releases the
    // lock, rather than leaving it for others to wait a lease for.
    this.lingerCheck = setTimeout(() => {
      this.lingerCheck = undefined;
      void this.checkLingeringLock();
    }, DOORBELL_CHECK_MS);
  }

  private stopLingering(): void {
    if (this.lingerCheck !== undefined) clearTimeout(this.lingerCheck);
    this.lingerCheck = undefined;
  }

  /** Releases the idle lock once the linger is over or another process rang the doorbell. */
  private async checkLingeringLock(): Promise<void> {
    const state = this.state;
    const busy = (): boolean =>
      !this.lock.held || state.writing > 0 || state.pendingAppends() > 0 || state.closed;
    if (busy()) return;
    let release = Date.now() >= this.lingerUntil;
    if (!release) release = await this.lock.othersWaiting().catch(() => true);
    if (busy()) return;
    if (!release) {
      this.scheduleLingerCheck();
      return;
    }
    this.releasing = this.lock.release().then(
      () => {
        this.releasing = undefined;
      },
      () => {
        this.releasing = undefined;
      },
    );
    await this.releasing;
  }

  /** On close, first: no more linger checks, and a release under way has finished. */
  async quiesce(): Promise<void> {
    this.stopLingering();
    await this.releasing;
  }

  /** On close, last: lets the lock go for good (best effort: a dead holder's lease runs out). */
  async dispose(): Promise<void> {
    await this.#lock?.dispose().catch(() => undefined);
  }
}
