/**
 * FileJournal: the embedded default Journal, one directory per journal (format version 2).
 *
 * The journal is a chain of fragments (fragment-layout.ts): each writer epoch appends to a
 * fragment of its own, `<epoch>.data` for the bytes and `<epoch>.index` for checksummed records
 * (START, COMMIT, SEAL, FENCE; fragment-record.ts). The journal's content, what `export` writes,
 * is the concatenation of the fragments' committed bytes.
 *
 * Safety does not rest on the lock. A writer starts an epoch by claiming it exclusively and
 * fencing the epoch before it (takeover.ts): from the FENCE on, nothing the old writer writes is
 * ever read, so two processes that both believe they hold the lock cannot lose or overwrite each
 * other's acknowledged appends; the loser's next commit finds the FENCE where its record should
 * be and is retried in a new epoch (or rejected by its register check: that is how a zombie
 * Recorder is stopped). The lock (file-lock.ts) only keeps writers from taking turns per batch;
 * a holder that does not answer the doorbell within the lease loses it.
 *
 * Commit (fragment-writer.ts): the batch's bytes are written and fdatasynced, then its COMMIT
 * record (with the data's CRC-32C and the previous record's CRC) is appended and fdatasynced;
 * only then are the appends resolved. When the writer goes idle it confirms its last commit with
 * an empty one; closing seals the fragment with its checksum. A fragment is rolled (sealed, and a
 * new epoch started) once it holds `fragmentBytes`.
 *
 * Reads need no lock, never write and work on read-only storage: open discovers the chain
 * (fragment-chain.ts); reads verify the CRC of every commit they return bytes from, so a damaged
 * byte is a JournalCorruptError, never a wrong byte. Nothing is ever truncated: a torn tail is
 * simply never read (the next writer starts a fragment of its own), so no crash evidence and no
 * byte a reader might need is destroyed. `prune` deletes whole fragments below what hints need.
 *
 * Sync failure (the fsyncgate lesson): once a write or fdatasync fails, the batch rejects with
 * JournalWriteError and this journal refuses further appends until reopened.
 */
import { join, resolve } from 'node:path';
import type {
  AppendOptions,
  AppendResult,
  Journal,
  ReadOptions,
  ReadResult,
  Registers,
} from './journal.js';
import {
  InvalidJournalNameError,
  JournalClosedError,
  JournalContendedError,
  JournalExistsError,
  JournalIOError,
  JournalReadOnlyError,
  JournalWriteError,
  OffsetNotYetAvailableError,
  errorCode,
} from './errors.js';
import { RecoveryLogError } from '../errors.js';
import { journalNameProblem } from '../journal-name.js';
import {
  AppendQueue,
  planBatch,
  type CommitHooks,
  type JournalStats,
  type QueuedAppend,
} from './group-commit.js';
import { HeadWaiters, checkReadOffset, readLength } from './head-waiters.js';
import { EMPTY_REGISTERS } from './registers.js';
import { DEFAULT_LOCK_LEASE_MS, DirectoryLock } from './file-lock.js';
import { META_FILE, LEGACY_FORMAT_VERSION, readMeta, writeMeta } from './journal-meta.js';
import { nodeStorage, type JournalStorage } from './storage.js';
import { discoverChain, type Chain } from './fragment-chain.js';
import { Fragment, FragmentGoneError, type VerifiedSpan } from './fragment-io.js';
import { FencedError, type OwnedFragment } from './fragment-writer.js';
import { fsyncDirectory, startEpoch } from './takeover.js';
import { describeFragment, pruneFragments, type FragmentInfo, type PruneResult } from './prune.js';
import type { FSMHints } from '../wire/types.js';
import { LEGACY_COMMITS_FILE, LEGACY_DATA_FILE } from './fragment-layout.js';

export interface FileJournalOptions {
  /** How long an append waits for another live process's lock before JournalLockedError (10 s). */
  lockTimeoutMs?: number;
  /**
   * A lock holder that leaves the doorbell unanswered this long loses the lock (2 s). Safety does
   * not depend on it: a holder that was only paused is fenced when it resumes.
   */
  lockLeaseMs?: number;
  /** Polling period of blocking reads, the fallback when fs.watch misses a change (50 ms). */
  pollIntervalMs?: number;
  /** A fragment is sealed and a new one started once it holds this many bytes (32 MiB). */
  fragmentBytes?: number;
  /** Refuse appends (JournalReadOnlyError); what the read-only CLI verbs use. */
  readOnly?: boolean;
  /** Fault injection and delays for tests (see CommitHooks). */
  hooks?: CommitHooks;
  /** The file system to use (default node:fs); tests pass a simulated disk. */
  storage?: JournalStorage;
}

const DEFAULT_LOCK_TIMEOUT_MS = 10_000;
const DEFAULT_POLL_INTERVAL_MS = 50;
export const DEFAULT_FRAGMENT_BYTES = 32 * 1024 * 1024;
/** Fenced commits retried in a new epoch before the batch fails (each means another writer won). */
const MAX_FENCED_RETRIES = 32;
/**
 * An idle appender keeps the lock this long after its last batch. Bounded, so that a process
 * that stops appending (or exits without close) does not leave the lock taken for long.
 */
const LOCK_LINGER_MS = 50;
/** How often a lingering holder looks at the doorbell: another process waits about this long. */
const DOORBELL_CHECK_MS = 5;
/** An idle writer confirms its last commit after this long (see fragment-writer.ts). */
const CONFIRM_DELAY_MS = 10;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isEmpty(data: Uint8Array | readonly Uint8Array[]): boolean {
  return data instanceof Uint8Array
    ? data.byteLength === 0
    : data.every((chunk) => chunk instanceof Uint8Array && chunk.byteLength === 0);
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return JSON.stringify(error) ?? String(error); // not an Error: show what it is
  } catch {
    return String(error);
  }
}

/** Runs `task`, turning an operating-system error it meets into a JournalIOError. */
async function typedIO<T>(
  journal: string,
  dir: string,
  action: string,
  task: () => Promise<T>,
): Promise<T> {
  try {
    return await task();
  } catch (error) {
    if (error instanceof RecoveryLogError) throw error;
    throw new JournalIOError(journal, dir, action, error);
  }
}

/**
 * Refuses to create over an existing journal. An interrupted create can only leave journal.json
 * temp files (or, from version 1, empty data/commits files): those are cleared; anything else is
 * someone's data and is left alone.
 */
async function clearUnfinishedCreate(storage: JournalStorage, root: string): Promise<void> {
  const entries = await storage.readdir(root);
  if (entries.includes(META_FILE))
    throw new JournalExistsError(root, `${META_FILE} already exists`);
  const leftovers: string[] = [];
  for (const entry of entries) {
    if (entry.startsWith(`${META_FILE}.tmp-`)) {
      leftovers.push(entry);
    } else if (entry === LEGACY_DATA_FILE || entry === LEGACY_COMMITS_FILE) {
      const size = (await storage.stat(join(root, entry))).size;
      if (size > 0) {
        throw new JournalExistsError(
          root,
          `${entry} holds ${size} bytes but ${META_FILE} is missing; this is not an unfinished ` +
            'create, so it is left alone: move it away or choose another directory',
        );
      }
      leftovers.push(entry);
    } else if (/^\d{10}\.(index|data)$/.test(entry)) {
      throw new JournalExistsError(
        root,
        `fragment file ${entry} exists but ${META_FILE} is missing; move it away or choose ` +
          'another directory',
      );
    }
  }
  for (const file of leftovers) await storage.unlink(join(root, file));
}

export class FileJournal implements Journal {
  readonly name: string;
  readonly dir: string;
  private chain: Chain = { fragments: [], low: 0, prunedBelow: -1, topClaimed: 0 };
  private owned: OwnedFragment | undefined;
  /**
   * The last verified span a read returned bytes from: a reader moving through a commit larger
   * than its `maxBytes` is served from it without reading and checking the commit again.
   */
  private lastSpan: VerifiedSpan | undefined;
  private readonly queue: AppendQueue;
  private readonly waiters: HeadWaiters;
  /** Made on the first append: readers never need it (nor its random token). */
  #lock: DirectoryLock | undefined;
  private readonly lockLeaseMs: number;
  private readonly lockTimeoutMs: number;
  private readonly pollIntervalMs: number;
  private readonly fragmentBytes: number;
  private readonly readOnly: boolean;
  private readonly hooks: CommitHooks | undefined;
  private swept = false;
  /** True while a batch (or a confirmation) writes: refreshes must not run meanwhile. */
  private batchInFlight = false;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private confirming: Promise<void> | undefined;
  private confirmTimer: NodeJS.Timeout | undefined;
  /** Corruption found while following other processes' commits: every call fails with it. */
  private broken: Error | undefined;
  private closed = false;
  private watcher: { close(): void } | undefined;
  private poller: NodeJS.Timeout | undefined;
  /** While the lock lingers (see LOCK_LINGER_MS): when it must go, and the next doorbell check. */
  private lingerUntil = 0;
  private lingerCheck: NodeJS.Timeout | undefined;
  /** A release started by the linger check; a batch waits for it before taking the lock again. */
  private releasing: Promise<void> | undefined;

  private constructor(
    dir: string,
    name: string,
    private metaVersion: number,
    private readonly storage: JournalStorage,
    options: FileJournalOptions,
  ) {
    this.dir = dir;
    this.name = name;
    this.lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.fragmentBytes = Math.max(1, options.fragmentBytes ?? DEFAULT_FRAGMENT_BYTES);
    this.readOnly = options.readOnly === true;
    this.hooks = options.hooks;
    this.queue = new AppendQueue(name, (batch) => this.commit(batch));
    this.waiters = new HeadWaiters(name, {
      onFirstWaiter: () => this.startWatching(),
      onNoWaiters: () => this.stopWatching(),
    });
    this.lockLeaseMs = options.lockLeaseMs ?? DEFAULT_LOCK_LEASE_MS;
  }

  private get lock(): DirectoryLock {
    this.#lock ??= new DirectoryLock(this.storage, this.dir, this.name, this.lockLeaseMs);
    return this.#lock;
  }

  /**
   * Creates a journal in `dir` (created if missing; it must not hold a journal yet) and opens it.
   * journal.json and the directory (and its parent) are fsynced, so the empty journal survives a
   * crash once this resolves. Fragment files appear with the first append.
   */
  static async create(
    dir: string,
    name: string,
    options: FileJournalOptions = {},
  ): Promise<FileJournal> {
    return typedIO(resolve(dir), resolve(dir), 'create a journal in', async () => {
      const problem = journalNameProblem(name);
      if (problem !== undefined) throw new InvalidJournalNameError(name, problem);
      const storage = options.storage ?? nodeStorage;
      const root = resolve(dir);
      await storage.mkdir(root, { recursive: true });
      await clearUnfinishedCreate(storage, root);
      await writeMeta(storage, root, name);
      await fsyncDirectory(storage, root);
      await fsyncDirectory(storage, resolve(root, '..'));
      return FileJournal.open(root, options);
    });
  }

  /**
   * Opens the journal in `dir` for reading and appending. Opening writes nothing and takes no
   * lock (a read-only disk is fine); the first append starts a writer epoch.
   */
  static async open(dir: string, options: FileJournalOptions = {}): Promise<FileJournal> {
    return typedIO(resolve(dir), resolve(dir), 'open the journal in', async () => {
      const storage = options.storage ?? nodeStorage;
      const root = resolve(dir);
      const { name, version } = await readMeta(storage, root);
      const journal = new FileJournal(root, name, version, storage, options);
      journal.chain = await discoverChain(storage, root);
      return journal;
    });
  }

  /** Counters: `syncs` counts batch commits (one data + one record fdatasync each). */
  get stats(): Readonly<JournalStats> {
    return { ...this.queue.stats };
  }

  append(data: Uint8Array | readonly Uint8Array[], options?: AppendOptions): Promise<AppendResult> {
    // A barrier writes nothing, so a read-only journal answers it too.
    if (this.readOnly && (!isEmpty(data) || options?.unionRegisters !== undefined)) {
      return Promise.reject(new JournalReadOnlyError(this.name, this.dir));
    }
    return this.queue.append(data, options);
  }

  async read(offset: number, options: ReadOptions): Promise<ReadResult> {
    checkReadOffset(this.name, offset);
    for (;;) {
      this.assertUsable();
      if (offset >= this.currentHead()) {
        await this.refresh(); // another process may have committed since
        this.assertUsable();
      }
      const head = this.currentHead();
      if (offset < head) {
        // Bytes below the first retained fragment were pruned: an offset jump (see ReadResult).
        const at = Math.max(offset, this.chain.low);
        const fragment = this.fragmentAt(at);
        const limit = readLength(fragment.end - at, options.maxBytes);
        let span = this.lastSpan;
        try {
          if (span === undefined || at < span.from || at >= span.to) {
            span = await fragment.readSpan(at, limit);
            this.lastSpan = span;
          }
        } catch (error) {
          if (error instanceof RecoveryLogError) throw error;
          if (this.closed) throw new JournalClosedError(this.name);
          if (errorCode(error) === 'ENOENT' || error instanceof FragmentGoneError) {
            // Pruned by another process meanwhile: look again, then jump past it.
            await this.reloadChain();
            continue;
          }
          throw new JournalIOError(this.name, fragment.dataPath, 'read', error);
        }
        const start = at - span.from;
        const length = Math.min(limit, span.to - at);
        // A plain Uint8Array view (what callers expect), not a Buffer.
        const bytes = new Uint8Array(span.bytes.buffer, span.bytes.byteOffset + start, length);
        return { offset: at, bytes };
      }
      if (!options.blocking) throw new OffsetNotYetAvailableError(this.name, offset, head);
      await this.waiters.wait(offset, options.signal);
    }
  }

  async head(): Promise<number> {
    this.assertUsable();
    await this.refresh();
    this.assertUsable();
    return this.currentHead();
  }

  async registers(): Promise<Registers> {
    this.assertUsable();
    await this.refresh();
    this.assertUsable();
    return this.top()?.index?.registers ?? EMPTY_REGISTERS;
  }

  /** The fragments of the journal, oldest first (loads every index; for listings). */
  async fragments(): Promise<FragmentInfo[]> {
    this.assertUsable();
    await this.refresh();
    for (let attempt = 0; ; attempt += 1) {
      try {
        const infos: FragmentInfo[] = [];
        for (const fragment of this.chain.fragments) {
          infos.push(describeFragment(fragment, await fragment.loaded()));
        }
        return infos;
      } catch (error) {
        // Pruned by another process while we listed: list the chain as it is now.
        if (!(error instanceof FragmentGoneError) || attempt >= 2) throw error;
        await this.reloadChain();
      }
    }
  }

  /** The first offset the journal still holds (0 unless pruned). */
  get low(): number {
    return this.chain.low;
  }

  /**
   * Deletes the fragments that lie wholly below the lowest offset any of `hintsList` needs
   * (pass the primary hints and every backup). The newest fragment is never deleted. With
   * `dryRun`, only reports what would go. See prune.ts for the crash-safe order.
   */
  async prune(
    hintsList: readonly FSMHints[],
    options: { dryRun?: boolean } = {},
  ): Promise<PruneResult> {
    this.assertUsable();
    if (this.readOnly && options.dryRun !== true) {
      throw new JournalReadOnlyError(this.name, this.dir);
    }
    return typedIO(this.name, this.dir, 'prune', async () => {
      await this.reloadChain();
      const result = await pruneFragments(
        this.storage,
        this.dir,
        this.name,
        this.chain,
        hintsList,
        options.dryRun === true,
      );
      if (result.deleted.length > 0 && options.dryRun !== true) await this.reloadChain();
      return result;
    });
  }

  /**
   * Lets queued appends finish, seals this writer's fragment, then releases the lock and the
   * files. Pending reads reject; later calls throw JournalClosedError.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.waiters.rejectAll(new JournalClosedError(this.name));
    this.stopWatching();
    await this.queue.close();
    await this.refreshing;
    this.cancelConfirm();
    await this.confirming;
    this.stopLingering();
    await this.releasing;
    const owned = this.owned;
    this.owned = undefined;
    if (owned !== undefined) {
      if (this.queue.failedWith === undefined) await owned.seal().catch(() => undefined);
      await owned.close();
    }
    await this.#lock?.dispose().catch(() => undefined);
    await Promise.all(this.chain.fragments.map((fragment) => fragment.close()));
  }

  private top(): Fragment | undefined {
    return this.chain.fragments.at(-1);
  }

  private currentHead(): number {
    return this.top()?.index?.end ?? this.chain.low;
  }

  /** The fragment holding `offset` (low ≤ offset < head). */
  private fragmentAt(offset: number): Fragment {
    const fragments = this.chain.fragments;
    let low = 0;
    let high = fragments.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if ((fragments[mid] as Fragment).begin <= offset) low = mid;
      else high = mid - 1;
    }
    return fragments[low] as Fragment;
  }

  private assertUsable(): void {
    if (this.closed) throw new JournalClosedError(this.name);
    if (this.broken !== undefined) throw this.broken;
  }

  // ---- following other processes --------------------------------------------------------

  /** Rediscovers the chain, reusing what is known (closed fragments never change). */
  private async reloadChain(): Promise<void> {
    const known = new Map(this.chain.fragments.map((fragment) => [fragment.epoch, fragment]));
    const chain = await discoverChain(this.storage, this.dir, known);
    const owned = this.owned;
    const top = chain.fragments.at(-1);
    // Our own open fragment: readers of this process share the writer's index.
    if (owned !== undefined && top?.epoch === owned.epoch) top.index = owned.index;
    const dropped = this.chain.fragments.filter((fragment) => !chain.fragments.includes(fragment));
    this.chain = chain;
    await Promise.all(dropped.map((fragment) => fragment.close()));
  }

  /** Picks up what other processes committed, unless our own batch is in flight. */
  private refresh(): Promise<void> {
    if (this.batchInFlight || this.closed || this.broken !== undefined) return Promise.resolve();
    if (this.refreshing !== undefined) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.refreshAgain = false;
          if (this.batchInFlight || this.closed) break;
          await this.followOthers();
        } while (this.refreshAgain);
      } catch (error) {
        if (!this.closed) this.fail(error);
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private async followOthers(): Promise<void> {
    const before = this.currentHead();
    const owned = this.owned;
    // While our epoch is unfenced nobody else can commit: our state is the journal's.
    if (owned !== undefined && !owned.ended && !(await owned.wasFenced())) return;
    const top = this.top();
    if (top === undefined || (await top.refreshIndex(), top.index?.closed !== false)) {
      await this.reloadChain();
    }
    const head = this.currentHead();
    if (head > before) this.waiters.notify(head);
  }

  private fail(error: unknown): void {
    this.broken =
      error instanceof RecoveryLogError
        ? error
        : new JournalIOError(this.name, this.dir, 'read new commits from', error);
    this.waiters.rejectAll(this.broken);
  }

  private startWatching(): void {
    if (this.closed) return;
    this.watcher = this.storage.watch?.(this.dir, () => void this.refresh());
    this.poller = setInterval(() => void this.refresh(), this.pollIntervalMs);
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.poller !== undefined) clearInterval(this.poller);
    this.poller = undefined;
  }

  // ---- committing -------------------------------------------------------------------------

  /** Our writer epoch, starting one (fencing the previous writer) when we have none. */
  private async ensureOwned(): Promise<OwnedFragment> {
    if (this.owned !== undefined && !this.owned.ended) return this.owned;
    if (this.owned !== undefined) {
      await this.owned.close();
      this.owned = undefined;
    }
    if (this.metaVersion === LEGACY_FORMAT_VERSION) {
      // Version 1 readers would see only the legacy prefix: make them refuse the journal instead.
      await writeMeta(this.storage, this.dir, this.name);
      await fsyncDirectory(this.storage, this.dir);
      this.metaVersion = 2;
    }
    // The lock's random token names this writer in its START and in the FENCEs it appends.
    const owned = await startEpoch(this.storage, this.dir, this.lock.token);
    this.owned = owned;
    await this.reloadChain();
    return owned;
  }

  private async commit(entries: QueuedAppend[]): Promise<void> {
    this.batchInFlight = true;
    let failed = false;
    try {
      await this.refreshing;
      await this.releasing;
      this.cancelConfirm();
      await this.confirming;
      if (this.broken !== undefined) throw this.broken;
      if (entries.every((entry) => entry.size === 0 && entry.unionRegisters === undefined)) {
        // Only barriers (and register checks): they write nothing, so they need neither the lock
        // nor an epoch. Answer them at the latest head and registers we can see.
        await this.followOthers();
        const top = this.top()?.index;
        const plan = planBatch(this.name, entries, this.currentHead(), top?.registers ?? {});
        this.queue.settle(plan, false);
        return;
      }
      if (!this.lock.held) {
        await this.lock.acquire(this.lockTimeoutMs);
        if (!this.swept) {
          this.swept = true;
          await this.lock.sweepLeftovers();
        }
      }
      for (let attempt = 0; ; attempt += 1) {
        const owned = await this.ensureOwned();
        for (const entry of entries) {
          entry.result = undefined;
          entry.error = undefined;
        }
        const plan = planBatch(this.name, entries, owned.index.end, owned.index.registers);
        if (!plan.needsCommit) {
          this.queue.settle(plan, false);
          return;
        }
        try {
          await owned.commit(plan, this.hooks);
        } catch (error) {
          // Another writer fenced our epoch: nothing of this batch committed. Continue in a new
          // epoch after theirs, checking registers against their state.
          if (!(error instanceof FencedError)) throw error;
          if (attempt + 1 >= MAX_FENCED_RETRIES) {
            throw new JournalContendedError(this.name, MAX_FENCED_RETRIES);
          }
          // Two writers fencing each other in turn could go on forever: back off at random.
          await sleep(Math.random() * 2 ** Math.min(attempt, 8));
          continue;
        }
        this.waiters.notify(owned.index.end);
        this.queue.settle(plan, true);
        if (owned.size >= this.fragmentBytes) {
          // Roll: the next batch starts a new epoch. Being fenced first ends the epoch as well.
          await owned.seal().catch((error: unknown) => {
            if (!(error instanceof FencedError)) throw error;
          });
        }
        return;
      }
    } catch (error) {
      failed = true;
      // Lock and refresh I/O (e.g. EROFS once ext4 aborts its journal) fails the batch like a
      // data write does: a typed error, never a raw errno.
      throw error instanceof RecoveryLogError
        ? error
        : new JournalWriteError(this.name, describe(error), error);
    } finally {
      this.batchInFlight = false;
      await this.releaseLockUnlessBusy(failed);
      if (!failed && this.queue.pendingCount === 0) this.scheduleConfirm();
    }
  }

  // ---- idle: confirming the last commit, releasing the lock ---------------------------------

  private scheduleConfirm(): void {
    if (this.confirmTimer !== undefined || this.owned?.unconfirmed !== true) return;
    this.confirmTimer = setTimeout(() => {
      this.confirmTimer = undefined;
      if (this.batchInFlight || this.closed || this.queue.pendingCount > 0) return;
      const owned = this.owned;
      if (owned === undefined) return;
      this.batchInFlight = true;
      this.confirming = owned
        .confirm()
        .catch(() => {
          // Nothing waits on a confirmation; a failed one only retires this epoch (the next
          // writer fences it), since a failed sync leaves the file in doubt.
          owned.ended = true;
        })
        .finally(() => {
          this.batchInFlight = false;
          this.confirming = undefined;
          // The idle-lock check skips a busy writer; a confirmation must not leave the lock
          // held for good (it would then wait a whole lease to be taken).
          if (this.#lock?.held === true && this.queue.pendingCount === 0 && !this.closed) {
            this.scheduleLingerCheck();
          }
        });
    }, CONFIRM_DELAY_MS);
    this.confirmTimer.unref?.();
  }

  private cancelConfirm(): void {
    if (this.confirmTimer !== undefined) clearTimeout(this.confirmTimer);
    this.confirmTimer = undefined;
  }

  /**
   * Keeps the lock unless another process is waiting for it (or the batch failed, or we close):
   * for the next batch when appends are queued, else for a linger (see LOCK_LINGER_MS). A writer
   * handing the lock to another one seals its fragment first: the other will start a new epoch
   * anyway, and the SEAL confirms our last commit and checksums the fragment.
   */
  private async releaseLockUnlessBusy(failed: boolean): Promise<void> {
    if (this.#lock?.held !== true) return;
    try {
      const keep = !failed && !this.closed && !(await this.lock.othersWaiting());
      if (!keep) {
        this.stopLingering();
        if (!failed && !this.closed) await this.owned?.seal().catch(() => undefined);
        await this.lock.release();
      } else if (this.queue.pendingCount === 0) {
        this.lingerUntil = Date.now() + LOCK_LINGER_MS;
        this.scheduleLingerCheck();
      }
    } catch {
      this.stopLingering();
      await this.lock.release().catch(() => undefined);
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
    const busy = (): boolean =>
      !this.lock.held || this.batchInFlight || this.queue.pendingCount > 0 || this.closed;
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
}
