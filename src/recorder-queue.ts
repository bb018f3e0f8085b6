/**
 * The Recorder's append queue: framed record calls wait here until they are handed to the
 * journal as one append (see recorder.ts's header for when), and every append is tracked so that
 * its commit advances the write head and its failure fails the Recorder.
 */
import type { AppendOptions, AppendResult, Journal } from './journal/journal.js';
import { RecorderAbortedError, WriteHeadRegressionError } from './recorder-errors.js';

/** With a flush delay, queued frames beyond this size are appended at once (bounds memory). */
const FLUSH_BYTES = 1024 * 1024;
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
  /** Framed ops recorded in the current synchronous run, not yet handed to the journal. */
  #queued: Uint8Array[] = [];
  #queuedBytes = 0;
  #queuedOptions: AppendOptions = NO_CHECK;
  #flushScheduled = false;
  #flushTimer: NodeJS.Timeout | undefined;
  #failed: Error | undefined;

  constructor(journal: Journal, flushDelayMs: number | undefined) {
    this.#journal = journal;
    this.#flushDelayMs = typeof flushDelayMs === 'number' && flushDelayMs > 0 ? flushDelayMs : 0;
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
   * Queues one record call's frames. A journal append costs a promise, a queue entry, a tracking
   * chain and, in a durable journal, a commit, so queued calls share one append (see recorder.ts's
   * header for when it is issued). Ops with other options (open's fencing no-op) never share an
   * append with ops before them, and a barrier flushes the queue first (see #trackAppend), so
   * call order and what each append checks are exactly as if every call had appended on its own.
   */
  enqueue(frames: Uint8Array | readonly Uint8Array[], options: AppendOptions): void {
    if (this.#queued.length > 0 && this.#queuedOptions !== options) this.flush();
    for (const part of frames instanceof Uint8Array ? [frames] : frames) {
      this.#queued.push(part);
      this.#queuedBytes += part.byteLength;
    }
    this.#queuedOptions = options;
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

  /** Hands the queued record calls to the journal as one append. */
  flush(): void {
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
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
