/**
 * A Journal wrapper that tells the ledger when each op's append was acknowledged.
 *
 * The harness queues a label before each Recorder call; the Recorder hands exactly one
 * non-empty append to the journal per recorded op (zero-byte appends are barriers), so the next
 * non-empty append carries the next label. When the journal resolves it, the op is durable by
 * the Journal contract: that, not a later barrier, is the acknowledgement I2 holds the
 * recovery to.
 */
import type {
  AppendOptions,
  AppendResult,
  Journal,
  ReadOptions,
  ReadResult,
  Registers,
} from '../../../src/journal/journal.js';

export interface AppendLabel {
  /** History index, or rejected-list index for a zombie's op. */
  readonly index: number;
  readonly kind: 'history' | 'zombie';
}

export interface LedgerJournalEvents {
  /** Clock reading (e.g. storage events so far). */
  clock(): number;
  acked(label: AppendLabel, at: number, result: AppendResult): void;
  failed(label: AppendLabel, error: unknown): void;
}

export class LedgerJournal implements Journal {
  readonly #inner: Journal;
  readonly #events: LedgerJournalEvents;
  readonly #labels: AppendLabel[] = [];
  /** Non-empty appends that carried no label (a harness bug if the Recorder made them). */
  unlabelled = 0;

  constructor(inner: Journal, events: LedgerJournalEvents) {
    this.#inner = inner;
    this.#events = events;
  }

  get name(): string {
    return this.#inner.name;
  }

  /** The label of the next non-empty append. */
  expect(label: AppendLabel): void {
    this.#labels.push(label);
  }

  /** Drops labels whose appends never came (the Recorder refused the op before appending). */
  clearExpectations(): void {
    this.#labels.length = 0;
  }

  append(data: Uint8Array | readonly Uint8Array[], options?: AppendOptions): Promise<AppendResult> {
    const size = data instanceof Uint8Array ? data.length : data.reduce((n, c) => n + c.length, 0);
    const label = size > 0 ? this.#labels.shift() : undefined;
    if (size > 0 && label === undefined) this.unlabelled++;
    const appended = this.#inner.append(data, options);
    if (label !== undefined) {
      appended.then(
        (result) => this.#events.acked(label, this.#events.clock(), result),
        (error: unknown) => this.#events.failed(label, error),
      );
    }
    return appended;
  }

  read(offset: number, options: ReadOptions): Promise<ReadResult> {
    return this.#inner.read(offset, options);
  }

  head(): Promise<number> {
    return this.#inner.head();
  }

  registers(): Promise<Registers> {
    return this.#inner.registers();
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
