/**
 * The writer's hold on the directory lock (file-lock.ts) between batches. The lock is made on the
 * first append (readers never need it, nor its random token) and taken per batch; after a batch
 * it is kept for the next one, and once the writer is idle for a short linger, unless another
 * process rang the doorbell. Safety never rests on it (see file.ts): it only keeps writers from
 * taking turns per batch.
 *
 * Nothing here runs on the commit path while the lock is held: one timer (the watch), running
 * only while the lock is held, looks at the doorbell in the background (every
 * BUSY_DOORBELL_CHECK_MS while batches run, every DOORBELL_CHECK_MS once idle) and releases the
 * lock once the linger is over. A batch only reads what the watch last found, so a commit at
 * concurrency 1 costs no stat, whatever the commit rate. A lock stolen meanwhile (another
 * process broke it for a lapsed lease) is not looked for here at all: that writer fences our
 * epoch, and our next commit's read-back finds its FENCE (fragment-writer.ts).
 */
import { DirectoryLock } from './file-lock.js';
import type { FileJournalState } from './file-state.js';
import type { JournalStorage } from './storage.js';

/**
 * An idle appender keeps the lock this long after its last batch. Bounded, so that a process
 * that stops appending (or exits without close) does not leave the lock taken for long.
 */
const LOCK_LINGER_MS = 50;
/** How often an idle holder looks at the doorbell: another process waits about this long. */
const DOORBELL_CHECK_MS = 5;
/**
 * How often a busy holder looks: a waiter polls the lock about as often (file-lock.ts backs off
 * to 16 ms), and each hand-over costs a SEAL and a new epoch, so answering faster buys little.
 */
const BUSY_DOORBELL_CHECK_MS = 20;

export class IdleLock {
  #lock: DirectoryLock | undefined;
  private swept = false;
  /** When an idle holder lets the lock go (Date.now()); set at the end of each batch. */
  private lingerUntil = 0;
  /** The watch (see the header): armed while the lock is held. */
  private watchTimer: NodeJS.Timeout | undefined;
  /** The watch's doorbell look under way, if any. */
  private looking: Promise<void> | undefined;
  /** The last look at the doorbell found another process waiting for the lock. */
  private rung = false;
  /** Counts acquisitions: a look started under an earlier hold must not judge this one. */
  private hold = 0;
  /** A release started by the watch; a batch waits for it before taking the lock again. */
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
    this.hold += 1;
    this.rung = false;
    this.lingerUntil = Date.now() + LOCK_LINGER_MS;
    this.startWatch();
    if (!this.swept) {
      this.swept = true;
      await this.lock.sweepLeftovers();
    }
  }

  /**
   * After a batch: keeps the lock unless another process is waiting for it (as the watch last
   * saw), the batch failed, or we close. Synchronous (undefined) when the lock is kept: no I/O
   * and no await on the commit path. A writer handing the lock to another one seals its fragment
   * first: the other will start a new epoch anyway, and the SEAL confirms our last commit and
   * checksums the fragment.
   */
  releaseUnlessBusy(failed: boolean): Promise<void> | undefined {
    if (this.#lock?.held !== true) return undefined;
    const state = this.state;
    if (!failed && !state.closed && !this.rung) {
      this.lingerUntil = Date.now() + LOCK_LINGER_MS;
      return undefined;
    }
    this.stopWatch();
    return (async () => {
      if (!failed && !state.closed) await state.owned?.seal().catch(() => undefined);
      await this.lock.release().catch(() => undefined);
    })();
  }

  /** Arms the watch's next tick. Not unref'd: see checkWatch. */
  private startWatch(delayMs = DOORBELL_CHECK_MS): void {
    if (this.watchTimer !== undefined) return;
    this.watchTimer = setTimeout(() => {
      this.watchTimer = undefined;
      void this.checkWatch();
    }, delayMs);
  }

  private stopWatch(): void {
    if (this.watchTimer !== undefined) clearTimeout(this.watchTimer);
    this.watchTimer = undefined;
  }

  /**
   * One tick of the watch: an idle holder whose linger is over lets the lock go; otherwise the
   * doorbell is looked at, in the background of any batch. An idle holder that finds it rung
   * releases at once, a busy one at the end of its batch (releaseUnlessBusy). The timer keeps a
   * process that exits without close() alive until the lock is released, rather than leaving
   * others to wait a lease for it.
   */
  private async checkWatch(): Promise<void> {
    const state = this.state;
    const idle = (): boolean =>
      state.writing === 0 && state.pendingAppends() === 0 && !state.closed;
    if (!this.lock.held || state.closed) return;
    if (idle() && Date.now() >= this.lingerUntil) {
      this.releaseIdle();
      return;
    }
    if (this.looking === undefined) {
      const hold = this.hold;
      this.looking = this.lock.othersWaiting().then(
        (waiting) => {
          if (hold === this.hold) this.rung = waiting;
        },
        () => {
          // The doorbell cannot be read (the disk failing?): give the lock up rather than keep
          // a waiter waiting a lease.
          if (hold === this.hold) this.rung = true;
        },
      );
      await this.looking;
      this.looking = undefined;
    }
    if (!this.lock.held || state.closed) return;
    if (this.rung && idle()) {
      this.releaseIdle();
      return;
    }
    this.startWatch(idle() ? DOORBELL_CHECK_MS : BUSY_DOORBELL_CHECK_MS);
  }

  /** Releases the lock of an idle holder (a batch waits for `releasing` before taking it). */
  private releaseIdle(): void {
    this.stopWatch();
    const done = (): void => {
      this.releasing = undefined;
    };
    this.releasing = this.lock.release().then(done, done);
  }

  /** On close, first: no more watch, and a release or look under way has finished. */
  async quiesce(): Promise<void> {
    this.stopWatch();
    await this.looking;
    await this.releasing;
  }

  /** On close, last: lets the lock go for good (best effort: a dead holder's lease runs out). */
  async dispose(): Promise<void> {
    await this.#lock?.dispose().catch(() => undefined);
  }
}
