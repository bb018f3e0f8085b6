/**
 * What the power-cut workload appends to: the project's FileJournal, or a stand-in (a framed
 * plain file with fdatasync) that checks the harness itself, e.g. with its seeded bug. Both are
 * used the same way by the writer process (create/open, append) and by the checking parent
 * (read everything back after the cut).
 */
import {
  closeSync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import CRC32C from 'crc-32/crc32c.js';
import type { AppendResult, Journal } from '../../../src/journal/journal.js';
import { FileJournal } from '../../../src/journal/file.js';
import {
  JournalFailedError,
  JournalNotFoundError,
  JournalWriteError,
  OffsetNotYetAvailableError,
} from '../../../src/journal/errors.js';

export type WorkloadName = 'file-journal' | 'plain-file';

/** The part of a journal the workload uses. */
export interface AppendTarget {
  append(bytes: Uint8Array): Promise<AppendResult>;
  close(): Promise<void>;
}

export interface JournalTarget {
  readonly workload: WorkloadName;
  create(dir: string, journalName: string): Promise<AppendTarget>;
  open(dir: string): Promise<AppendTarget>;
  /** The whole recovered stream from offset 0; undefined when there is no journal in `dir`. */
  readAll(dir: string): Promise<Uint8Array | undefined>;
  /** Whether an append failure has the type the contract promises (JournalWriteError...). */
  isTypedWriteFailure(error: unknown): boolean;
}

// ------------------------------------------------------------------ FileJournal

export const fileJournalTarget: JournalTarget = {
  workload: 'file-journal',
  create(dir, journalName) {
    return FileJournal.create(dir, journalName);
  },
  open(dir) {
    return FileJournal.open(dir);
  },
  async readAll(dir) {
    let journal: Journal;
    try {
      journal = await FileJournal.open(dir);
    } catch (error) {
      if (error instanceof JournalNotFoundError) return undefined;
      throw error;
    }
    try {
      const chunks: Uint8Array[] = [];
      let offset = 0;
      for (;;) {
        let result;
        try {
          result = await journal.read(offset, { blocking: false });
        } catch (error) {
          if (error instanceof OffsetNotYetAvailableError) break;
          throw error;
        }
        if (result.offset !== offset) {
          // Reported as a torn/garbled stream by the checker: bytes before result.offset are gone.
          throw new Error(
            `journal read at ${offset} jumped to ${result.offset}: bytes in between are missing`,
          );
        }
        chunks.push(result.bytes);
        offset += result.bytes.length;
      }
      return concat(chunks, offset);
    } finally {
      await journal.close();
    }
  },
  isTypedWriteFailure(error) {
    return error instanceof JournalWriteError || error instanceof JournalFailedError;
  },
};

// ------------------------------------------------------------------ stand-in: plain file

/**
 * Append-only file of frames `u32 LE length | bytes | u32 LE CRC-32C(bytes)`, each append written
 * and fdatasync'ed before it resolves. Opening drops a torn or garbled tail (after a power cut the
 * file can end in a partial frame or in zeros). Offsets are those of the unframed byte stream, as
 * a journal's are.
 */
class PlainFileJournal implements AppendTarget {
  private failed: unknown;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly fd: number,
    private fileSize: number,
    private head: number,
  ) {}

  static create(dir: string): PlainFileJournal {
    mkdirSync(dir, { recursive: true });
    const fd = openSync(join(dir, STAND_IN_FILE), 'wx');
    fsyncSync(fd);
    const dirFd = openSync(dir, 'r'); // the new directory entry must be durable too
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    return new PlainFileJournal(fd, 0, 0);
  }

  static async open(dir: string): Promise<PlainFileJournal> {
    const frames = scanFrames(readStandIn(dir) ?? missingStandIn(dir));
    const fd = openSync(join(dir, STAND_IN_FILE), 'r+');
    ftruncateSync(fd, frames.fileBytes);
    fdatasyncSync(fd);
    return new PlainFileJournal(fd, frames.fileBytes, frames.streamBytes);
  }

  append(bytes: Uint8Array): Promise<AppendResult> {
    const run = this.queue.then(() => this.appendNow(bytes));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private appendNow(bytes: Uint8Array): AppendResult {
    if (this.failed !== undefined) throw new JournalFailedError(STAND_IN_FILE, this.failed);
    const frame = new Uint8Array(bytes.length + 8);
    const view = new DataView(frame.buffer);
    view.setUint32(0, bytes.length, true);
    frame.set(bytes, 4);
    view.setUint32(4 + bytes.length, CRC32C.buf(bytes, 0) >>> 0, true);
    try {
      writeSync(this.fd, frame, 0, frame.length, this.fileSize);
      if (!SEEDED_BUG_SKIP_SYNC) fdatasyncSync(this.fd);
    } catch (error) {
      this.failed = error;
      throw new JournalWriteError(STAND_IN_FILE, (error as Error).message, error);
    }
    this.fileSize += frame.length;
    const begin = this.head;
    this.head += bytes.length;
    return { begin, end: this.head };
  }

  async close(): Promise<void> {
    await this.queue;
    closeSync(this.fd);
  }
}

const STAND_IN_FILE = 'stand-in.frames';
/**
 * A seeded bug (DMFLAKEY_STANDIN_SKIP_SYNC=1): acknowledge appends without fdatasync. A power
 * cut under commit=1000 must then show lost acknowledged appends: it proves the harness can fail.
 */
const SEEDED_BUG_SKIP_SYNC = process.env.DMFLAKEY_STANDIN_SKIP_SYNC === '1';

function readStandIn(dir: string): Uint8Array | undefined {
  try {
    return readFileSync(join(dir, STAND_IN_FILE));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function missingStandIn(dir: string): never {
  throw new JournalNotFoundError(dir, `no ${STAND_IN_FILE}`);
}

function scanFrames(file: Uint8Array): {
  fileBytes: number;
  streamBytes: number;
  chunks: Uint8Array[];
} {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const chunks: Uint8Array[] = [];
  let at = 0;
  let streamBytes = 0;
  while (at + 8 <= file.length) {
    const length = view.getUint32(at, true);
    if (length === 0 || at + 8 + length > file.length) break;
    const bytes = file.subarray(at + 4, at + 4 + length);
    if (view.getUint32(at + 4 + length, true) !== CRC32C.buf(bytes, 0) >>> 0) break;
    chunks.push(bytes);
    streamBytes += length;
    at += 8 + length;
  }
  return { fileBytes: at, streamBytes, chunks };
}

export const plainFileTarget: JournalTarget = {
  workload: 'plain-file',
  async create(dir) {
    return PlainFileJournal.create(dir);
  },
  open(dir) {
    return PlainFileJournal.open(dir);
  },
  async readAll(dir) {
    const file = readStandIn(dir);
    if (file === undefined) return undefined;
    const { chunks, streamBytes } = scanFrames(file);
    return concat(chunks, streamBytes);
  },
  isTypedWriteFailure(error) {
    return error instanceof JournalWriteError || error instanceof JournalFailedError;
  },
};

export function journalTarget(workload: string): JournalTarget {
  if (workload === 'file-journal') return fileJournalTarget;
  if (workload === 'plain-file') return plainFileTarget;
  throw new Error(
    `unknown workload "${workload}" (DMFLAKEY_WORKLOAD must be file-journal or plain-file)`,
  );
}

function concat(chunks: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
