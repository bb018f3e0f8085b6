/**
 * FileJournal: the embedded default Journal, one directory per journal (format version 3).
 *
 * The journal is a chain of fragments (fragment-layout.ts): each writer epoch appends to a
 * fragment of its own, `<epoch>.index` for checksummed records (START, COMMIT, INLINE, SEAL,
 * FENCE; fragment-record.ts) with each small batch's bytes right after its INLINE record, and
 * `<epoch>.data` for the bytes of larger batches. The journal's content, what `export` writes,
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
 * Commit (fragment-writer.ts): a small batch is appended to the index as an INLINE record (with
 * the data's CRC-32C and the previous record's CRC) followed by its bytes, read back, and
 * fdatasynced: one write, one flush. A larger batch's bytes go to the data file, its COMMIT
 * record to the index, and both files are fdatasynced together. Only then are the appends
 * resolved. When the writer goes idle it confirms its last commit with
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
import { resolve } from 'node:path';
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
  JournalIOError,
  JournalReadOnlyError,
  OffsetNotYetAvailableError,
} from './errors.js';
import { RecoveryLogError } from '../errors.js';
import { journalNameProblem } from '../journal-name.js';
import { AppendQueue, type CommitHooks, type JournalStats } from './group-commit.js';
import { HeadWaiters, checkReadOffset } from './head-waiters.js';
import { DEFAULT_LOCK_LEASE_MS } from './file-lock.js';
import { readMeta } from './journal-meta.js';
import { nodeStorage, type JournalStorage } from './storage.js';
import { discoverChain } from './fragment-chain.js';
import { pruneFragments, type FragmentInfo, type PruneResult } from './prune.js';
import type { FSMHints } from '../wire/types.js';
import { createJournalDirectory } from './file-create.js';
import { ChainReader } from './file-reader.js';
import { Follower } from './file-follower.js';
import { Committer } from './file-committer.js';
import { IdleLock } from './idle-lock.js';
import type { FileJournalState } from './file-state.js';

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

function isEmpty(data: Uint8Array | readonly Uint8Array[]): boolean {
  return data instanceof Uint8Array
    ? data.byteLength === 0
    : data.every((chunk) => chunk instanceof Uint8Array && chunk.byteLength === 0);
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
 * The public face of the file journal. Its parts share one FileJournalState: the reader
 * (file-reader.ts: the chain and verified reads), the follower (file-follower.ts: other
 * processes' commits, blocked readers), the committer (file-committer.ts: batches, epochs,
 * idle confirmation) and the idle lock (idle-lock.ts).
 */
export class FileJournal implements Journal {
  readonly name: string;
  readonly dir: string;
  private readonly state: FileJournalState;
  private readonly queue: AppendQueue;
  private readonly waiters: HeadWaiters;
  private readonly reader: ChainReader;
  private readonly follower: Follower;
  private readonly idleLock: IdleLock;
  private readonly committer: Committer;
  private readonly readOnly: boolean;

  private constructor(
    dir: string,
    name: string,
    metaVersion: number,
    private readonly storage: JournalStorage,
    options: FileJournalOptions,
  ) {
    this.dir = dir;
    this.name = name;
    this.readOnly = options.readOnly === true;
    this.queue = new AppendQueue(name, (batch) => this.committer.commit(batch));
    const queue = this.queue;
    const state: FileJournalState = {
      owned: undefined,
      writing: 0,
      closed: false,
      pendingAppends: () => queue.pendingCount,
    };
    this.state = state;
    this.waiters = new HeadWaiters(name, {
      onFirstWaiter: () => this.follower.startWatching(),
      onNoWaiters: () => this.follower.stopWatching(),
    });
    this.reader = new ChainReader(storage, dir, name, state);
    const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.follower = new Follower(
      storage,
      dir,
      name,
      this.reader,
      this.waiters,
      pollIntervalMs,
      state,
    );
    const leaseMs = options.lockLeaseMs ?? DEFAULT_LOCK_LEASE_MS;
    const timeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    this.idleLock = new IdleLock(storage, dir, name, leaseMs, timeoutMs, state);
    const parts = { storage, dir, name, state, queue, waiters: this.waiters };
    this.committer = new Committer(
      {
        ...parts,
        reader: this.reader,
        follower: this.follower,
        lock: this.idleLock,
        fragmentBytes: Math.max(1, options.fragmentBytes ?? DEFAULT_FRAGMENT_BYTES),
        hooks: options.hooks,
      },
      metaVersion,
    );
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
      const root = resolve(dir);
      await createJournalDirectory(options.storage ?? nodeStorage, root, name);
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
      journal.reader.chain = await discoverChain(storage, root);
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
      if (offset >= this.reader.head()) {
        await this.follower.refresh(); // another process may have committed since
        this.assertUsable();
      }
      const head = this.reader.head();
      if (offset < head) {
        const result = await this.reader.readAt(offset, options.maxBytes, options.into);
        if (result !== undefined) return result;
        continue; // pruned by another process meanwhile: look again, then jump past it
      }
      if (!options.blocking) throw new OffsetNotYetAvailableError(this.name, offset, head);
      await this.waiters.wait(offset, options.signal);
    }
  }

  async head(): Promise<number> {
    await this.catchUp();
    return this.reader.head();
  }

  async registers(): Promise<Registers> {
    await this.catchUp();
    return this.reader.registers();
  }

  /** The fragments of the journal, oldest first (loads every index; for listings). */
  async fragments(): Promise<FragmentInfo[]> {
    this.assertUsable();
    await this.follower.refresh();
    return this.reader.describeAll();
  }

  /** The first offset the journal still holds (0 unless pruned). */
  get low(): number {
    return this.reader.low;
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
      await this.reader.reload();
      const result = await pruneFragments(
        this.storage,
        this.dir,
        this.name,
        this.reader.chain,
        hintsList,
        options.dryRun === true,
      );
      if (result.deleted.length > 0 && options.dryRun !== true) await this.reader.reload();
      return result;
    });
  }

  /**
   * Lets queued appends finish, seals this writer's fragment, then releases the lock and the
   * files. Pending reads reject; later calls throw JournalClosedError.
   */
  async close(): Promise<void> {
    if (this.state.closed) return;
    this.state.closed = true;
    this.waiters.rejectAll(new JournalClosedError(this.name));
    this.follower.stopWatching();
    await this.queue.close();
    await this.follower.refreshing;
    this.committer.cancelConfirm();
    await this.committer.confirming;
    await this.idleLock.quiesce();
    await this.committer.closeOwned(this.queue.failedWith === undefined);
    await this.idleLock.dispose();
    await this.reader.close();
  }

  /** Picks up other processes' commits before answering head or registers. */
  private async catchUp(): Promise<void> {
    this.assertUsable();
    await this.follower.refresh();
    this.assertUsable();
  }

  private assertUsable(): void {
    if (this.state.closed) throw new JournalClosedError(this.name);
    if (this.follower.broken !== undefined) throw this.follower.broken;
  }
}
