/**
 * The Recorder's append queue: framed record calls wait here until they are handed to the
 * journal as one append (see recorder.ts's header for when), and every append is tracked so that
 * its commit advances the write head and its failure fails the Recorder.
 */
import { COMBINE_PAYS_FROM, crc32c, crc32cCombine, noteCrc32c } from './crc32c.js';
import type { AppendOptions, AppendResult, Journal } from './journal/journal.js';
import { RecorderAbortedError, WriteHeadRegressionError } from './recorder-errors.js';
import { FRAME_HEADER_LENGTH, frameLength, writeFrame } from './wire/framing.js';

/** Queued frames beyond this size are appended at once (bounds memory). */
const FLUSH_BYTES = 1024 * 1024;
/**
 * How long queued ops wait for a barrier to take them along, unless RecorderOptions.flushDelayMs
 * says otherwise (see there).
 */
export const DEFAULT_FLUSH_DELAY_MS = 0;
/**
 * Frames are packed into buffers of this size (a larger frame gets a buffer of its own): a buffer
 * per frame cost an allocation, a queue entry and a journal chunk per op, and made garbage
 * collection dominate small writes.
 */
const SLAB_BYTES = 256 * 1024;
const NO_SLAB = Buffer.alloc(0);
/** Append options without a register check (until open() placed the fence). */
export const NO_CHECK: AppendOptions = Object.freeze({});

export class AppendQueue {
  readonly #journal: Journal;
  readonly #flushDelayMs: number;
  #writeHead = 0;
  /**
   * The tracking promise of the latest append issued (it never rejects). Journals settle appends
   * in call order, so once it has settled every earlier append has too.
   */
  #lastAppend: Promise<AppendResult | undefined> = Promise.resolve(undefined);
  /** Frames of record calls not yet handed to the journal (their last run is still in #slab). */
  #queued: Uint8Array[] = [];
  /**
   * The buffer frames are written into: [#runStart, #slabUsed) are queued frames not yet cut into
   * #queued; what is before #runStart was handed on and is never written again.
   */
  #slab: Buffer = NO_SLAB;
  #slabUsed = 0;
  #runStart = 0;
  #queuedBytes = 0;
  #queuedOptions: AppendOptions = NO_CHECK;
  #flushScheduled = false;
  #flushTimer: NodeJS.Timeout | undefined;
  #failed: Error | undefined;

  constructor(journal: Journal, flushDelayMs: number | undefined) {
    this.#journal = journal;
    this.#flushDelayMs =
      typeof flushDelayMs === 'number'
        ? flushDelayMs > 0
          ? flushDelayMs
          : 0
        : DEFAULT_FLUSH_DELAY_MS;
  }

  /** A lower bound of the offset where the next queued op will land. */
  get writeHead(): number {
    return this.#writeHead;
  }

  /** The error that stopped the Recorder, or undefined while it works. */
  get failed(): Error | undefined {
    return this.#failed;
  }

  /** Records the first failure; later ones are consequences of it. */
  fail(err: unknown): void {
    if (this.#failed) return;
    this.#failed = err instanceof Error ? err : new Error(String(err));
  }

  /**
   * Queues one record call's frames: each encoded op framed, followed by `payloads[i]` (copied)
   * if any. A journal append costs a promise, a queue entry, a tracking chain and, in a durable
   * journal, a commit, so queued calls share one append (see recorder.ts's header for when it is
   * issued). Ops with other options (open's fencing no-op) never share an append with ops before
   * them, and a barrier flushes the queue first (see #trackAppend), so call order and what each
   * append checks are exactly as if every call had appended on its own.
   */
  enqueueFrames(
    encodedOps: readonly Uint8Array[],
    payloads: readonly (Uint8Array | undefined)[] | undefined,
    options: AppendOptions,
  ): void {
    this.#startCall(options);
    for (let i = 0; i < encodedOps.length; i++) this.#frame(encodedOps[i]!, payloads?.[i]);
    this.#endCall();
  }

  /**
   * Queues the frame of a Write op (`encodedOp`, a view the encoder may reuse once this returns)
   * and its `data`, whose checksum is `payloadCrc32c`, so that the journal never reads a large
   * payload again to checksum it. Handed over (`handOver`), the caller's buffer itself travels
   * right after the frame, its checksum noted. Copied, a large payload's frame is a chunk of its
   * own whose checksum combines the frame head's with the payload's; a small one is just copied
   * among the other frames (combining would cost more than reading it).
   */
  enqueueWrite(
    encodedOp: Uint8Array,
    data: Uint8Array,
    payloadCrc32c: number,
    handOver: boolean,
    options: AppendOptions,
  ): void {
    this.#startCall(options);
    if (handOver && data.length > 0) {
      this.#frame(encodedOp);
      this.#cutRun();
      noteCrc32c(data, payloadCrc32c);
      this.#queued.push(data);
      this.#queuedBytes += data.length;
    } else if (data.length >= COMBINE_PAYS_FROM) {
      const frame = this.#ownFrame(encodedOp, data);
      const head = crc32c(frame.subarray(0, FRAME_HEADER_LENGTH + encodedOp.length));
      noteCrc32c(frame, crc32cCombine(head, payloadCrc32c, data.length));
    } else {
      this.#frame(encodedOp, data);
    }
    this.#endCall();
  }

  /** Before a record call's frames: ops with other append options start a new append. */
  #startCall(options: AppendOptions): void {
    if (this.#queuedBytes > 0 && this.#queuedOptions !== options) this.flush();
    this.#queuedOptions = options;
  }

  /** After a record call's frames: the queue is handed over as recorder.ts's header says. */
  #endCall(): void {
    if (this.#flushDelayMs <= 0) {
      if (this.#flushScheduled) return;
      this.#flushScheduled = true;
      queueMicrotask(() => {
        this.#flushScheduled = false;
        this.flush();
      });
    } else if (this.#queuedBytes >= FLUSH_BYTES) {
      this.flush();
    } else if (this.#flushTimer === undefined) {
      this.#flushTimer = setTimeout(() => {
        this.#flushTimer = undefined;
        this.flush();
      }, this.#flushDelayMs);
    }
  }

  /** Writes the frame of `encodedOp` (then `payload`) after the queued ones. */
  #frame(encodedOp: Uint8Array, payload?: Uint8Array): void {
    if (payload !== undefined && payload.length >= COMBINE_PAYS_FROM) {
      this.#ownFrame(encodedOp, payload);
      return;
    }
    const size = frameLength(encodedOp, payload);
    if (this.#slabUsed + size > this.#slab.length) {
      this.#cutRun();
      this.#slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, size));
      this.#slabUsed = 0;
      this.#runStart = 0;
    }
    this.#slabUsed = writeFrame(this.#slab, this.#slabUsed, encodedOp, payload);
    this.#queuedBytes += size;
  }

  /**
   * Queues the frame of `encodedOp` and its large `payload` as a chunk of its own, in a buffer of
   * its exact size, and returns it: sharing larger buffers measured slower for 64 KiB writes
   * (fresh pages for every buffer, where the allocator reuses freed blocks of one size).
   */
  #ownFrame(encodedOp: Uint8Array, payload: Uint8Array): Uint8Array {
    const size = frameLength(encodedOp, payload);
    this.#cutRun();
    const own = Buffer.allocUnsafe(size);
    writeFrame(own, 0, encodedOp, payload);
    this.#queued.push(own);
    this.#queuedBytes += size;
    return own;
  }

  /** Moves the frames written since the last cut into #queued, as one chunk. */
  #cutRun(): void {
    if (this.#slabUsed > this.#runStart) {
      this.#queued.push(this.#slab.subarray(this.#runStart, this.#slabUsed));
    }
    this.#runStart = this.#slabUsed;
  }

  /** Hands the queued record calls to the journal as one append. */
  flush(): void {
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#cutRun();
    if (this.#queued.length === 0) return;
    const chunks = this.#queued;
    this.#queued = [];
    this.#queuedBytes = 0;
    void this.#issueAppend(chunks, this.#queuedOptions);
  }

  /**
   * Appends, then waits for it and thereby for every earlier append; rejects if the Recorder
   * failed. Only our own append is awaited: journals settle appends in call order, so the
   * tracking handlers of earlier appends (which record a failure in #failed) have run before
   * ours. Awaiting every append in flight instead made N concurrent barriers cost O(N²).
   */
  async settledAppend(bytes: Uint8Array, options: AppendOptions): Promise<AppendResult> {
    const result = await this.#trackAppend(bytes, options);
    if (this.#failed || result === undefined) throw this.#failed;
    return result;
  }

  /** Waits for every append issued so far (queued ops included); rejects if the Recorder failed. */
  async settleAll(): Promise<void> {
    this.flush();
    await this.#lastAppend;
    if (this.#failed) throw this.#failed;
  }

  /** Appends after whatever record calls are still queued, keeping call order. */
  #trackAppend(bytes: Uint8Array, options: AppendOptions): Promise<AppendResult | undefined> {
    this.flush();
    return this.#issueAppend(bytes, options);
  }

  /**
   * Issues an append and tracks it: its commit advances the write head, its failure puts the
   * Recorder in the failed state. The returned promise never rejects (undefined = failed), so
   * an append nobody waits for cannot become an unhandled rejection.
   */
  #issueAppend(
    bytes: Uint8Array | readonly Uint8Array[],
    options: AppendOptions,
  ): Promise<AppendResult | undefined> {
    let appended: Promise<AppendResult>;
    try {
      appended = this.#journal.append(bytes, options);
    } catch (err) {
      appended = Promise.reject(err);
    }
    const settled = appended.then(
      (result) => {
        this.#observeCommit(result);
        return result;
      },
      (err: unknown) => {
        // The FSM already advanced past these ops; the log no longer matches it.
        this.fail(err);
        return undefined;
      },
    );
    this.#lastAppend = settled;
    return settled;
  }

  #observeCommit(result: AppendResult): void {
    // Journals settle appends in call order, so each commit starts at or after the last one.
    if (result.begin < this.#writeHead) {
      this.fail(
        new WriteHeadRegressionError(this.#journal.name, this.#writeHead, result.begin, result.end),
      );
      return;
    }
    this.#writeHead = result.end;
  }
}

/** The first of `signals` that has aborted, if any. */
export function abortedSignal(...signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  return signals.find((s) => s?.aborted === true);
}

/** Waits for `work`, rejecting early with RecorderAbortedError when one of `signals` aborts. */
export function awaitUnlessAborted<T>(
  what: string,
  work: Promise<T>,
  ...maybeSignals: (AbortSignal | undefined)[]
): Promise<T> {
  const signals = maybeSignals.filter((s): s is AbortSignal => s !== undefined);
  // An abort may leave `work` unobserved: keep its rejection from going unhandled.
  work.catch(() => undefined);
  if (signals.length === 0) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (event: Event): void => {
      cleanup();
      reject(new RecorderAbortedError(what, (event.target as AbortSignal).reason));
    };
    const cleanup = (): void => {
      for (const s of signals) s.removeEventListener('abort', onAbort);
    };
    for (const s of signals) {
      if (s.aborted) {
        reject(new RecorderAbortedError(what, s.reason));
        return;
      }
      s.addEventListener('abort', onAbort, { once: true });
    }
    work.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (err: unknown) => {
        cleanup();
        reject(err);
      },
    );
  });
}
