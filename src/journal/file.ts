/**
 * FileJournal: the embedded default Journal, one directory per journal.
 *
 * On disk:
 *   DIR/journal.json   format tag, version and name; written once (temp + fsync + rename + dir
 *                      fsync), its presence marks a complete journal (see journal-meta.ts).
 *   DIR/data           the raw concatenation of every appended byte: exactly the journal's
 *                      content, so export is a copy and reads are positional reads.
 *   DIR/commits        one commit record per committed batch (see commit-record.ts): the batch's
 *                      [begin, end), the CRC-32C of its data, and the registers when they change.
 *                      The committed head is the `end` of the last valid record; `data` may hold
 *                      bytes beyond it (an unfinished batch), which nobody reads.
 *   DIR/lock, DIR/lock.<token>, DIR/lock-want   the cross-process append lock (file-lock.ts).
 *
 * Commit (one per batch of appends, holding the lock): write the batch's bytes to `data` at the
 * head with one positional writev (CRC computed meanwhile), fdatasync `data`, then write the
 * record at the end of `commits` and fdatasync it, and only then resolve the appends and expose
 * the bytes to readers of this process. Because the data is durable before any record claims
 * it, a complete record always describes durable data: a crash can only leave bytes beyond the
 * last record, or a torn record, never a record without its data. (Syncing both files
 * concurrently would save one sync latency per batch, but then a record whose data does not
 * match could be an unfinished commit or damaged acknowledged data, and the two could not be
 * told apart: the simulated crash layer showed acknowledged data silently dropped that way.)
 *
 * Open (recovery, when the lock is free or its holder is dead): take the last record (parsed
 * backwards from the file's end; a forward scan when the tail is torn), verify its data CRC
 * against `data` (a mismatch is corruption: JournalCorruptError), cut the torn tails of both
 * files, and fdatasync both (a killed writer may have left its last batch unsynced). Older
 * records are not re-verified at open, to keep it cheap; the recovery log's own checksum chain
 * catches damage there at playback. So after a crash at any instant a reopen exposes a prefix of
 * whole appends that contains every acknowledged one.
 *
 * Cross-process: appenders take the lock per batch and keep it while their queue stays busy, and
 * for a short linger once it is idle (the next batch then skips link + stat + unlink, a large part
 * of a small synced batch), releasing it at once when another process rings the doorbell (checked
 * after each batch and every few milliseconds while lingering). On taking it they read the records
 * other processes
 * committed meanwhile, so offsets, register checks (fencing) and the head are always against the
 * latest durable state. Readers never lock: they parse new records (stopping at an incomplete
 * one) when a blocking read waits (fs.watch on the directory, plus polling as a fallback), or
 * when a read or head() call finds itself at the head. Another process can see a batch once its
 * record is written, a moment before its fdatasync returns; only an OS crash or a failed sync can
 * take such a batch back, and an OS crash takes the readers of this host down with it.
 *
 * Sync failure (the fsyncgate lesson): once a write or fdatasync fails, the kernel may have
 * dropped the dirty pages, and no later sync can be trusted to cover them. The batch rejects with
 * JournalWriteError, its record is truncated away (best effort), and this journal refuses all
 * further appends until it is reopened, which re-validates the files.
 *
 * All I/O goes through a JournalStorage (node:fs by default), so the crash tests can run this
 * very code on a simulated disk. Test switches from src/testing/faults.ts: the seeded bugs
 * ackBeforeSync, noDirFsync and noTornTailCut, and the failpoint kill-journal-after-sync.
 */
import { dirname, join, resolve } from 'node:path';
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
  JournalCorruptError,
  JournalExistsError,
  JournalIOError,
  JournalLockedError,
  JournalWriteError,
  OffsetNotYetAvailableError,
} from './errors.js';
import { RecoveryLogError } from '../errors.js';
import { journalNameProblem } from '../journal-name.js';
import {
  AppendQueue,
  planBatch,
  type CommitHooks,
  type JournalStats,
  type PlannedBatch,
  type QueuedAppend,
} from './group-commit.js';
import { HeadWaiters, checkReadOffset, readLength } from './head-waiters.js';
import { EMPTY_REGISTERS } from './registers.js';
import {
  NO_REGISTERS,
  RECORD_FIXED_BYTES,
  RECORD_MAX_BYTES,
  RECORD_TRAILER_BYTES,
  crc32c,
  decodeCommitRecord,
  encodeCommitRecord,
  trailerLength,
  type CommitRecord,
} from './commit-record.js';
import { DirectoryLock, errorCode } from './file-lock.js';
import { META_FILE, readMeta, writeMeta } from './journal-meta.js';
import { nodeStorage, type JournalStorage, type StorageFileHandle } from './storage.js';
import { failpoint, seededBug } from '../testing/faults.js';

type FileHandle = StorageFileHandle;

export interface FileJournalOptions {
  /** How long an append waits for another process's lock before JournalLockedError (10 s). */
  lockTimeoutMs?: number;
  /** Polling period of blocking reads, the fallback when fs.watch misses a change (50 ms). */
  pollIntervalMs?: number;
  /** Fault injection and delays for tests (see CommitHooks). */
  hooks?: CommitHooks;
  /** The file system to use (default node:fs); tests pass a simulated disk. */
  storage?: JournalStorage;
}

const DATA_FILE = 'data';
const COMMITS_FILE = 'commits';
const DEFAULT_LOCK_TIMEOUT_MS = 10_000;
const DEFAULT_POLL_INTERVAL_MS = 50;
/** Chunk size for scanning records and verifying data CRCs. */
const IO_CHUNK = 1024 * 1024;
/** Appended chunks smaller than this are copied together before the write (fewer iovecs). */
const COALESCE_BELOW = 64 * 1024;
/** At most this many buffers per writev call (Linux IOV_MAX). */
const MAX_IOVECS = 1024;
/**
 * An idle appender keeps the lock this long after its last batch. Bounded, so that a process
 * that stops appending (or exits without close) does not leave the lock taken for long.
 */
const LOCK_LINGER_MS = 50;
/** How often a lingering holder looks at the doorbell: another process waits about this long. */
const DOORBELL_CHECK_MS = 5;

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The committed state as far as this process knows it. */
interface CommittedState {
  head: number;
  registers: Registers;
  registersAt: number;
  /** Position in the commits file just after the last valid record. */
  commitsEnd: number;
  last: CommitRecord | undefined;
}

const EMPTY_STATE: CommittedState = {
  head: 0,
  registers: EMPTY_REGISTERS,
  registersAt: NO_REGISTERS,
  commitsEnd: 0,
  last: undefined,
};

async function fsyncDirectory(storage: JournalStorage, dir: string): Promise<void> {
  if (seededBug('noDirFsync')) return;
  const handle = await storage.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function readFully(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) return buffer.subarray(0, done);
    done += bytesRead;
  }
  return buffer;
}

/** Positional write of all `buffers`, in groups of IOV_MAX, finishing any short write. */
async function writeFully(
  handle: FileHandle,
  buffers: readonly Uint8Array[],
  position: number,
): Promise<void> {
  let at = position;
  for (let first = 0; first < buffers.length; first += MAX_IOVECS) {
    const group = buffers.slice(first, first + MAX_IOVECS);
    let size = 0;
    for (const buffer of group) size += buffer.byteLength;
    let written = (await handle.writev(group, at)).bytesWritten;
    // A short write (e.g. a full disk on the way to ENOSPC): finish it buffer by buffer.
    let skipped = 0;
    for (const buffer of group) {
      const end = skipped + buffer.byteLength;
      while (written < end) {
        const from = written - skipped;
        const { bytesWritten } = await handle.write(
          buffer,
          from,
          buffer.byteLength - from,
          at + written,
        );
        if (bytesWritten === 0) throw new Error(`write made no progress at offset ${at + written}`);
        written += bytesWritten;
      }
      skipped = end;
    }
    at += size;
  }
}

/** Groups small chunks into larger buffers (one copy) and passes large ones through (none). */
function coalesce(chunks: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let run: Uint8Array[] = [];
  let runBytes = 0;
  const flush = (): void => {
    if (run.length === 1) out.push(run[0] as Uint8Array);
    else if (run.length > 1) out.push(Buffer.concat(run, runBytes));
    run = [];
    runBytes = 0;
  };
  for (const chunk of chunks) {
    if (chunk.byteLength >= COALESCE_BELOW) {
      flush();
      out.push(chunk);
      continue;
    }
    run.push(chunk);
    runBytes += chunk.byteLength;
    if (runBytes >= COALESCE_BELOW) flush();
  }
  flush();
  return out;
}

/** Runs `task`, turning an operating-system error it meets into a JournalIOError. */
async function typedIO<T>(dir: string, action: string, task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (error) {
    if (error instanceof RecoveryLogError) throw error;
    throw new JournalIOError(dir, dir, action, error);
  }
}

/**
 * Refuses to create over an existing journal, but clears what an interrupted `create` left
 * (a crash before journal.json was renamed into place): empty data/commits files and
 * journal.json temp files. create writes journal.json last and no byte is appended before it
 * exists, so empty files without journal.json can only come from an unfinished create; anything
 * else is someone's data and is left alone.
 */
async function clearUnfinishedCreate(storage: JournalStorage, root: string): Promise<void> {
  const size = (file: string) =>
    storage.stat(join(root, file)).then(
      (st) => st.size,
      () => undefined,
    );
  if ((await size(META_FILE)) !== undefined) {
    throw new JournalExistsError(root, `${META_FILE} already exists`);
  }
  const leftovers: string[] = [];
  for (const file of [DATA_FILE, COMMITS_FILE]) {
    const bytes = await size(file);
    if (bytes === undefined) continue;
    if (bytes > 0) {
      throw new JournalExistsError(
        root,
        `${file} holds ${bytes} bytes but ${META_FILE} is missing; this is not an unfinished ` +
          'create, so it is left alone: move it away or choose another directory',
      );
    }
    leftovers.push(file);
  }
  for (const entry of await storage.readdir(root)) {
    if (entry.startsWith(`${META_FILE}.tmp-`)) leftovers.push(entry);
  }
  for (const file of leftovers) await storage.unlink(join(root, file));
}

export class FileJournal implements Journal {
  readonly name: string;
  readonly dir: string;
  private readonly dataPath: string;
  private readonly commitsPath: string;
  private state: CommittedState = EMPTY_STATE;
  private readonly queue: AppendQueue;
  private readonly waiters: HeadWaiters;
  private readonly lock: DirectoryLock;
  private readonly lockTimeoutMs: number;
  private readonly pollIntervalMs: number;
  private readonly hooks: CommitHooks | undefined;
  /** True from the start of a batch until it is published: refreshes must not run meanwhile. */
  private batchInFlight = false;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
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
    private readonly storage: JournalStorage,
    private readonly data: FileHandle,
    private readonly commits: FileHandle,
    options: FileJournalOptions,
  ) {
    this.dir = dir;
    this.name = name;
    this.dataPath = join(dir, DATA_FILE);
    this.commitsPath = join(dir, COMMITS_FILE);
    this.lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.hooks = options.hooks;
    this.queue = new AppendQueue(name, (batch) => this.commit(batch));
    this.waiters = new HeadWaiters(name, {
      onFirstWaiter: () => this.startWatching(),
      onNoWaiters: () => this.stopWatching(),
    });
    this.lock = new DirectoryLock(storage, dir, name);
  }

  /**
   * Creates a journal in `dir` (created if missing; it must not hold a journal yet) and opens it.
   * Every file and the directory (and its parent) are fsynced, so the empty journal survives a
   * crash once this resolves.
   */
  static async create(
    dir: string,
    name: string,
    options: FileJournalOptions = {},
  ): Promise<FileJournal> {
    return typedIO(resolve(dir), 'create a journal in', () =>
      FileJournal.#create(dir, name, options),
    );
  }

  static async #create(
    dir: string,
    name: string,
    options: FileJournalOptions,
  ): Promise<FileJournal> {
    const problem = journalNameProblem(name);
    if (problem !== undefined) throw new InvalidJournalNameError(name, problem);
    const storage = options.storage ?? nodeStorage;
    const root = resolve(dir);
    await storage.mkdir(root, { recursive: true });
    await clearUnfinishedCreate(storage, root);
    // data and commits first, journal.json last: its presence marks a complete journal.
    for (const file of [DATA_FILE, COMMITS_FILE]) {
      let handle: FileHandle;
      try {
        handle = await storage.open(join(root, file), 'wx');
      } catch (error) {
        if (errorCode(error) === 'EEXIST') {
          throw new JournalExistsError(root, `${file} already exists (a concurrent create?)`);
        }
        throw error;
      }
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    // The data and commits names must be durable before journal.json can claim they exist.
    await fsyncDirectory(storage, root);
    await writeMeta(storage, root, name);
    await fsyncDirectory(storage, root);
    await fsyncDirectory(storage, dirname(root));
    return FileJournal.open(root, options);
  }

  /** Opens the journal in `dir`, repairing a torn tail left by a crash (see the file header). */
  static async open(dir: string, options: FileJournalOptions = {}): Promise<FileJournal> {
    return typedIO(resolve(dir), 'open the journal in', () => FileJournal.#open(dir, options));
  }

  static async #open(dir: string, options: FileJournalOptions): Promise<FileJournal> {
    const storage = options.storage ?? nodeStorage;
    const root = resolve(dir);
    const name = await readMeta(storage, root);
    const handles: FileHandle[] = [];
    try {
      for (const file of [DATA_FILE, COMMITS_FILE]) {
        try {
          handles.push(await storage.open(join(root, file), 'r+'));
        } catch (error) {
          if (errorCode(error) === 'ENOENT') {
            throw new JournalCorruptError(
              join(root, file),
              0,
              `the file is missing although ${META_FILE} exists`,
              error,
            );
          }
          throw error;
        }
      }
      const journal = new FileJournal(
        root,
        name,
        storage,
        handles[0] as FileHandle,
        handles[1] as FileHandle,
        options,
      );
      try {
        await journal.load();
      } catch (error) {
        await journal.lock.dispose().catch(() => undefined);
        throw error;
      }
      return journal;
    } catch (error) {
      await Promise.all(handles.map((handle) => handle.close().catch(() => undefined)));
      throw error;
    }
  }

  /** Counters: `syncs` counts batch commits (one write + one fdatasync pair each). */
  get stats(): Readonly<JournalStats> {
    return { ...this.queue.stats };
  }

  append(data: Uint8Array | readonly Uint8Array[], options?: AppendOptions): Promise<AppendResult> {
    return this.queue.append(data, options);
  }

  async read(offset: number, options: ReadOptions): Promise<ReadResult> {
    checkReadOffset(this.name, offset);
    for (;;) {
      this.assertUsable();
      if (offset >= this.state.head) {
        await this.refresh(); // another process may have committed since
        this.assertUsable();
      }
      const head = this.state.head;
      if (offset < head) {
        const length = readLength(head - offset, options.maxBytes);
        // Not zero-filled: every byte is overwritten by the read below or the call throws. (At
        // replay speed, zero-filling each read buffer is a measurable share of the time.)
        // (A plain Uint8Array view, as callers expect, over an unpooled Buffer's memory.)
        const bytes = new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
        let done = 0;
        while (done < length) {
          let bytesRead: number;
          try {
            ({ bytesRead } = await this.data.read(bytes, done, length - done, offset + done));
          } catch (error) {
            if (this.closed) throw new JournalClosedError(this.name);
            throw new JournalIOError(this.name, this.dataPath, 'read', error);
          }
          if (bytesRead === 0) {
            throw new JournalCorruptError(
              this.dataPath,
              offset + done,
              `the data file ends before the committed head ${head}`,
            );
          }
          done += bytesRead;
        }
        return { offset, bytes };
      }
      if (!options.blocking) throw new OffsetNotYetAvailableError(this.name, offset, head);
      await this.waiters.wait(offset, options.signal);
    }
  }

  async head(): Promise<number> {
    this.assertUsable();
    await this.refresh();
    this.assertUsable();
    return this.state.head;
  }

  async registers(): Promise<Registers> {
    this.assertUsable();
    await this.refresh();
    this.assertUsable();
    return this.state.registers;
  }

  /**
   * Rejects pending reads, lets queued appends finish, then releases the lock and the files.
   * Later calls throw JournalClosedError.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.waiters.rejectAll(new JournalClosedError(this.name));
    this.stopWatching();
    await this.queue.close();
    await this.refreshing;
    this.stopLingering();
    await this.releasing;
    await this.lock.dispose().catch(() => undefined);
    await Promise.all([this.data.close(), this.commits.close()]);
  }

  private assertUsable(): void {
    if (this.closed) throw new JournalClosedError(this.name);
    if (this.broken !== undefined) throw this.broken;
  }

  // ---- opening and recovery -------------------------------------------------------------

  /** Initial state: full recovery when the lock is free (or stale), else the valid prefix. */
  private async load(): Promise<void> {
    let locked = false;
    try {
      await this.lock.acquire(0);
      locked = true;
    } catch (error) {
      if (!(error instanceof JournalLockedError)) throw error;
    }
    if (!locked) {
      // A live process is appending: it repaired the tail when it took the lock. Take what is
      // committed; a record being written right now is simply not parsed yet.
      this.state = await this.loadTail();
      return;
    }
    try {
      await this.recover(await this.loadTail());
      await this.lock.sweepLeftovers();
    } finally {
      await this.lock.release();
    }
  }

  /** The last valid record (fast path: parse backwards from the end), else a forward scan. */
  private async loadTail(): Promise<CommittedState> {
    const size = (await this.commits.stat()).size;
    if (size === 0) return EMPTY_STATE;
    const last = await this.recordEndingAt(size);
    if (last !== undefined) return this.stateAfter(last);
    return (await this.scan(EMPTY_STATE, size)).state;
  }

  /** The valid record that ends exactly at `end` in the commits file, if there is one. */
  private async recordEndingAt(end: number): Promise<CommitRecord | undefined> {
    if (end < RECORD_FIXED_BYTES) return undefined;
    const trailer = await readFully(this.commits, end - RECORD_TRAILER_BYTES, RECORD_TRAILER_BYTES);
    if (trailer.byteLength < RECORD_TRAILER_BYTES) return undefined;
    const length = trailerLength(trailer);
    if (length < RECORD_FIXED_BYTES || length > RECORD_MAX_BYTES || length > end) return undefined;
    const bytes = await readFully(this.commits, end - length, length);
    const decoded = decodeCommitRecord(bytes, 0, end - length);
    // A torn record's trailer bytes can read as the length of an earlier, valid record: only a
    // record that really ends at `end` counts (found by the simulated crash layer).
    return decoded.kind === 'record' && decoded.record.length === length
      ? decoded.record
      : undefined;
  }

  /** The committed state right after `record` (reads its registers record when needed). */
  private async stateAfter(record: CommitRecord | undefined): Promise<CommittedState> {
    if (record === undefined) return EMPTY_STATE;
    let registers = record.registers ?? EMPTY_REGISTERS;
    if (record.registers === undefined && record.registersAt !== NO_REGISTERS) {
      const holder = await this.recordAt(record.registersAt);
      if (holder?.registers === undefined) {
        throw new JournalCorruptError(
          this.commitsPath,
          record.registersAt,
          `the record at ${record.position} says the registers are stored here, but they are not`,
        );
      }
      registers = holder.registers;
    }
    return {
      head: record.end,
      registers,
      registersAt: record.registersAt,
      commitsEnd: record.position + record.length,
      last: record,
    };
  }

  private async recordAt(position: number): Promise<CommitRecord | undefined> {
    const header = await readFully(this.commits, position, 8);
    if (header.byteLength < 8) return undefined;
    const length = header.readUInt32LE(4);
    if (length < RECORD_FIXED_BYTES || length > RECORD_MAX_BYTES) return undefined;
    const decoded = decodeCommitRecord(
      await readFully(this.commits, position, length),
      0,
      position,
    );
    return decoded.kind === 'record' ? decoded.record : undefined;
  }

  /**
   * Parses records forward from `from.commitsEnd` up to `size`, stopping at the first incomplete
   * or invalid one. A valid record that does not continue where the previous one ended cannot come
   * from a crash and is reported as corruption.
   */
  private async scan(
    from: CommittedState,
    size: number,
  ): Promise<{ state: CommittedState; stoppedAt: number }> {
    const state: CommittedState = { ...from };
    let buffer: Buffer = Buffer.alloc(0);
    let bufferAt = state.commitsEnd;
    for (;;) {
      const decoded = decodeCommitRecord(buffer, state.commitsEnd - bufferAt, bufferAt);
      if (decoded.kind === 'record') {
        const record = decoded.record;
        if (record.begin !== state.head) {
          throw new JournalCorruptError(
            this.commitsPath,
            record.position,
            `commit record for data [${record.begin}, ${record.end}) does not follow the ` +
              `previous commit, which ended at ${state.head}`,
          );
        }
        state.head = record.end;
        state.registersAt = record.registersAt;
        if (record.registers !== undefined) state.registers = record.registers;
        state.commitsEnd = record.position + record.length;
        state.last = record;
        continue;
      }
      const readTo = bufferAt + buffer.byteLength;
      if (decoded.kind === 'invalid' || readTo >= size)
        return { state, stoppedAt: state.commitsEnd };
      const more = await readFully(this.commits, readTo, Math.min(IO_CHUNK, size - readTo));
      if (more.byteLength === 0) return { state, stoppedAt: state.commitsEnd };
      buffer = Buffer.concat([buffer.subarray(state.commitsEnd - bufferAt), more]);
      bufferAt = state.commitsEnd;
    }
  }

  /** Whether the data of `record` is all in the data file with the recorded CRC. */
  private async dataMatches(record: CommitRecord, dataSize: number): Promise<boolean> {
    if (dataSize < record.end) return false;
    let crc = 0;
    for (let at = record.begin; at < record.end; at += IO_CHUNK) {
      const chunk = await readFully(this.data, at, Math.min(IO_CHUNK, record.end - at));
      crc = crc32c(chunk, crc);
    }
    return crc === record.dataCrc;
  }

  /**
   * Repairs the tail under the lock and publishes the result: cuts bytes of an unfinished batch
   * (data beyond the last record, a torn record) and checks the last record's data, which was
   * synced before the record was written.
   */
  private async recover(found: CommittedState): Promise<void> {
    const state = found;
    const dataSize = (await this.data.stat()).size;
    if (seededBug('noTornTailCut')) {
      await this.keepTornTail(state, dataSize);
      return;
    }
    const last = state.last;
    if (last !== undefined && !(await this.dataMatches(last, dataSize))) {
      throw new JournalCorruptError(
        this.dataPath,
        last.begin,
        `committed bytes [${last.begin}, ${last.end}) do not match their checksum (they were ` +
          'synced before their commit record was written, so the disk changed them)',
      );
    }
    if ((await this.commits.stat()).size > state.commitsEnd) {
      await this.commits.truncate(state.commitsEnd);
    }
    if (dataSize > state.head) await this.data.truncate(state.head);
    // Also covers a writer killed between its write and its fdatasync.
    await Promise.all([this.data.datasync(), this.commits.datasync()]);
    this.publish(state);
  }

  /**
   * Seeded bug noTornTailCut (crash-test calibration only): what a journal that never cuts its
   * torn tail ends up doing, i.e. resuming after it, so the torn bytes become part of the log.
   */
  private async keepTornTail(state: CommittedState, dataSize: number): Promise<void> {
    if (dataSize <= state.head) {
      this.publish(state);
      return;
    }
    let dataCrc = 0;
    for (let at = state.head; at < dataSize; at += IO_CHUNK) {
      dataCrc = crc32c(await readFully(this.data, at, Math.min(IO_CHUNK, dataSize - at)), dataCrc);
    }
    const encoded = encodeCommitRecord({
      begin: state.head,
      end: dataSize,
      dataCrc,
      registersAt: state.registersAt,
    });
    await writeFully(this.commits, [encoded], state.commitsEnd);
    await Promise.all([this.data.datasync(), this.commits.datasync()]);
    const decoded = decodeCommitRecord(encoded, 0, state.commitsEnd);
    if (decoded.kind !== 'record') throw new Error('unreachable: a fresh record decodes');
    this.publish({
      ...state,
      head: dataSize,
      commitsEnd: state.commitsEnd + encoded.byteLength,
      last: decoded.record,
    });
  }

  private publish(state: CommittedState): void {
    const advanced = state.head > this.state.head;
    this.state = state;
    if (advanced) this.waiters.notify(state.head);
  }

  // ---- following other processes --------------------------------------------------------

  /** Parses records committed since we last looked; returns the bytes of an unparsed tail. */
  private async readNewCommits(): Promise<number> {
    const size = (await this.commits.stat()).size;
    if (size < this.state.commitsEnd) {
      throw new JournalCorruptError(
        this.commitsPath,
        size,
        `the commits file shrank below the ${this.state.commitsEnd} bytes of commits already ` +
          'read (another process rolled back a failed append); reopen the journal',
      );
    }
    if (size === this.state.commitsEnd) return 0;
    const { state } = await this.scan(this.state, size);
    this.publish(state);
    return size - state.commitsEnd;
  }

  /** Picks up other processes' commits, unless our own batch is in flight (we hold the lock). */
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
          await this.readNewCommits();
        } while (this.refreshAgain);
      } catch (error) {
        if (!this.closed) this.fail(error);
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private fail(error: unknown): void {
    this.broken =
      error instanceof RecoveryLogError
        ? error
        : new JournalIOError(this.name, this.commitsPath, 'read new commits from', error);
    this.waiters.rejectAll(this.broken);
  }

  private startWatching(): void {
    if (this.closed) return;
    this.watcher = this.storage.watch?.(this.dir, (file) => {
      if (file === null || file === COMMITS_FILE) void this.refresh();
    });
    this.poller = setInterval(() => void this.refresh(), this.pollIntervalMs);
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.poller !== undefined) clearInterval(this.poller);
    this.poller = undefined;
  }

  // ---- committing -------------------------------------------------------------------------

  private async commit(entries: QueuedAppend[]): Promise<void> {
    this.batchInFlight = true;
    let failed = false;
    try {
      await this.refreshing;
      await this.releasing;
      if (this.broken !== undefined) throw this.broken;
      if (!this.lock.held) {
        const { brokeStale } = await this.lock.acquire(this.lockTimeoutMs);
        // Other processes may have committed since we last looked: check against their state.
        const unparsed = await this.readNewCommits();
        if (brokeStale || unparsed > 0) await this.recover(this.state);
      }
      const plan = planBatch(this.name, entries, this.state.head, this.state.registers);
      if (!plan.needsCommit) {
        this.queue.settle(plan, false);
        return;
      }
      let acknowledged = false;
      const acknowledge = (record: CommitRecord): void => {
        if (acknowledged) return;
        acknowledged = true;
        this.publish({
          head: plan.end,
          registers: plan.registers,
          registersAt: record.registersAt,
          commitsEnd: record.position + record.length,
          last: record,
        });
        this.queue.settle(plan, true);
      };
      const record = await this.write(plan, acknowledge);
      failpoint('kill-journal-after-sync');
      acknowledge(record);
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
    }
  }

  /**
   * Keeps the lock unless another process is waiting for it (or the batch failed, or we close):
   * for the next batch when appends are queued, else for a linger (see LOCK_LINGER_MS).
   */
  private async releaseLockUnlessBusy(failed: boolean): Promise<void> {
    if (!this.lock.held) return;
    try {
      const keep = !failed && !this.closed && !(await this.lock.othersWaiting());
      if (!keep) {
        this.stopLingering();
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
    // lock, rather than leaving it for others to judge stale (impossible from another host).
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
    // A batch running or queued holds the lock now and decides again when it is done; close()
    // releases it itself.
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

  /**
   * Writes data and record, syncs both; on any failure rolls the record back and throws.
   * `acknowledgeEarly` exists only for the seeded bug ackBeforeSync.
   */
  private async write(
    plan: PlannedBatch,
    acknowledgeEarly: (record: CommitRecord) => void,
  ): Promise<CommitRecord> {
    const position = this.state.commitsEnd;
    try {
      await this.hooks?.beforeWrite?.(plan.info);
      let dataCrc = 0;
      const hasData = plan.end > plan.begin;
      if (hasData) {
        const buffers = coalesce(plan.chunks);
        const writing = writeFully(this.data, buffers, plan.begin);
        // The CRC is computed on this thread while the write runs on the I/O pool.
        for (const buffer of buffers) dataCrc = crc32c(buffer, dataCrc);
        await writing;
      }
      await this.hooks?.beforeSync?.(plan.info);
      const early = seededBug('ackBeforeSync');
      // The data is durable before a record claims it. So at open a record whose data does not
      // match its CRC is corruption of acknowledged bytes (a typed error), never an unfinished
      // commit; only a torn or missing record marks an unfinished one.
      if (hasData && !early) await this.data.datasync();
      const registersAt = plan.registersChanged ? position : this.state.registersAt;
      const encoded = encodeCommitRecord({
        begin: plan.begin,
        end: plan.end,
        dataCrc,
        registersAt,
        registers: plan.registersChanged ? plan.registers : undefined,
      });
      await writeFully(this.commits, [encoded], position);
      const record: CommitRecord = {
        position,
        length: encoded.byteLength,
        begin: plan.begin,
        end: plan.end,
        dataCrc,
        registersAt,
        registers: plan.registersChanged ? plan.registers : undefined,
      };
      const syncing = early
        ? Promise.all([this.data.datasync(), this.commits.datasync()])
        : this.commits.datasync();
      if (early) {
        syncing.catch(() => undefined);
        acknowledgeEarly(record);
      }
      await syncing;
      return record;
    } catch (error) {
      // Take the record back so that neither a reopen nor another process counts this batch as
      // committed; its data bytes beyond the head are ignored and cut at the next open.
      await this.commits
        .truncate(position)
        .then(() => this.commits.datasync())
        .catch(() => undefined);
      throw error instanceof JournalWriteError
        ? error
        : new JournalWriteError(this.name, describe(error), error);
    }
  }
}
