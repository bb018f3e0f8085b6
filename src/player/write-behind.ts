/**
 * WriteBehind: the Player's queue of staged-file writes. write() copies the bytes into reusable
 * slabs and returns at once (waiting only while too many bytes are pending), and a drain loop of
 * its own writes them out in call order, one coalesced batch at a time, while the Player decodes
 * and checksums the next ops.
 *
 * Why copy: the caller's bytes are views of the log reader's read buffers, which it reuses for
 * the next read; and fresh buffers are what made playback slow. A newly allocated buffer costs a
 * page fault per 4 KiB on first touch, and on our VMs that made reads into fresh buffers 10-20x
 * slower than into reused ones (a 64 MiB log: 300-770 MB/s against 8-14 GB/s). A copy into a
 * warm slab runs at memory speed.
 */
import type { Fnode } from '../wire/types.js';

/**
 * Payload bytes accepted and not yet written: up to this much, write() returns at once. Bounds the
 * memory the slabs take (about this much, plus one slab).
 */
export const WRITE_BEHIND_BYTES = 8 * 1024 * 1024;

/** Size of one slab the pending bytes are copied into. */
const SLAB_BYTES = 1024 * 1024;

/** Upper bounds of one coalesced write (IOV_MAX is 1024 on Linux). */
const MAX_BATCH_WRITES = 256;
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

/** A slab and how many pending writes still point into it. */
interface Slab {
  readonly buffer: Buffer;
  /** Bytes of it handed out since it was last empty. */
  fill: number;
  /** Pending writes that hold views of it. */
  users: number;
}

/** A write accepted and not yet written: `bytes` is a view of `slab`. */
interface PendingWrite {
  fnode: Fnode;
  position: number;
  bytes: Uint8Array;
  slab: Slab;
}

/** Writes a batch: `pieces` continue one another in the fnode's file from `position`. */
export type WriteBatch = (
  fnode: Fnode,
  position: number,
  pieces: Uint8Array[],
  total: number,
) => Promise<void>;

/**
 * Writes land in call order and never run concurrently, so overlapping writes land as they were
 * recorded. A failed write fails every later call (throwIfFailed, flush).
 */
export class WriteBehind {
  readonly #writeBatch: WriteBatch;
  /** Writes accepted and not yet started, in call order (consumed from #head). */
  #queue: PendingWrite[] = [];
  #head = 0;
  /** The slab new bytes go into. */
  #slab: Slab | undefined;
  /** Emptied slabs kept for reuse (at most enough for WRITE_BEHIND_BYTES). */
  readonly #spare: Slab[] = [];
  /** The loop draining #queue, while one runs (never rejects: failures go to #failure). */
  #draining: Promise<void> | undefined;
  #pending = 0;
  #failure: unknown = undefined;
  /** Wakes a write() waiting for the pending bytes to drop below WRITE_BEHIND_BYTES. */
  #wake: (() => void) | undefined;

  constructor(writeBatch: WriteBatch) {
    this.#writeBatch = writeBatch;
  }

  /**
   * Queues `bytes` for `position` of the fnode's file. The bytes are copied before this resolves
   * (the caller may then reuse its buffer), a slab at a time, waiting while too many are pending.
   */
  async write(fnode: Fnode, position: number, bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      while (this.#pending >= WRITE_BEHIND_BYTES && this.#failure === undefined) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
      }
      this.throwIfFailed();
      const slab = this.#slabWithRoom();
      const n = Math.min(bytes.length - done, slab.buffer.length - slab.fill);
      const start = slab.fill;
      slab.buffer.set(bytes.subarray(done, done + n), start);
      slab.fill += n;
      this.#enqueue(fnode, position + done, slab, start, n);
      this.#pending += n;
      this.#draining ??= this.#drain();
      done += n;
    }
    this.throwIfFailed();
  }

  /** Waits for every write accepted so far; throws the first write failure. */
  async flush(): Promise<void> {
    await this.settle();
    this.throwIfFailed();
  }

  /** Waits for the queue to drain, ignoring failures (for clean-up before an abort). */
  async settle(): Promise<void> {
    while (this.#draining !== undefined) await this.#draining;
  }

  throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  #slabWithRoom(): Slab {
    const current = this.#slab;
    if (current !== undefined && current.fill < current.buffer.length) return current;
    const slab = this.#spare.pop() ?? {
      buffer: Buffer.allocUnsafeSlow(SLAB_BYTES),
      fill: 0,
      users: 0,
    };
    this.#slab = slab;
    return slab;
  }

  /**
   * Adds a pending write of slab bytes [start, start + n). When it continues the last queued
   * write in both the file and the slab, that write grows instead: one iovec, not two.
   */
  #enqueue(fnode: Fnode, position: number, slab: Slab, start: number, n: number): void {
    const last = this.#head < this.#queue.length ? this.#queue.at(-1) : undefined;
    if (
      last !== undefined &&
      last.slab === slab &&
      last.fnode === fnode &&
      last.position + last.bytes.length === position &&
      last.bytes.byteOffset + last.bytes.length === slab.buffer.byteOffset + start
    ) {
      last.bytes = new Uint8Array(slab.buffer.buffer, last.bytes.byteOffset, last.bytes.length + n);
      return;
    }
    slab.users += 1;
    this.#queue.push({ fnode, position, bytes: slab.buffer.subarray(start, start + n), slab });
  }

  /** Writes the queue out, one batch at a time, in call order. */
  async #drain(): Promise<void> {
    try {
      while (this.#head < this.#queue.length) {
        const batch = this.#takeBatch();
        let bytes = 0;
        for (const w of batch) bytes += w.bytes.length;
        try {
          if (this.#failure === undefined) {
            const first = batch[0]!;
            await this.#writeBatch(
              first.fnode,
              first.position,
              batch.map((w) => w.bytes),
              bytes,
            );
          }
        } catch (err) {
          this.#failure ??= err;
        } finally {
          for (const w of batch) this.#release(w.slab);
          this.#pending -= bytes;
          this.#wake?.();
        }
      }
      this.#queue = [];
      this.#head = 0;
    } finally {
      this.#draining = undefined;
    }
  }

  /** A slab no pending write points into is empty again: refill the current one, keep others. */
  #release(slab: Slab): void {
    slab.users -= 1;
    if (slab.users > 0) return;
    slab.fill = 0;
    if (slab !== this.#slab && this.#spare.length * SLAB_BYTES < WRITE_BEHIND_BYTES) {
      this.#spare.push(slab);
    }
  }

  /**
   * The longest run of queued writes, from the head, that continue one another in one file: one
   * positional writev instead of a system call (and a promise) per write.
   */
  #takeBatch(): PendingWrite[] {
    const queue = this.#queue;
    const first = queue[this.#head++]!;
    const batch = [first];
    let end = first.position + first.bytes.length;
    let bytes = first.bytes.length;
    while (this.#head < queue.length && batch.length < MAX_BATCH_WRITES) {
      const next = queue[this.#head]!;
      if (next.fnode !== first.fnode || next.position !== end || bytes >= MAX_BATCH_BYTES) break;
      this.#head += 1;
      batch.push(next);
      end += next.bytes.length;
      bytes += next.bytes.length;
    }
    if (this.#head > 1024 && this.#head * 2 > queue.length) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
    return batch;
  }
}
