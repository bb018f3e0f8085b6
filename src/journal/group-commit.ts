/**
 * Group commit, shared by the journal implementations: appends queue in call order; one batch is
 * in flight at a time; every append queued while a batch is being written and synced joins the
 * next batch, which then costs one write and one sync however many appends it holds. The storage
 * specific part (where bytes go, how the current head and registers are learned) is the
 * `runBatch` callback; planning offsets and register checks lives here so that every journal
 * applies exactly the same rules.
 */
import type { AppendOptions, AppendResult, Registers } from './journal.js';
import {
  invalidAppend,
  JournalAppendAbortedError,
  JournalClosedError,
  JournalCorruptError,
  JournalFailedError,
  JournalWriteError,
  RegisterMismatchError,
} from './errors.js';
import { registersEqual, registersMatch, registersProblem, unionRegisters } from './registers.js';

/** Instrumentation counters (for tests and benchmarks). */
export interface JournalStats {
  /** Appends that resolved (barriers included). */
  appends: number;
  /** Batches processed, including batches of barriers that needed no write. */
  batches: number;
  /** Durable commits: one data write and one sync for a whole batch. */
  syncs: number;
  /** Bytes committed. */
  bytes: number;
}

/** What a batch is about to commit (passed to test hooks). */
export interface BatchInfo {
  readonly begin: number;
  readonly end: number;
  /** Appends in the batch that passed their register check (barriers included). */
  readonly appends: number;
  readonly registersChanged: boolean;
}

/**
 * Test hooks (fault injection and races). A hook that throws makes the batch fail exactly like a
 * failed write/sync (the appends reject with JournalWriteError and the journal refuses further
 * appends); a hook that awaits delays the commit, so tests can queue appends behind it.
 */
export interface CommitHooks {
  /** Before the batch's bytes are handed to storage. */
  beforeWrite?: (batch: BatchInfo) => void | Promise<void>;
  /** After the bytes are written, before the sync that makes them durable. */
  beforeSync?: (batch: BatchInfo) => void | Promise<void>;
}

/** One caller's append while it waits in the queue or in a batch. */
export class QueuedAppend {
  /** Handed to a batch (an abort after this point cannot guarantee nothing is written). */
  taken = false;
  settled = false;
  /** Set by planBatch: the offsets, or why the append is rejected. */
  result: AppendResult | undefined = undefined;
  error: Error | undefined = undefined;
  /** Removes the abort listener, when there is one. */
  cleanup: (() => void) | undefined = undefined;

  constructor(
    /** One chunk, or several that must stay together. */
    readonly data: Uint8Array | readonly Uint8Array[],
    readonly size: number,
    readonly checkRegisters: Registers | undefined,
    readonly unionRegisters: Registers | undefined,
    private readonly resolveFn: (result: AppendResult) => void,
    private readonly rejectFn: (error: unknown) => void,
  ) {}

  resolve(result: AppendResult): void {
    if (this.settled) return;
    this.settled = true;
    this.cleanup?.();
    this.resolveFn(result);
  }

  reject(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.cleanup?.();
    this.rejectFn(error);
  }
}

/** A batch with offsets assigned and register checks applied, ready to be written. */
export interface PlannedBatch {
  readonly begin: number;
  readonly end: number;
  /** The accepted appends' non-empty chunks, in order; their concatenation is [begin, end). */
  readonly chunks: readonly Uint8Array[];
  /** Registers after the batch. */
  readonly registers: Registers;
  readonly registersChanged: boolean;
  /** True when something must be written (bytes or a register change). */
  readonly needsCommit: boolean;
  readonly info: BatchInfo;
  /** The batch's appends in call order, each with its `result` or `error` set. */
  readonly entries: readonly QueuedAppend[];
}

/**
 * Assigns offsets in call order starting at `head`, checking each append's registers against the
 * registers as left by the appends before it in the same batch.
 */
export function planBatch(
  journal: string,
  entries: readonly QueuedAppend[],
  head: number,
  registers: Registers,
): PlannedBatch {
  const chunks: Uint8Array[] = [];
  let end = head;
  let current = registers;
  let accepted = 0;
  for (const entry of entries) {
    if (entry.settled) continue; // aborted before anything was handed to storage
    if (entry.checkRegisters !== undefined && !registersMatch(current, entry.checkRegisters)) {
      entry.error = new RegisterMismatchError(journal, entry.checkRegisters, current);
      continue;
    }
    if (end + entry.size > Number.MAX_SAFE_INTEGER) {
      entry.error = invalidAppend(journal, `the journal would exceed 2^53 bytes at offset ${end}`);
      continue;
    }
    const begin = end;
    end += entry.size;
    const data = entry.data;
    if (data instanceof Uint8Array) {
      if (data.byteLength > 0) chunks.push(data);
    } else {
      for (const chunk of data) if (chunk.byteLength > 0) chunks.push(chunk);
    }
    if (entry.unionRegisters !== undefined) current = unionRegisters(current, entry.unionRegisters);
    accepted += 1;
    entry.result = { begin, end };
  }
  const registersChanged = !registersEqual(registers, current);
  return {
    begin: head,
    end,
    chunks,
    registers: registersChanged ? current : registers,
    registersChanged,
    needsCommit: end > head || registersChanged,
    info: { begin: head, end, appends: accepted, registersChanged },
    entries,
  };
}

/** Fatal errors leave the journal refusing appends until reopened (see JournalWriteError). */
function isFatal(error: unknown): boolean {
  return error instanceof JournalWriteError || error instanceof JournalCorruptError;
}

/** The byte length of `data`, or a description of what is wrong with it. */
function sizeOf(data: unknown): number | string {
  if (data instanceof Uint8Array) return data.byteLength;
  if (Array.isArray(data)) {
    let size = 0;
    for (const chunk of data) {
      if (!(chunk instanceof Uint8Array)) return 'every chunk must be a Uint8Array';
      size += chunk.byteLength;
    }
    return size;
  }
  return 'data must be a Uint8Array or an array of Uint8Array';
}

/**
 * The queue itself. `runBatch` receives the next batch (in call order), must settle its entries
 * (typically via planBatch + settle) and may throw: then the entries still unsettled reject with
 * that error, and a write/corruption error additionally fails the queue.
 */
export class AppendQueue {
  readonly stats: JournalStats = { appends: 0, batches: 0, syncs: 0, bytes: 0 };
  private pending: QueuedAppend[] = [];
  private running = false;
  private scheduled = false;
  private closed = false;
  private failure: unknown = undefined;
  private failed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly journal: string,
    private readonly runBatch: (entries: QueuedAppend[]) => Promise<void>,
  ) {}

  /** Appends waiting for the next batch. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** The error that failed the queue, if any. */
  get failedWith(): unknown {
    return this.failed ? this.failure : undefined;
  }

  append(
    data: Uint8Array | readonly Uint8Array[],
    options: AppendOptions | undefined,
  ): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new JournalClosedError(this.journal));
    if (this.failed) return Promise.reject(new JournalFailedError(this.journal, this.failure));
    const size = sizeOf(data);
    if (typeof size === 'string') return Promise.reject(invalidAppend(this.journal, size));
    if (options !== undefined) {
      for (const key of ['checkRegisters', 'unionRegisters'] as const) {
        const registers = options[key];
        const problem = registers === undefined ? undefined : registersProblem(registers);
        if (problem !== undefined) {
          return Promise.reject(invalidAppend(this.journal, `${key}: ${problem}`));
        }
      }
    }
    const signal = options?.signal;
    if (signal?.aborted) {
      return Promise.reject(new JournalAppendAbortedError(this.journal, signal.reason, false));
    }
    return new Promise<AppendResult>((resolve, reject) => {
      const entry = new QueuedAppend(
        data,
        size,
        options?.checkRegisters,
        options?.unionRegisters,
        resolve,
        reject,
      );
      if (signal !== undefined) {
        const onAbort = (): void => {
          if (!entry.taken) {
            const at = this.pending.indexOf(entry);
            if (at !== -1) this.pending.splice(at, 1);
          }
          entry.reject(new JournalAppendAbortedError(this.journal, signal.reason, entry.taken));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        entry.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      this.pending.push(entry);
      this.schedule();
    });
  }

  /** Records a finished batch: settles its appends in call order and counts it. */
  settle(plan: PlannedBatch, synced: boolean): void {
    this.stats.batches += 1;
    if (synced) {
      this.stats.syncs += 1;
      this.stats.bytes += plan.end - plan.begin;
    }
    for (const entry of plan.entries) {
      if (entry.result !== undefined) {
        if (!entry.settled) this.stats.appends += 1;
        entry.resolve(entry.result);
      } else if (entry.error !== undefined) {
        entry.reject(entry.error);
      }
    }
  }

  /** Stops accepting appends; resolves once every queued append has settled. */
  close(): Promise<void> {
    this.closed = true;
    if (!this.running && !this.scheduled && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    // A microtask rather than starting at once: appends issued in the same synchronous run of
    // the caller's code then share the first batch too.
    queueMicrotask(() => {
      this.scheduled = false;
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.pending.length > 0) {
        if (this.failed) {
          for (const entry of this.pending.splice(0)) {
            entry.reject(new JournalFailedError(this.journal, this.failure));
          }
          break;
        }
        const batch = this.pending;
        this.pending = [];
        for (const entry of batch) entry.taken = true;
        try {
          await this.runBatch(batch);
        } catch (error) {
          if (isFatal(error)) {
            this.failed = true;
            this.failure = error;
          }
          for (const entry of batch) entry.reject(error);
        }
      }
    } finally {
      this.running = false;
      if (this.pending.length > 0) {
        this.schedule();
      } else {
        for (const wake of this.idleWaiters.splice(0)) wake();
      }
    }
  }
}
