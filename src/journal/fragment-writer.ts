/**
 * OwnedFragment: the one fragment a writer epoch appends to. Commit protocol for a batch of up
 * to INLINE_MAX_BYTES (the common, small case: one file, one write, one flush):
 *
 *   1. append an INLINE record (begin, end, the data's CRC, registers if changed, and the CRC of
 *      the record before it) followed by the batch's bytes to `<epoch>.index`, opened O_APPEND,
 *      in one write;
 *   2. read it back at the position this writer expects it. If another writer took the journal
 *      over, its FENCE sits at that position and our record landed after it, where no reader
 *      looks: the batch is NOT committed (FencedError) and nothing is acknowledged. Otherwise the
 *      record precedes any FENCE forever (appends never reorder);
 *   3. fdatasync the index file; once it returns, the batch is acknowledged.
 *
 * A larger batch writes its bytes at their place in `<epoch>.data` first, then appends a COMMIT
 * record (same fields, no data after it), reads it back, and fdatasyncs both files together.
 *
 * The read-back is what keeps a writer safe without trusting the lock (an O_APPEND write does not
 * say where it landed). On real files (handles nodeStorage opened), the write and the read-back
 * of a small batch are synchronous syscalls: page-cache copies of a few microseconds, each
 * cheaper than a round trip through the I/O pool. Such a commit is ONE async call, the
 * fdatasync. Larger batches write their data with an async writev (the event loop is not held
 * for a large copy) while their CRC is computed.
 *
 * Each record confirms the one before it (it carries its CRC; an INLINE record's CRC covers its
 * header, which holds its data's CRC), so damage inside a commit that a later record confirms is
 * reported as corruption when read. The last data commit is the exception until confirmed: a
 * crash may have kept its record and lost (part of) its data, so a mismatch there reads as an
 * unfinished write (FragmentIndex.unconfirmed). That window is exactly: the newest fragment's
 * last data commit, from its acknowledgement until the next record (the next commit, the empty
 * COMMIT the writer appends once idle for CONFIRM_DELAY_MS, or the SEAL) is durable. Media
 * damage to that commit's bytes inside the window reads as "never written", not as corruption.
 * Closing the journal or rolling to a new fragment appends a SEAL, which confirms the last
 * commit and checksums the whole fragment. No path truncates or overwrites a written byte.
 */
import { readSync, writeSync, writevSync } from 'node:fs';
import { COMBINE_PAYS_FROM, crc32cCombine, crc32cUpdate, knownCrc32c } from '../crc32c.js';
import type { BatchInfo, CommitHooks, PlannedBatch } from './group-commit.js';
import { FragmentIndex } from './fragment-index.js';
import {
  COMMIT,
  INLINE,
  INLINE_MAX_BYTES,
  SEAL,
  decodeRecord,
  encodeRecord,
  type FragmentRecord,
  type InlineHeader,
} from './fragment-record.js';
import { readFully, writeFully } from './fragment-io.js';
import { realDescriptor, type StorageFileHandle } from './storage.js';

/** Appended chunks smaller than this are copied together before an async write (fewer iovecs). */
const COALESCE_BELOW = 64 * 1024;
/** At most this many buffers per writev call (Linux IOV_MAX). */
const MAX_IOVECS = 1024;

/** Another writer fenced this epoch: the record did not commit. */
export class FencedError extends Error {
  constructor(readonly epoch: number) {
    super(`writer epoch ${epoch} was fenced by a newer writer`);
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

/** CRC-32C of the chunks in order, combining the noted CRCs of large handed-over chunks. */
function batchCrc(chunks: readonly Uint8Array[]): number {
  let crc = 0;
  for (const chunk of chunks) {
    const known = chunk.byteLength >= COMBINE_PAYS_FROM ? knownCrc32c(chunk) : undefined;
    crc =
      known === undefined ? crc32cUpdate(crc, chunk) : crc32cCombine(crc, known, chunk.byteLength);
  }
  return crc;
}

/** writeFully's synchronous twin, on a real file's descriptor. */
function writeFullySync(fd: number, buffers: readonly Uint8Array[], position: number): void {
  let at = position;
  for (let first = 0; first < buffers.length; first += MAX_IOVECS) {
    const group = buffers.slice(first, first + MAX_IOVECS);
    let written = writevSync(fd, group, at);
    // A short write (e.g. a full disk on the way to ENOSPC): finish it buffer by buffer.
    let skipped = 0;
    for (const buffer of group) {
      const end = skipped + buffer.byteLength;
      while (written < end) {
        const from = written - skipped;
        const n = writeSync(fd, buffer, from, buffer.byteLength - from, at + written);
        if (n === 0) throw new Error(`write made no progress at offset ${at + written}`);
        written += n;
      }
      skipped = end;
    }
    at += skipped;
  }
}

/** True when `back` holds exactly `buffers`, in order (our write landed where we expected). */
function landed(back: Buffer, buffers: readonly Uint8Array[]): boolean {
  let at = 0;
  for (const buffer of buffers) {
    const end = at + buffer.byteLength;
    if (end > back.byteLength || Buffer.compare(back.subarray(at, end), buffer) !== 0) return false;
    at = end;
  }
  return at === back.byteLength;
}

export class OwnedFragment {
  /** True while the last record is a data commit no later record confirms. */
  unconfirmed = false;
  /** Set once this epoch is over (sealed by us, or fenced by another writer). */
  ended = false;

  constructor(
    readonly epoch: number,
    /** Shared with the readers of this process: updated only with committed records. */
    readonly index: FragmentIndex,
    private readonly data: StorageFileHandle,
    private readonly indexFile: StorageFileHandle,
    /** Size of the index file as this writer wrote it: where its next record must land. */
    private indexSize: number,
  ) {}

  /** Bytes held so far. */
  get size(): number {
    return this.index.end - this.index.begin;
  }

  /**
   * Writes and syncs the batch, then its record; resolves once the batch is committed and
   * durable. Throws FencedError when a newer writer got there first (nothing committed).
   */
  async commit(plan: PlannedBatch, hooks: CommitHooks | undefined): Promise<void> {
    const info: BatchInfo = plan.info;
    await hooks?.beforeWrite?.(info);
    const registers = plan.registersChanged ? plan.registers : undefined;
    const size = plan.end - plan.begin;
    if (size > 0 && size <= INLINE_MAX_BYTES) {
      const dataCrc = batchCrc(plan.chunks);
      await hooks?.beforeSync?.(info);
      const header = {
        kind: INLINE,
        begin: plan.begin,
        end: plan.end,
        dataCrc,
        registers,
      } as const;
      await this.append(header, undefined, plan.chunks);
      this.unconfirmed = true;
      return;
    }
    const hasData = size > 0;
    const dataCrc = hasData ? await this.writeData(plan) : 0;
    await hooks?.beforeSync?.(info);
    // One flush's latency: the data and its record are synced together. A crash can then leave
    // the record durable without the data; until a later record confirms it, such a commit is
    // checked against its data and, if they differ, read as unfinished (settleUnconfirmed).
    await this.append(
      {
        kind: COMMIT,
        begin: plan.begin,
        end: plan.end,
        dataCrc,
        registers,
      },
      hasData ? this.data : undefined,
    );
    this.unconfirmed = hasData;
  }

  /** Writes a large batch's bytes (not synced yet); returns their CRC. */
  private async writeData(plan: PlannedBatch): Promise<number> {
    const position = plan.begin - this.index.begin;
    const writing = writeFully(this.data, coalesce(plan.chunks), position);
    // The CRC is computed on this thread while the write runs on the I/O pool.
    const crc = batchCrc(plan.chunks);
    await writing;
    return crc;
  }

  /** Confirms the last commit with an empty one (the writer is idle). */
  async confirm(): Promise<void> {
    if (!this.unconfirmed || this.ended) return;
    await this.append({ kind: COMMIT, begin: this.index.end, end: this.index.end, dataCrc: 0 });
    this.unconfirmed = false;
  }

  /** Ends the epoch: a SEAL confirming the last commit and checksumming the fragment. */
  async seal(): Promise<void> {
    if (this.ended) return;
    await this.append({
      kind: SEAL,
      begin: this.index.begin,
      end: this.index.end,
      dataCrc: this.index.dataCrc,
    });
    this.ended = true;
    this.unconfirmed = false;
  }

  /**
   * Appends `record` (an INLINE header with `payload`, its data, right after it in the same
   * write); resolves once it (and `alsoSync`, when given) is durable.
   */
  private async append(
    record: FragmentRecord | InlineHeader,
    alsoSync?: StorageFileHandle,
    payload: readonly Uint8Array[] = [],
  ): Promise<void> {
    if (this.ended) throw new FencedError(this.epoch);
    const encoded = encodeRecord(record, this.index.lastCrc);
    const buffers = [encoded, ...payload];
    const total = encoded.byteLength + (record.kind === INLINE ? record.end - record.begin : 0);
    const position = this.indexSize;
    let back: Buffer;
    const fd = realDescriptor(this.indexFile);
    if (fd !== undefined) {
      writeFullySync(fd, buffers, position); // O_APPEND: lands at the file's end
      back = Buffer.allocUnsafe(total);
      back = back.subarray(0, readSync(fd, back, 0, total, position));
      if (landed(back, buffers)) {
        await Promise.all([this.indexFile.datasync(), alsoSync?.datasync()]);
      }
    } else {
      // O_APPEND: lands at the file's end, in one write (one append) whatever the chunks.
      await writeFully(this.indexFile, [Buffer.concat(buffers, total)], position);
      [back] = await Promise.all([
        readFully(this.indexFile, position, total),
        this.indexFile.datasync(),
        alsoSync?.datasync(),
      ]);
    }
    if (!landed(back, buffers)) {
      // A FENCE (or, after a crash of ours, anything) is where our record should be: nothing of
      // this batch counts, synced or not.
      this.ended = true;
      throw new FencedError(this.epoch);
    }
    this.indexSize = position + total;
    const decoded = decodeRecord(back, 0, position);
    if (decoded.kind !== 'record') throw new Error('unreachable: a fresh record decodes');
    this.index.apply(decoded.record);
    this.index.parsedThrough = this.indexSize;
  }

  /** True when the index file grew behind our back: another writer appended a FENCE. */
  async wasFenced(): Promise<boolean> {
    if (this.ended) return true;
    return (await this.indexFile.stat()).size !== this.indexSize;
  }

  async close(): Promise<void> {
    await Promise.all([
      this.data.close().catch(() => undefined),
      this.indexFile.close().catch(() => undefined),
    ]);
  }
}
