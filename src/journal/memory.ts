/**
 * MemoryJournal: the Journal contract held in memory, for tests. There is no real sync, but
 * appends go through the same group commit as the file journal (serialized in call order,
 * batched, registers checked in order within a batch), so code tested against it meets the same
 * orderings. Test hooks: snapshots (and journals built from them, to model "reopen after a
 * crash"), commit delays and hooks (to race appends) and injected write failures.
 */
import { setTimeout as sleep } from 'node:timers/promises';
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
  JournalWriteError,
  OffsetNotYetAvailableError,
} from './errors.js';
import { journalNameProblem } from '../journal-name.js';
import {
  AppendQueue,
  planBatch,
  type CommitHooks,
  type JournalStats,
  type QueuedAppend,
} from './group-commit.js';
import { HeadWaiters, checkReadOffset, readLength } from './head-waiters.js';
import { EMPTY_REGISTERS, registersProblem } from './registers.js';

/** A journal's committed content: what survives a crash. */
export interface MemoryJournalSnapshot {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly registers: Registers;
}

export interface MemoryJournalOptions {
  /** Initial committed content (copied). */
  bytes?: Uint8Array;
  /** Initial registers. */
  registers?: Registers;
  /** Delay every batch that writes by this many milliseconds (to let appends pile up). */
  commitDelayMs?: number;
  /** Called around each batch that writes; see CommitHooks. */
  hooks?: CommitHooks;
}

export class MemoryJournal implements Journal {
  readonly name: string;
  private bytes: Uint8Array;
  private length: number;
  private currentRegisters: Registers;
  private closed = false;
  private nextFailure: { error: unknown } | undefined;
  private readonly queue: AppendQueue;
  private readonly waiters: HeadWaiters;
  private readonly options: MemoryJournalOptions;

  constructor(name: string, options: MemoryJournalOptions = {}) {
    const problem = journalNameProblem(name);
    if (problem !== undefined) throw new InvalidJournalNameError(name, problem);
    if (options.registers !== undefined) {
      const registersIssue = registersProblem(options.registers);
      if (registersIssue !== undefined) {
        throw new TypeError(`MemoryJournal ${name}: initial registers: ${registersIssue}`);
      }
    }
    this.name = name;
    this.options = options;
    const initial = options.bytes ?? new Uint8Array(0);
    this.bytes = new Uint8Array(Math.max(initial.byteLength, 1024));
    this.bytes.set(initial);
    this.length = initial.byteLength;
    this.currentRegisters = Object.freeze({ ...(options.registers ?? EMPTY_REGISTERS) });
    this.queue = new AppendQueue(name, (batch) => this.commit(batch));
    this.waiters = new HeadWaiters(name);
  }

  /** A new journal holding a snapshot's content, as if the snapshotted one had been reopened. */
  static fromSnapshot(
    snapshot: MemoryJournalSnapshot,
    options: Omit<MemoryJournalOptions, 'bytes' | 'registers'> = {},
  ): MemoryJournal {
    return new MemoryJournal(snapshot.name, {
      ...options,
      bytes: snapshot.bytes,
      registers: snapshot.registers,
    });
  }

  /** Counters: `syncs` is the number of batch commits (one per batch that wrote). */
  get stats(): Readonly<JournalStats> {
    return { ...this.queue.stats };
  }

  /** The committed bytes and registers right now (copies). Appends in flight are not included. */
  snapshot(): MemoryJournalSnapshot {
    return {
      name: this.name,
      bytes: this.bytes.slice(0, this.length),
      registers: this.currentRegisters,
    };
  }

  /** Makes the next batch that writes fail as if its sync had failed (the journal then fails). */
  failNextCommit(error: unknown = new Error('injected write failure')): void {
    this.nextFailure = { error };
  }

  append(data: Uint8Array | readonly Uint8Array[], options?: AppendOptions): Promise<AppendResult> {
    return this.queue.append(data, options);
  }

  async read(offset: number, options: ReadOptions): Promise<ReadResult> {
    checkReadOffset(this.name, offset);
    for (;;) {
      if (this.closed) throw new JournalClosedError(this.name);
      if (offset < this.length) {
        const end = offset + readLength(this.length - offset, options.maxBytes);
        const into = options.into;
        if (into !== undefined && into.length > 0) {
          // Into the caller's buffer: the Player's tests then run with reused buffers, as on files.
          const n = Math.min(end - offset, into.length);
          into.set(this.bytes.subarray(offset, offset + n));
          return { offset, bytes: into.subarray(0, n) };
        }
        return { offset, bytes: this.bytes.slice(offset, end) };
      }
      if (!options.blocking) throw new OffsetNotYetAvailableError(this.name, offset, this.length);
      await this.waiters.wait(offset, options.signal);
    }
  }

  async head(): Promise<number> {
    if (this.closed) throw new JournalClosedError(this.name);
    return this.length;
  }

  async registers(): Promise<Registers> {
    if (this.closed) throw new JournalClosedError(this.name);
    return this.currentRegisters;
  }

  /** Pending reads reject; queued appends still complete; later calls throw JournalClosedError. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.waiters.rejectAll(new JournalClosedError(this.name));
    await this.queue.close();
  }

  private async commit(entries: QueuedAppend[]): Promise<void> {
    const plan = planBatch(this.name, entries, this.length, this.currentRegisters);
    if (!plan.needsCommit) {
      this.queue.settle(plan, false);
      return;
    }
    try {
      await this.options.hooks?.beforeWrite?.(plan.info);
      if (this.options.commitDelayMs !== undefined && this.options.commitDelayMs > 0) {
        await sleep(this.options.commitDelayMs);
      }
      const failure = this.nextFailure;
      if (failure !== undefined) {
        this.nextFailure = undefined;
        throw failure.error;
      }
      // Bytes land beyond `length`, where no reader looks, until the commit is published below.
      this.reserve(plan.end);
      let at = plan.begin;
      for (const chunk of plan.chunks) {
        this.bytes.set(chunk, at);
        at += chunk.byteLength;
      }
      await this.options.hooks?.beforeSync?.(plan.info);
    } catch (error) {
      throw error instanceof JournalWriteError
        ? error
        : new JournalWriteError(this.name, 'simulated write failure', error);
    }
    this.length = plan.end;
    this.currentRegisters = plan.registers;
    this.queue.settle(plan, true);
    this.waiters.notify(this.length);
  }

  private reserve(size: number): void {
    if (size <= this.bytes.byteLength) return;
    const grown = new Uint8Array(Math.max(size, this.bytes.byteLength * 2));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }
}
