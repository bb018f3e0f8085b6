/**
 * OwnedFragment: the one fragment a writer epoch appends to. Commit protocol for a batch:
 *
 *   1. write the batch's bytes at their place in `<epoch>.data`;
 *   2. append a COMMIT record (begin, end, CRC, registers if changed, and the CRC of the record
 *      before it) to `<epoch>.index`, opened O_APPEND;
 *   3. fdatasync both files and, meanwhile, read the record back at the position this writer
 *      expects it. If another writer took the journal over, its FENCE sits at that position and
 *      our record landed after it, where no reader looks: the batch is NOT committed
 *      (FencedError) and nothing is acknowledged. Otherwise the record precedes any FENCE
 *      forever (appends never reorder), so once both syncs return the batch is acknowledged.
 *
 * Each record confirms the one before it (it carries its CRC), so a damaged record followed by a
 * valid one is corruption. The last data commit is the exception until confirmed: a crash may
 * have kept its record and lost its data, so a mismatch there reads as an unfinished write
 * (FragmentIndex.unconfirmed). The writer confirms it with an empty COMMIT once idle; closing
 * the journal or rolling to a new fragment appends a SEAL, which confirms the last commit and
 * checksums the whole fragment. No path truncates or overwrites a written byte.
 */
import { crc32cUpdate } from '../crc32c.js';
import type { BatchInfo, CommitHooks, PlannedBatch } from './group-commit.js';
import { FragmentIndex } from './fragment-index.js';
import {
  COMMIT,
  SEAL,
  decodeRecord,
  encodeRecord,
  type FragmentRecord,
} from './fragment-record.js';
import { readFully, writeFully } from './fragment-io.js';
import type { StorageFileHandle } from './storage.js';

/** Appended chunks smaller than this are copied together before the write (fewer iovecs). */
const COALESCE_BELOW = 64 * 1024;

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
    let dataCrc = 0;
    if (plan.end > plan.begin) {
      const buffers = coalesce(plan.chunks);
      const writing = writeFully(this.data, buffers, plan.begin - this.index.begin);
      // The CRC is computed on this thread while the write runs on the I/O pool.
      for (const buffer of buffers) dataCrc = crc32cUpdate(dataCrc, buffer);
      await writing;
    }
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
        registers: plan.registersChanged ? plan.registers : undefined,
      },
      plan.end > plan.begin ? this.data : undefined,
    );
    this.unconfirmed = plan.end > plan.begin;
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

  /** Appends `record`; resolves once it (and `alsoSync`, when given) is durable. */
  private async append(record: FragmentRecord, alsoSync?: StorageFileHandle): Promise<void> {
    if (this.ended) throw new FencedError(this.epoch);
    const encoded = encodeRecord(record, this.index.lastCrc);
    const position = this.indexSize;
    await writeFully(this.indexFile, [encoded], position); // O_APPEND: lands at the file's end
    const [back] = await Promise.all([
      readFully(this.indexFile, position, encoded.byteLength),
      this.indexFile.datasync(),
      alsoSync?.datasync(),
    ]);
    if (!back.equals(encoded)) {
      // A FENCE (or, after a crash of ours, anything) is where our record should be.
      this.ended = true;
      throw new FencedError(this.epoch);
    }
    this.indexSize = position + encoded.byteLength;
    const decoded = decodeRecord(encoded, 0, position);
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
