/**
 * The ledger: what a crash test knows independently of the storage under test. It is kept
 * outside the faulty storage (in the test's memory, in the parent process, on another disk) and
 * records, in order:
 *
 * - `history`: every op of the one linear history the recovered directory must be a prefix of,
 *   each with the clock reading when it was handed to the journal (`recordedAt`) and when its
 *   append was acknowledged (`ackedAt`: the journal promise resolved, i.e. it is durable);
 * - `rejected`: ops a fenced or zombie writer attempted, which must never appear;
 * - `hints`: hints returned by BuildHints, with the clock when they resolved and how many history
 *   entries they cover.
 *
 * The clock is whatever the layer can observe: the simulated layer uses the index of the next
 * storage event (so a crash "at event c" knows exactly which acks it had seen), other layers use
 * a counter or time. `epoch` counts recoveries: entries of earlier epochs survived a recovery and
 * are durable whatever the clock says.
 *
 * JSON-serialisable (`toJSON` / `Ledger.fromJSON`), so every layer can save it with a captured
 * journal (see corpus.ts).
 */
import type { FSMHints } from '../../../src/wire/types.js';
import { EMPTY_TREE, applyTreeOp, stateKey, type TreeOp, type TreeState } from './tree-model.js';

export interface LedgerEntry {
  readonly op: TreeOp;
  readonly author: number;
  readonly epoch: number;
  readonly recordedAt: number;
  ackedAt?: number;
  /** The Recorder's FSM position after this op, when the layer knows it. */
  readonly seqNoAfter?: number;
  readonly checksumAfter?: number;
  /** File identity (Fnode) for creates / writes, when known (checks staged writes). */
  readonly fnode?: number;
}

export interface RejectedEntry {
  readonly op: TreeOp;
  readonly author: number;
  readonly at: number;
  readonly why: string;
}

export interface LedgerHints {
  readonly hints: FSMHints;
  readonly epoch: number;
  readonly resolvedAt: number;
  /** History length when BuildHints was called: the hints may reference entries below it only. */
  readonly covers: number;
}

export interface LedgerJSON {
  readonly version: 1;
  readonly journal: string;
  readonly epoch: number;
  readonly initialSeqNo: number;
  readonly initialChecksum: number;
  /** Clock reading when the journal itself was durably created (before: it may be missing). */
  readonly journalCreatedAt: number;
  readonly history: readonly LedgerEntry[];
  readonly rejected: readonly RejectedEntry[];
  readonly hints: readonly LedgerHints[];
}

/** What recovery from a crash at clock `c` must produce (see invariants.ts). */
export interface Expectation {
  /** Canonical keys of S_0 .. S_n. */
  readonly states: readonly string[];
  /** FSM position after k entries (index k), when known. */
  readonly seqNoAfter: readonly (number | undefined)[];
  readonly checksumAfter: readonly (number | undefined)[];
  /** I2: the recovered prefix has at least this many entries. */
  readonly acked: number;
  /** I3: and at most this many (ops handed to the journal before the crash). */
  readonly written: number;
  /** The hints a recovery should start from (latest that had resolved), if any. */
  readonly hints: LedgerHints | undefined;
  /** Before the journal was durably created, recovery may find no journal at all. */
  readonly journalMayBeMissing: boolean;
  /** Paths only rejected (zombie) ops touched: their appearance is an I3 violation. */
  readonly zombiePaths: readonly string[];
}

export class Ledger {
  readonly journal: string;
  epoch = 0;
  initialSeqNo = 1;
  initialChecksum = 0;
  journalCreatedAt = 0;
  readonly history: LedgerEntry[] = [];
  readonly rejected: RejectedEntry[] = [];
  readonly hints: LedgerHints[] = [];
  /** states[k] = S_k (cache, rebuilt from history). */
  #states: TreeState[] = [EMPTY_TREE];
  #keys: string[] = [stateKey(EMPTY_TREE)];

  constructor(journal: string) {
    this.journal = journal;
  }

  /** S_k. */
  state(k: number): TreeState {
    return this.#states[k]!;
  }

  /** The state after the whole history. */
  get current(): TreeState {
    return this.#states[this.#states.length - 1]!;
  }

  stateKeyAt(k: number): string {
    return this.#keys[k]!;
  }

  /** Appends an op to the history (the caller checked it applies). Returns its index. */
  record(entry: Omit<LedgerEntry, 'epoch'>): number {
    const state = applyTreeOp(this.current, entry.op);
    this.history.push({ ...entry, epoch: this.epoch });
    this.#states.push(state);
    this.#keys.push(stateKey(state));
    return this.history.length - 1;
  }

  /** Marks entry `index` acknowledged at clock `at` (first acknowledgement wins). */
  ack(index: number, at: number): void {
    const entry = this.history[index];
    if (entry !== undefined && entry.ackedAt === undefined) entry.ackedAt = at;
  }

  reject(entry: RejectedEntry): void {
    this.rejected.push(entry);
  }

  addHints(hints: FSMHints, resolvedAt: number, covers: number): LedgerHints {
    const h: LedgerHints = { hints, epoch: this.epoch, resolvedAt, covers };
    this.hints.push(h);
    return h;
  }

  /** Entries acknowledged by clock `c`: a prefix (acks arrive in order; earlier epochs count). */
  ackedAt(c: number): number {
    let n = 0;
    for (const entry of this.history) {
      if (entry.epoch < this.epoch || (entry.ackedAt !== undefined && entry.ackedAt <= c)) n++;
      else break;
    }
    return n;
  }

  /** Entries handed to the journal strictly before clock `c` (their bytes may exist at c). */
  writtenAt(c: number): number {
    let n = 0;
    for (const entry of this.history) {
      if (entry.epoch < this.epoch || entry.recordedAt < c) n++;
      else break;
    }
    return n;
  }

  /** The latest hints of this epoch that had resolved by clock `c`. */
  hintsAt(c: number): LedgerHints | undefined {
    for (let i = this.hints.length - 1; i >= 0; i--) {
      const h = this.hints[i]!;
      if (h.epoch < this.epoch) return h;
      if (h.resolvedAt <= c) return h;
    }
    return undefined;
  }

  /** What recovery from a crash at clock `c` (default: after everything) must produce. */
  expectationAt(c = Number.POSITIVE_INFINITY): Expectation {
    const touchedByHistory = new Set<string>();
    for (const { op } of this.history) for (const p of opPaths(op)) touchedByHistory.add(p);
    const zombiePaths = new Set<string>();
    for (const { op } of this.rejected) {
      for (const p of opPaths(op)) if (!touchedByHistory.has(p)) zombiePaths.add(p);
    }
    return {
      states: this.#keys,
      seqNoAfter: [this.initialSeqNo, ...this.history.map((e) => e.seqNoAfter)],
      checksumAfter: [this.initialChecksum, ...this.history.map((e) => e.checksumAfter)],
      acked: this.ackedAt(c),
      written: this.writtenAt(c),
      hints: this.hintsAt(c),
      journalMayBeMissing: this.epoch === 0 && c < this.journalCreatedAt,
      zombiePaths: [...zombiePaths].sort(),
    };
  }

  /**
   * A recovery found the first `k` entries: they are the history from now on (the rest were
   * never acknowledged and are gone), durable, and a new epoch starts with the clock at 0.
   */
  startEpoch(k: number): void {
    this.history.length = k;
    this.#states.length = k + 1;
    this.#keys.length = k + 1;
    this.epoch++;
    // Hints of the previous epoch stay usable only if they cover no lost entry.
    const keep = this.hints.filter((h) => h.covers <= k);
    this.hints.length = 0;
    this.hints.push(...keep.map((h) => ({ ...h, epoch: Math.min(h.epoch, this.epoch - 1) })));
  }

  toJSON(): LedgerJSON {
    return {
      version: 1,
      journal: this.journal,
      epoch: this.epoch,
      initialSeqNo: this.initialSeqNo,
      initialChecksum: this.initialChecksum,
      journalCreatedAt: this.journalCreatedAt,
      history: this.history,
      rejected: this.rejected,
      hints: this.hints,
    };
  }

  static fromJSON(json: LedgerJSON): Ledger {
    if (json.version !== 1) throw new Error(`unsupported ledger version ${String(json.version)}`);
    const ledger = new Ledger(json.journal);
    ledger.initialSeqNo = json.initialSeqNo;
    ledger.initialChecksum = json.initialChecksum;
    ledger.journalCreatedAt = json.journalCreatedAt;
    for (const entry of json.history) {
      ledger.epoch = entry.epoch;
      ledger.record(entry);
      if (entry.ackedAt !== undefined) ledger.ack(ledger.history.length - 1, entry.ackedAt);
    }
    ledger.epoch = json.epoch;
    ledger.rejected.push(...json.rejected);
    ledger.hints.push(...json.hints);
    return ledger;
  }
}

export function opPaths(op: TreeOp): string[] {
  switch (op.kind) {
    case 'create':
    case 'write':
    case 'append':
    case 'unlink':
      return [op.path];
    case 'link':
    case 'rename':
      return [op.from, op.to];
    case 'noop':
      return [];
  }
}
