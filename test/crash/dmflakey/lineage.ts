/**
 * One recovery log's life across power cuts (a "lineage": every child recovers it, takes it
 * over and records on), and the driver's oracle for it. The reports of each child (protocol.ts)
 * are folded into the shared Layer-1 Ledger (test/crash/lib/ledger.ts): the child's hand-off
 * no-op, then its ops, each with the time it may first have reached the journal, the Recorder's
 * FSM position after it, and the time a barrier covering it resolved. From that, the Ledger
 * gives the expectation the shared checker (test/crash/lib/invariants.ts) holds a recovery to.
 *
 * Checks made here, from the reports alone:
 * - I6: a child recovers exactly the tree (and FSM position, plus its one hand-off no-op) that
 *   the driver's own recovery found after the previous cut;
 * - I3: the zombie a child plays (the previous author, with its stale FSM) is fenced out with
 *   RegisterMismatchError, and its op is remembered so that the next recovery must not show it;
 * - error_writes: a failed sync acknowledges nothing, and no later sync may succeed.
 */
import { join } from 'node:path';
import type { Violation } from '../lib/invariants.js';
import { Ledger, type Expectation } from '../lib/ledger.js';
import { describeTreeOp, opProblem, type TreeOp } from '../lib/tree-model.js';
import { payloadBytes, type KillOp } from '../kill/model.js';
import { describeOutcome, type ChildReport } from './protocol.js';

/** The Layer-2 workload's op in the shared vocabulary (payload bytes spelled out). */
export function treeOpOf(op: KillOp): TreeOp {
  switch (op.kind) {
    case 'create':
    case 'unlink':
      return { kind: op.kind, path: op.path };
    case 'write':
      return {
        kind: 'write',
        path: op.path,
        offset: op.offset,
        data: { b64: payloadBytes(op.data).toString('base64') },
      };
    case 'append':
      return {
        kind: 'append',
        path: op.path,
        data: { b64: payloadBytes(op.data).toString('base64') },
      };
    case 'link':
    case 'rename':
      return { kind: op.kind, from: op.from, to: op.to };
  }
}

/** What the driver's own (read-only) recovery found after the last cut. */
export interface CheckedState {
  key: string;
  nextSeqNo: number;
  nextChecksum: number;
}

/** One child's run, as the lineage saw it. */
export interface ChildRun {
  author: number;
  /** When the child was handed its config (from then on it may append its hand-off no-op). */
  startedAt: number;
  reports: readonly ChildReport[];
}

export interface AbsorbResult {
  violations: Violation[];
  /** Ops of this child that reached the history (performed or attempted). */
  ops: number;
  /** Acknowledgements the child reported (at any time). */
  acks: number;
}

export class Lineage {
  readonly ledger: Ledger;
  readonly journalDir: string;
  readonly hintsDir: string;
  readonly treeDir: string;
  /** Children run so far. */
  generation = 0;
  lastAuthor: number | undefined;
  checked: CheckedState | undefined;
  /** Largest SeqNo any report acknowledged (hints may reference up to it). */
  ackedSeqNo = 0;
  /** How long the last child's recovery took (early cuts aim inside it). */
  lastPlayMs = 0;
  /**
   * The next child's first prune will delete fragments: what the stored hints it will prune
   * with need lies above the end of some fragment (set by the driver after each check).
   */
  prunable = false;

  /**
   * `dir` holds the hints and the recorded tree, and the journal unless `journalDir` puts it
   * elsewhere (the corruption round keeps it on a file system of its own).
   */
  constructor(
    readonly name: string,
    readonly dir: string,
    options: { journalDir?: string } = {},
  ) {
    this.ledger = new Ledger(name);
    this.ledger.journalCreatedAt = Number.POSITIVE_INFINITY;
    this.journalDir = options.journalDir ?? join(dir, 'journal');
    this.hintsDir = join(dir, 'hints');
    this.treeDir = join(dir, 'tree');
  }

  /** Folds a finished (killed) child's reports into the ledger and checks what they alone show. */
  absorb(run: ChildRun): AbsorbResult {
    const { ledger } = this;
    const violations: Violation[] = [];
    const reports = run.reports;
    const opened = reports.find((r) => r.t === 'opened');
    if (opened?.t === 'opened' && opened.created && ledger.journalCreatedAt === Infinity) {
      ledger.journalCreatedAt = opened.at;
    }

    const recovered = reports.find((r) => r.t === 'recovered');
    if (recovered?.t === 'recovered') {
      this.lastPlayMs = recovered.playMs;
      violations.push(...this.checkRecoveredByChild(recovered));
    }
    // The hand-off no-op: durable once the Player finished (it reads the no-op back).
    const base = ledger.history.length;
    ledger.record({
      op: { kind: 'noop', why: `hand-off to author ${run.author.toString(16)}` },
      author: run.author,
      recordedAt: run.startedAt,
      ackedAt: recovered?.t === 'recovered' ? recovered.at : undefined,
      seqNoAfter: recovered?.t === 'recovered' ? recovered.seqNo : undefined,
      checksumAfter: recovered?.t === 'recovered' ? recovered.checksum : undefined,
    });
    if (recovered?.t === 'recovered') {
      this.ackedSeqNo = Math.max(this.ackedSeqNo, recovered.seqNo - 1);
    }

    // Ops, in order, each with its FSM position when the child got to report it.
    const posts = new Map<number, { seqNo: number; checksum: number }>();
    for (const r of reports) if (r.t === 'post') posts.set(r.i, r);
    // Ops the file system refused before RecordedFs recorded anything never reached the journal.
    const refused = new Set(
      reports.flatMap((r) =>
        r.t === 'fail' && r.what === 'record' && r.recorded === false ? [r.i] : [],
      ),
    );
    const entryOf = new Map<number, number>();
    let ops = 0;
    for (const r of reports) {
      if (r.t !== 'op' || refused.has(r.i)) continue;
      const op = treeOpOf(r.op);
      const problem = opProblem(ledger.current, op);
      if (problem !== undefined) {
        violations.push({
          invariant: 'I6',
          message:
            `author ${run.author.toString(16)} op ${r.i} (${describeTreeOp(op)}) does not apply to the ` +
            `state the driver expects (${problem}): the child recovered another tree than the driver`,
        });
        break;
      }
      const post = posts.get(r.i);
      entryOf.set(
        r.i,
        ledger.record({
          op,
          author: run.author,
          recordedAt: r.at,
          seqNoAfter: post?.seqNo,
          checksumAfter: post?.checksum,
        }),
      );
      ops++;
    }

    let acks = 0;
    for (const r of reports) {
      if (r.t !== 'ack' || r.i < 1) continue;
      acks++;
      const last = entryOf.get(r.i);
      if (last === undefined) continue;
      for (let index = base; index <= last; index++) ledger.ack(index, r.at);
      const seqNo = posts.get(r.i)?.seqNo;
      if (seqNo !== undefined) this.ackedSeqNo = Math.max(this.ackedSeqNo, seqNo - 1);
    }

    for (const r of reports) {
      if (r.t !== 'zombie') continue;
      ledger.reject({
        op: { kind: 'create', path: r.path },
        author: r.author,
        at: r.at,
        why: 'zombie after a hand-off',
      });
      if (!r.fenced) {
        violations.push({
          invariant: 'I3',
          message:
            `a zombie (author ${r.author.toString(16)}, FSM from before the hand-off to ` +
            `${run.author.toString(16)}) recording ${r.path} was not fenced with RegisterMismatchError: ` +
            describeOutcome(r.outcome),
        });
      }
    }
    this.generation++;
    this.lastAuthor = run.author;
    return { violations, ops, acks };
  }

  /**
   * What a recovery after a cut at `cutAt` must show: every op acknowledged before the cut began
   * (every op ever acknowledged when `cutAt` is undefined, as after an error_writes window, where
   * nothing is silently lost), and nothing beyond what the children recorded.
   */
  expectation(cutAt: number | undefined): Expectation {
    const expect = this.ledger.expectationAt(cutAt ?? Number.POSITIVE_INFINITY);
    return { ...expect, written: this.ledger.history.length };
  }

  /** The driver's recovery found S_k: that is the history now, and the next child starts there. */
  settle(k: number, checked: CheckedState): void {
    this.ledger.startEpoch(k);
    this.checked = checked;
  }

  /** The journal was not there (a cut before its create finished): start from nothing. */
  settleMissing(): void {
    this.ledger.startEpoch(0);
    this.ledger.journalCreatedAt = Number.POSITIVE_INFINITY;
    this.checked = undefined;
  }

  /** Every payload a recorded write carried (for I4: no other byte may reach a file). */
  payloads(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const { op } of this.ledger.history) {
      if ((op.kind === 'write' || op.kind === 'append') && 'b64' in op.data) {
        out.push(new Uint8Array(Buffer.from(op.data.b64, 'base64')));
      }
    }
    return out;
  }

  private checkRecoveredByChild(recovered: Extract<ChildReport, { t: 'recovered' }>): Violation[] {
    const expected = this.checked;
    if (expected === undefined) {
      return recovered.key === ''
        ? []
        : [
            {
              invariant: 'I6',
              message: `a child recovering a new journal found files:\n${indent(recovered.key)}`,
            },
          ];
    }
    const out: Violation[] = [];
    if (recovered.key !== expected.key) {
      out.push({
        invariant: 'I6',
        message:
          `the child's hand-off recovery differs from the driver's recovery of the same journal:\n` +
          `driver:\n${indent(expected.key)}\nchild:\n${indent(recovered.key)}`,
      });
    }
    if (recovered.seqNo !== expected.nextSeqNo + 1) {
      out.push({
        invariant: 'I3',
        message:
          `after its hand-off the child's FSM expects SeqNo ${recovered.seqNo}; the driver's ` +
          `recovery ended at next SeqNo ${expected.nextSeqNo}, so exactly one no-op should follow`,
      });
    }
    return out;
  }
}

/**
 * error_writes window checks: something failed; every failure is one of the library's typed
 * errors; nothing resolved after the first failure (a failed sync acknowledges nothing, and the
 * Recorder must not pretend a later sync covers it); and, once writes work again, the failed
 * Recorder and journal still refuse (the probe).
 */
export function errorWindowViolations(
  reports: readonly ChildReport[],
  windowMs: number,
): Violation[] {
  const out: Violation[] = [];
  const failures = reports.filter((r) => r.t === 'fail');
  if (failures.length === 0) {
    const acks = reports.filter((r) => r.t === 'ack').length;
    return [
      {
        invariant: 'I2',
        message: `nothing failed within ${Math.round(windowMs / 1000)} s of every write failing with EIO (${acks} acknowledgements)`,
      },
    ];
  }
  // A barrier can only fail with the library's typed errors (JournalWriteError, then
  // JournalFailedError). Recording calls may also meet the file system's own errors (the real
  // call fails first on a broken disk), which is not the library's to type.
  for (const f of failures) {
    if (f.t === 'fail' && f.what.startsWith('barrier') && !f.outcome.typed) {
      out.push({
        invariant: 'I2',
        message: `a ${f.what} (after op ${f.i}) failed with an untyped error: ${describeOutcome(f.outcome)}`,
      });
    }
  }
  const firstSyncFailure = failures.find((f) => f.t === 'fail' && f.what.startsWith('barrier'));
  if (firstSyncFailure === undefined) return out; // only the file system refused calls: nothing to sync
  for (const r of reports) {
    if (r.t === 'ack' && r.at > firstSyncFailure.at) {
      out.push({
        invariant: 'I2',
        message:
          `a barrier resolved ${((r.at - firstSyncFailure.at) / 1000).toFixed(1)} ms after one failed ` +
          `(${r.i < 1 ? 'a barrier issued after the failure' : `covering op ${r.i}`}): a later sync ` +
          'must not cover writes whose sync failed',
      });
    }
  }
  const probe = reports.find((r) => r.t === 'probe');
  if (probe?.t === 'probe') {
    if (probe.barrier.ok) {
      out.push({
        invariant: 'I2',
        message:
          'once writes worked again, the Recorder whose sync had failed acknowledged a barrier',
      });
    }
    // After a failed fdatasync (JournalWriteError) the journal must refuse every append itself,
    // without trying again; any other rejection must at least be typed.
    const syncFailed = failures.some(
      (f) => f.t === 'fail' && f.outcome.errorCode === 'JournalWrite',
    );
    if (probe.append.ok) {
      if (syncFailed) {
        out.push({
          invariant: 'I2',
          message: 'once writes worked again, the journal whose sync had failed accepted an append',
        });
      }
    } else if (syncFailed && probe.append.errorCode !== 'JournalFailed') {
      out.push({
        invariant: 'I2',
        message:
          'once writes worked again, an append on the journal whose sync had failed should be ' +
          `refused with JournalFailedError, got ${describeOutcome(probe.append)}`,
      });
    } else if (!probe.append.typed) {
      out.push({
        invariant: 'I2',
        message: `an append after the window failed with an untyped error: ${describeOutcome(probe.append)}`,
      });
    }
  }
  return out;
}

function indent(text: string): string {
  return text === ''
    ? '  (empty)'
    : text
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n');
}

/** A journal activity a power cut can land in. */
export type Activity = 'takeover' | 'roll' | 'prune';

export interface StorageActivity {
  /** Epochs this child claimed (its take-over, then one per roll). */
  claims: number;
  /** Fragments it sealed (rolls). */
  rolls: number;
  /** Prunes that deleted fragments, and how many fragment files they deleted. */
  prunes: number;
  deletedFiles: number;
  /** What was in flight at the reference time (see storageActivity). */
  inFlight: Activity[];
}

/**
 * What the child's journal was doing at time `ref` (the cut; undefined: none), from its storage
 * events (protocol.ts StorageEvent) and prune reports, plus totals:
 * - take-over: from its first claim (the hand-off starts an epoch) until that epoch's START is
 *   durable;
 * - roll: from a SEAL until the next epoch's START is durable;
 * - prune: from its prune mark (deletions begin) until journal.prune resolved (or failed).
 */
export function storageActivity(
  reports: readonly ChildReport[],
  ref: number | undefined,
): StorageActivity {
  const activity: StorageActivity = {
    claims: 0,
    rolls: 0,
    prunes: 0,
    deletedFiles: 0,
    inFlight: [],
  };
  let takeover: boolean | undefined; // undefined: not begun yet
  let rolling = false;
  let pruning = false;
  let deleting = false;
  let settledAtRef = false;
  const settle = (): void => {
    if (settledAtRef) return;
    settledAtRef = true;
    if (takeover === true) activity.inFlight.push('takeover');
    if (rolling) activity.inFlight.push('roll');
    if (deleting) activity.inFlight.push('prune');
  };
  for (const r of reports) {
    if (ref !== undefined && r.at > ref) settle();
    if (r.t === 'io') {
      switch (r.ev) {
        case 'claim':
          activity.claims++;
          if (takeover === undefined) takeover = true;
          break;
        case 'start':
          if (takeover === true) takeover = false;
          rolling = false;
          break;
        case 'seal':
          activity.rolls++;
          rolling = true;
          break;
        case 'mark':
          if (pruning) deleting = true;
          break;
        case 'unlink':
          activity.deletedFiles++;
          break;
        default:
          break;
      }
    } else if (r.t === 'prune') {
      pruning = true;
      deleting = false;
    } else if (r.t === 'pruned' || (r.t === 'fail' && r.what === 'prune')) {
      if (r.t === 'pruned' && r.deleted > 0) activity.prunes++;
      pruning = false;
      deleting = false;
    }
  }
  if (ref !== undefined) settle();
  return activity;
}
