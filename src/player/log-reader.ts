import { OffsetNotYetAvailableError } from '../journal/errors.js';
import type { Journal, ReadResult } from '../journal/journal.js';
import { FrameDecoder } from '../wire/framing.js';
import { PlayerInvariantError } from './errors.js';

/** Bytes asked of the journal per read: large reads keep per-call overhead negligible. */
export const DEFAULT_READ_SIZE = 1024 * 1024;

/**
 * The first read after a seek asks for this much, and each further one twice the last, up to the
 * read size: after a seek to a hinted segment whose end is unknown, a short segment then costs a
 * short read rather than a whole read size of bytes nobody needs.
 */
export const FIRST_READ_AFTER_SEEK = 64 * 1024;

/**
 * A frame holds one RecordedOp (a path, a property's content): far below this. A header declaring
 * more is corruption, and must not make the reader buffer the rest of the log.
 */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** What the reader found next in the log. */
export type LogItem =
  /** A whole frame; `frame` includes the 8-byte header, `payload` is the protobuf bytes. */
  | { type: 'frame'; offset: number; frame: Uint8Array; payload: Uint8Array }
  /** Bytes skipped while re-synchronising on the frame magic word. */
  | { type: 'garbage'; offset: number; length: number }
  /**
   * A non-blocking read found no more bytes: `offset` is the journal's write head minus the
   * `pending` bytes that are buffered but do not form a whole item yet.
   */
  | { type: 'head'; offset: number; pending: number }
  /** The journal no longer has bytes at `from`; reading resumed at `to`. */
  | { type: 'jump'; from: number; to: number }
  /** A blocking read was interrupted through the `interrupt` signal; nothing was consumed. */
  | { type: 'interrupted' }
  /** More than maxFrameBytes are buffered at `offset` without completing a frame. */
  | { type: 'oversized'; offset: number; buffered: number };

/** Outcome of streaming a Write payload that could not be read whole. */
export type PayloadShortfall =
  { type: 'head'; offset: number } | { type: 'jump'; from: number; to: number };

export interface LogReaderOptions {
  /** Aborts reads (the caller turns that into its own error). */
  signal?: AbortSignal;
  /** Upper bound on bytes per journal read. */
  readSize?: number;
  /** Buffered bytes at which an incomplete frame is declared corrupt. */
  maxFrameBytes?: number;
  /** Called after every journal read with the offset read through. */
  onRead?: (log: string, readThrough: number, bytes: number) => void;
  /**
   * Lend the journal two read buffers in turn (ReadOptions.into) instead of letting it allocate
   * one per read. Then frames and payload pieces handed out stay valid only until the reader
   * next reads from the journal: a sink must use (or copy) a piece before it returns, and the
   * last piece of a readRaw() until the next call. Fresh buffers cost a page fault per 4 KiB on
   * first touch, which made reading a log into them several times slower than the reading itself.
   */
  reuseBuffers?: boolean;
}

/**
 * A decoder holding more unconsumed bytes than this keeps its views of lent buffers (copying them
 * at every read would cost O(n^2) for a huge incomplete frame); reads then use fresh buffers.
 */
const MAX_DETACH_COPY = 256 * 1024;

/**
 * Reads frames and raw Write payloads from one journal at a time through a FrameDecoder.
 * Holds at most one read's worth of bytes plus an incomplete item, so memory stays bounded
 * however long the log is. Seeking drops the buffer; the next read starts at the new offset.
 */
export class LogReader {
  #journal: Journal | undefined;
  #decoder = new FrameDecoder(0);
  /** Offset of the next byte to ask the journal for (= decoder offset + buffered bytes). */
  #fetchOffset = 0;
  /** Size of the next read when the bytes needed are not known to extend further (see seek). */
  #rampedReadSize = 0;
  /** Where the bytes known to be needed end (0: unknown); reads stop there, then ramp up. */
  #neededThrough = 0;
  /**
   * The next read, started as soon as the previous one was consumed while the bytes are known to
   * be needed (below neededThrough): the journal reads while the caller decodes and writes. It
   * settles to undefined on any failure, and the read is then simply redone (so errors surface
   * exactly as without read-ahead).
   */
  #ahead:
    { offset: number; result: Promise<ReadResult | undefined>; loan: Loan | undefined } | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #readSize: number;
  readonly #maxFrameBytes: number;
  readonly #onRead: LogReaderOptions['onRead'];
  /** The buffers lent to the journal in turn (reuseBuffers), allocated on first use. */
  readonly #loans: Loan[] = [];

  constructor(options: LogReaderOptions = {}) {
    this.#signal = options.signal;
    this.#readSize = options.readSize ?? DEFAULT_READ_SIZE;
    this.#maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.#onRead = options.onRead;
    if (options.reuseBuffers === true) {
      for (let i = 0; i < 2; i += 1) {
        this.#loans.push({ buffer: undefined, reading: undefined, inDecoder: false });
      }
    }
  }

  /** The journal being read (undefined before the first seek). */
  get journal(): Journal | undefined {
    return this.#journal;
  }

  /** Offset of the next unconsumed byte. */
  get offset(): number {
    return this.#decoder.offset;
  }

  /**
   * Positions the reader at `offset` of `journal`, dropping anything buffered. `neededThrough`,
   * when known (a hinted segment's last offset), is where the bytes the caller needs end: reads
   * up to it are full-sized and none crosses it. Past it, or when unknown, reads start at
   * FIRST_READ_AFTER_SEEK and double. Either way it only sizes reads: bytes beyond it are read
   * on demand like any others.
   */
  seek(journal: Journal, offset: number, neededThrough = 0): void {
    this.#journal = journal;
    this.#ahead = undefined; // its bytes, if any, are not where the caller now reads
    this.#decoder.reset(offset);
    for (const loan of this.#loans) loan.inDecoder = false;
    this.#fetchOffset = offset;
    this.#neededThrough = neededThrough;
    this.#rampedReadSize = Math.min(this.#readSize, FIRST_READ_AFTER_SEEK);
  }

  #nextReadSize(): number {
    if (this.#neededThrough > this.#fetchOffset) {
      return Math.min(this.#readSize, this.#neededThrough - this.#fetchOffset);
    }
    const size = this.#rampedReadSize;
    this.#rampedReadSize = Math.min(this.#readSize, size * 2);
    return size;
  }

  /**
   * The next frame or garbage run. At the journal's write head, the reader waits for more bytes
   * while its read position is below `waitBelow` (Infinity: always, i.e. tailing), and otherwise
   * reports `head`. Appends are atomic, so an item that needs bytes beyond a transactional head
   * is truncated, not "not yet written". `interrupt` cancels a wait without consuming anything.
   */
  async next(waitBelow: number, interrupt?: AbortSignal): Promise<LogItem> {
    for (;;) {
      const event = this.#event(false);
      if (event !== undefined) return event;
      if (this.#decoder.buffered() > this.#maxFrameBytes) {
        return {
          type: 'oversized',
          offset: this.#decoder.offset,
          buffered: this.#decoder.buffered(),
        };
      }
      // Probe without waiting first: at the head, what is buffered must be decoded as it is
      // (a desync scan cannot wait for a full window that may never be written).
      let fetched = await this.#fetch(false, undefined);
      if (fetched === 'head') {
        const atHead = this.#event(true);
        if (atHead !== undefined) return atHead;
        if (this.#fetchOffset >= waitBelow) {
          return { type: 'head', offset: this.#decoder.offset, pending: this.#decoder.buffered() };
        }
        fetched = await this.#fetch(true, interrupt);
        if (fetched === 'interrupted') return { type: 'interrupted' };
      }
      if (typeof fetched === 'object') return fetched;
    }
  }

  #event(atHead: boolean): LogItem | undefined {
    const event = this.#decoder.next({ atHead });
    if (event?.type === 'frame') return event;
    if (event?.type === 'garbage') {
      return { type: 'garbage', offset: event.offset, length: event.bytes.length };
    }
    // 'eof' needs end(), which a live journal never reaches.
    return undefined;
  }

  /**
   * Streams the next `length` raw bytes (a Write payload) to `sink` in pieces, in order. Returns
   * undefined when all were delivered, or why they could not be: the head was reached at or
   * beyond `waitBelow` (see next()), or the journal jumped over them.
   */
  async readRaw(
    length: number,
    waitBelow: number,
    sink: (bytes: Uint8Array) => void | Promise<void>,
  ): Promise<PayloadShortfall | undefined> {
    let remaining = length;
    while (remaining > 0) {
      const piece = this.#decoder.takeRawUpTo(remaining);
      if (piece !== undefined) {
        remaining -= piece.length;
        await sink(piece);
        continue;
      }
      const fetched = await this.#fetch(this.#fetchOffset < waitBelow, undefined);
      if (fetched === 'head') return { type: 'head', offset: this.#decoder.offset };
      if (typeof fetched === 'object') return fetched;
    }
    return undefined;
  }

  /** Reads the next chunk into the decoder. */
  async #fetch(
    blocking: boolean,
    interrupt: AbortSignal | undefined,
  ): Promise<'head' | 'interrupted' | 'more' | { type: 'jump'; from: number; to: number }> {
    const journal = this.#journal;
    if (journal === undefined) throw new PlayerInvariantError('LogReader read before seek()');
    const requested = this.#fetchOffset;
    const ahead = this.#ahead;
    this.#ahead = undefined;
    this.#detachFromLoans();
    let result: ReadResult | undefined;
    let loan: Loan | undefined;
    if (ahead !== undefined && ahead.offset === requested) {
      result = await ahead.result;
      loan = ahead.loan;
    }
    if (result === undefined) {
      loan = await this.#freeLoan();
      const linked = linkSignals(this.#signal, interrupt);
      try {
        result = await journal.read(requested, {
          blocking,
          maxBytes: this.#nextReadSize(),
          signal: linked.signal,
          into: this.#lend(loan),
        });
      } catch (err) {
        if (err instanceof OffsetNotYetAvailableError) return 'head';
        if (this.#signal?.aborted !== true && interrupt?.aborted === true) return 'interrupted';
        throw err;
      } finally {
        linked.dispose();
      }
    }
    if (loan !== undefined && result.bytes.buffer === loan.buffer?.buffer) loan.inDecoder = true;
    const { offset, bytes } = result;
    this.#onRead?.(journal.name, offset + bytes.length, bytes.length);
    if (offset > requested) {
      // The bytes before `offset` are gone: whatever partial item was buffered cannot complete.
      const from = this.#decoder.offset;
      this.#decoder.reset(offset);
      this.#decoder.push(bytes);
      this.#fetchOffset = offset + bytes.length;
      return { type: 'jump', from, to: offset };
    }
    if (offset < requested) {
      throw new PlayerInvariantError(
        `journal ${journal.name} answered a read at ${requested} with bytes from ${offset}`,
      );
    }
    this.#decoder.push(bytes);
    this.#fetchOffset = offset + bytes.length;
    this.#readAhead(journal);
    return 'more';
  }

  /** Starts the next read now when its bytes are known to be needed (see #ahead). */
  #readAhead(journal: Journal): void {
    const offset = this.#fetchOffset;
    if (offset >= this.#neededThrough) return;
    const loan = this.#loans.find((l) => !l.inDecoder && l.reading === undefined);
    const read = journal
      .read(offset, {
        blocking: false,
        maxBytes: this.#nextReadSize(),
        signal: this.#signal,
        into: this.#lend(loan),
      })
      .catch(() => undefined);
    if (loan !== undefined) {
      loan.reading = read.then(() => {
        loan.reading = undefined;
      });
    }
    this.#ahead = { offset, result: read, loan };
  }

  /**
   * Before a read: the decoder's unconsumed bytes are copied out of lent buffers (an incomplete
   * frame, a garbage window: small), so both buffers can be lent again. Above MAX_DETACH_COPY
   * they stay where they are, and their buffer is not lent until they are consumed.
   */
  #detachFromLoans(): void {
    if (this.#loans.length === 0) return;
    const buffered = this.#decoder.buffered();
    if (buffered > MAX_DETACH_COPY) return;
    if (buffered > 0 && this.#loans.some((loan) => loan.inDecoder)) {
      const offset = this.#decoder.offset;
      const copy = new Uint8Array(buffered);
      for (let at = 0; at < buffered;) {
        const piece = this.#decoder.takeRawUpTo(buffered - at)!;
        copy.set(piece, at);
        at += piece.length;
      }
      this.#decoder.reset(offset);
      this.#decoder.push(copy);
    }
    for (const loan of this.#loans) loan.inDecoder = false;
  }

  /** A lent buffer the decoder does not hold, once any read into it settled (after a seek). */
  async #freeLoan(): Promise<Loan | undefined> {
    for (const loan of this.#loans) {
      if (loan.inDecoder) continue;
      if (loan.reading !== undefined) await loan.reading;
      return loan;
    }
    return undefined;
  }

  #lend(loan: Loan | undefined): Uint8Array | undefined {
    if (loan === undefined) return undefined;
    loan.buffer ??= new Uint8Array(this.#readSize);
    return loan.buffer;
  }
}

/** A buffer the reader lends the journal for its reads (see LogReaderOptions.reuseBuffers). */
interface Loan {
  buffer: Uint8Array | undefined;
  /** The read-ahead reading into it, until it settles. */
  reading: Promise<void> | undefined;
  /** The decoder may hold views of it (cleared once it holds none). */
  inDecoder: boolean;
}

/**
 * One signal that fires when either input does, detached again by dispose(). (A reader makes one
 * per read; AbortSignal.any would keep a dependent signal per read on long-lived inputs.)
 */
function linkSignals(
  a: AbortSignal | undefined,
  b: AbortSignal | undefined,
): { signal: AbortSignal | undefined; dispose: () => void } {
  if (a === undefined || b === undefined) return { signal: a ?? b, dispose: () => undefined };
  const controller = new AbortController();
  const onA = (): void => controller.abort(a.reason);
  const onB = (): void => controller.abort(b.reason);
  if (a.aborted) onA();
  else if (b.aborted) onB();
  a.addEventListener('abort', onA, { once: true });
  b.addEventListener('abort', onB, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      a.removeEventListener('abort', onA);
      b.removeEventListener('abort', onB);
    },
  };
}
