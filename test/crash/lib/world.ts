/**
 * SimWorld: one simulated machine running the real library end to end. A FileJournal lives on
 * a FaultyFs, a Recorder records TreeOps into it, and a Ledger (in the test's memory, outside the
 * faulty storage) remembers what was recorded and acknowledged at which storage event. From that
 * the world can rebuild the disk as it was after any event (`diskAt`), crash it with any crash
 * mode, recover it with the real Player, check the invariants, and continue under a new author.
 *
 * The clock is the number of storage events so far in the current epoch; an epoch ends with
 * each crash + recovery (the next machine's FaultyFs starts counting at 0).
 */
import { createHash } from 'node:crypto';
import { authorFence, type FSM } from '../../../src/fsm.js';
import { FileJournal } from '../../../src/journal/file.js';
import type { AppendResult, Journal } from '../../../src/journal/journal.js';
import { Recorder } from '../../../src/recorder.js';
import { encodeRecordedOp } from '../../../src/wire/codec.js';
import { encodeFrame } from '../../../src/wire/framing.js';
import type { Author, FSMHints } from '../../../src/wire/types.js';
import { describeCrashMode, fatesFor, type CrashMode } from './crash-modes.js';
import { journalFiles, type CorpusCase } from './corpus.js';
import { CrashableTarget } from './crashable-target.js';
import { DiskModel } from './disk-model.js';
import { FaultyFs, type DiskFaults } from './faulty-fs.js';
import {
  checkHintsAcked,
  checkRecovery,
  describeError,
  type CheckResult,
  type Damage,
  type Violation,
} from './invariants.js';
import { Ledger, type Expectation } from './ledger.js';
import { LedgerJournal, type AppendLabel } from './ledger-journal.js';
import { SIM_FRAGMENT_BYTES, runRecovery, type RecoveryResult } from './recover.js';
import { recordTreeOp } from './record-op.js';
import {
  applyTreeOp,
  dataBytes,
  describeTreeOp,
  opProblem,
  type TreeOp,
  type TreeState,
} from './tree-model.js';

export const SIM_LOG = 'sim/recovery-log';
export const SIM_JOURNAL_DIR = '/disk/journal';
/** The recorded directory's path (the Recorder only uses it to relativise paths). */
export const SIM_RECORD_DIR = '/data';
const FIRST_AUTHOR = 0x0a0a0001;

export interface WorldOptions {
  /** Authors are deterministic (FIRST_AUTHOR + n) unless a base is given. */
  authorBase?: number;
  /** Recovery plays in lenient mode (raced, unfenced logs). */
  lenient?: boolean;
  /**
   * Faults of the recording machine's disk (the seeded-bug suite's lying syncs), also after
   * each crash and recovery: the journal keeps running on the same broken disk.
   */
  diskFaults?: DiskFaults;
}

interface Writer {
  readonly recorder: Recorder;
  readonly proxy: LedgerJournal;
  readonly author: Author;
}

/** The empty disk every world starts from: `/disk` exists and is durable. */
function baseDisk(): DiskModel {
  const disk = new DiskModel();
  disk.apply({ t: 'mkdir', parent: 1, name: 'disk', ino: disk.allocateIno() });
  disk.apply({ t: 'dirsync', ino: 1, entries: disk.dir(1).entries });
  return disk;
}

export class SimWorld {
  readonly ledger = new Ledger(SIM_LOG);
  readonly options: WorldOptions;
  fs: FaultyFs;
  /** The disk when the current epoch began: events of `fs` replay on top of it. */
  epochDisk: DiskModel;
  journal!: FileJournal;
  writer!: Writer;
  /** The previous owner after a live hand-off (still running, fenced out). */
  zombie: Writer | undefined;
  /**
   * Journal byte range of the append that carried each history entry (by history index), when
   * acked. Ops whose record calls shared an append share its range.
   */
  readonly ranges = new Map<number, AppendResult>();
  readonly violations: Violation[] = [];
  /**
   * Called with a corpus case (crashed journal + ledger) when a recovery violates an invariant.
   * Tests set it to saveCorpusCase; the seeded-bug suite leaves it unset.
   */
  onViolation: ((kase: CorpusCase) => Promise<void>) | undefined;
  /** Extra reproduction info stored with saved cases (fast-check seed, path, ...). */
  reproduce: Record<string, string | number> = {};
  #authors = 0;
  #zombieCount = 0;
  #crashed = false;

  private constructor(options: WorldOptions) {
    this.options = options;
    this.epochDisk = baseDisk();
    this.fs = new FaultyFs(this.epochDisk.clone(), { faults: options.diskFaults });
  }

  /** A machine with a new journal, owned (through a Player hand-off) by the first author. */
  static async create(options: WorldOptions = {}): Promise<SimWorld> {
    const world = new SimWorld(options);
    const journal = await FileJournal.create(SIM_JOURNAL_DIR, SIM_LOG, {
      storage: world.fs,
      fragmentBytes: SIM_FRAGMENT_BYTES,
    });
    world.ledger.journalCreatedAt = world.clock();
    world.journal = journal;
    // The canonical start: play the (empty) log and take it over with a fenced no-op.
    const author = world.nextAuthor();
    const recordedAt = world.clock();
    const result = await runRecovery({
      journalDir: SIM_JOURNAL_DIR,
      journal,
      handoff: author,
      keepOpen: true,
    });
    if (!result.observation.ok || result.fsm === undefined) {
      throw new Error(
        `initial hand-off failed: ${result.observation.ok ? '' : describeError(result.observation.error)}`,
      );
    }
    await world.#adopt(result.fsm, author, recordedAt, undefined);
    return world;
  }

  nextAuthor(): Author {
    return (this.options.authorBase ?? FIRST_AUTHOR) + this.#authors++;
  }

  clock(): number {
    return this.fs.events.length;
  }

  get author(): Author {
    return this.writer.author;
  }

  get crashed(): boolean {
    return this.#crashed;
  }

  // ---- recording ----------------------------------------------------------------------------

  /** Whether `op` can be recorded now. */
  canRecord(op: TreeOp): boolean {
    return (
      !this.#crashed &&
      opProblem(this.ledger.current, op) === undefined &&
      this.writer.recorder.failed === undefined
    );
  }

  /** Records `op` (its append is queued, not awaited). Returns its history index. */
  record(op: TreeOp): number {
    const index = this.ledger.history.length;
    const state = this.ledger.current;
    const recordedAt = this.clock();
    const fsm = this.writer.recorder.fsm;
    const first = fsm.nextSeqNo;
    // A refused call appends nothing, so it gets no label.
    const fnode = recordTreeOp(this.writer.recorder, SIM_RECORD_DIR, state, op);
    this.writer.proxy.expect({ kind: 'history', index }, first, fsm.nextSeqNo);
    this.ledger.record({
      op,
      author: this.writer.author,
      recordedAt,
      seqNoAfter: fsm.nextSeqNo,
      checksumAfter: fsm.nextChecksum,
      fnode,
    });
    return index;
  }

  /** Waits until every op recorded so far is durable (a Recorder barrier). */
  async sync(): Promise<void> {
    await this.writer.recorder.barrier();
    this.#checkLabels();
  }

  /** BuildHints; checks I5 at the moment they resolve. */
  async buildHints(): Promise<FSMHints> {
    const covers = this.ledger.history.length;
    const hints = await this.writer.recorder.buildHints();
    this.#checkLabels();
    const at = this.clock();
    const h = this.ledger.addHints(hints, at, covers);
    this.violations.push(...checkHintsAcked(h, this.ledger.ackedAt(at)));
    return hints;
  }

  /**
   * Builds hints (the recovery point from now on) and prunes the journal below what they need:
   * every crash during the prune, and every recovery after it, must still satisfy I1-I7.
   */
  async prune(): Promise<void> {
    const hints = await this.buildHints();
    await this.journal.prune([hints]);
  }

  // ---- crashing -----------------------------------------------------------------------------

  /** The disk as it was after the first `c` storage events of this epoch. */
  diskAt(c: number): DiskModel {
    const disk = this.epochDisk.clone();
    for (const event of this.fs.events.slice(0, c)) disk.apply(event);
    return disk;
  }

  /** The disk after a crash at event `c` (default now) in `mode`. Does not stop the world. */
  crashImage(mode: CrashMode, c = this.clock()): DiskModel {
    const disk = this.diskAt(c);
    return disk.crash(fatesFor(mode, disk));
  }

  /** Power cut at event `c` (default now): the machine and everything running on it stop. */
  crash(
    mode: CrashMode,
    c = this.clock(),
  ): { disk: DiskModel; expectation: Expectation; at: number; mode: CrashMode } {
    const expectation = this.ledger.expectationAt(c);
    const disk = this.crashImage(mode, c);
    this.fs.freeze();
    this.#crashed = true;
    return { disk, expectation, at: c, mode };
  }

  /** Every byte string a recorded write carried (what I4 allows the Player to write). */
  payloads(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const { op } of [...this.ledger.history, ...this.ledger.rejected]) {
      if (op.kind === 'write' || op.kind === 'append') out.push(dataBytes(op.data));
    }
    return out;
  }

  /**
   * After crash(): boots the crashed disk, recovers from the latest hints with a hand-off to a
   * new author, checks I1-I5 against `expectation`, and (when recovery found a prefix) continues
   * there: the ledger drops the lost tail and a new Recorder owns the log.
   */
  async recover(
    disk: DiskModel,
    expectation: Expectation,
    options: { target?: CrashableTarget; damage?: Damage; at?: number; mode?: CrashMode } = {},
  ): Promise<{ check: CheckResult; result: RecoveryResult }> {
    const ledgerBefore = JSON.parse(JSON.stringify(this.ledger.toJSON())) as CorpusCase['ledger'];
    const fs = new FaultyFs(disk.clone(), { faults: this.options.diskFaults });
    const author = this.nextAuthor();
    const result = await runRecovery({
      storage: fs,
      journalDir: SIM_JOURNAL_DIR,
      hints: expectation.hints?.hints,
      handoff: author,
      keepOpen: true,
      target: options.target,
      lenient: this.options.lenient,
    });
    const damage = options.damage ?? { kind: 'crash' };
    const check = checkRecovery(expectation, result.observation, damage, this.payloads());
    this.violations.push(...check.violations);
    if (check.violations.length > 0 && this.onViolation !== undefined) {
      await this.onViolation({
        name: '',
        meta: {
          version: 1,
          layer: 'simulated',
          description: `crash at storage event ${options.at ?? '?'} of epoch ${this.ledger.epoch} (${options.mode ? describeCrashMode(options.mode) : 'mode unknown'}), recovered with a hand-off`,
          at: options.at ?? null,
          damage,
          recovery: { lenient: this.options.lenient, useHints: true },
          reproduce: this.reproduce,
          violations: check.violations,
        },
        ledger: ledgerBefore,
        journal: journalFiles(disk, SIM_JOURNAL_DIR),
      });
    }
    if (
      result.observation.ok &&
      check.k !== undefined &&
      result.fsm !== undefined &&
      result.journal !== undefined
    ) {
      this.ledger.startEpoch(check.k);
      for (const index of [...this.ranges.keys()]) if (index >= check.k) this.ranges.delete(index);
      this.epochDisk = disk;
      this.fs = fs;
      this.journal = result.journal;
      this.zombie = undefined;
      this.#crashed = false;
      await this.#adopt(result.fsm, author, 0, expectation.hints === undefined ? undefined : 0);
    } else {
      await result.journal?.close().catch(() => undefined);
    }
    return { check, result };
  }

  // ---- hand-offs and zombies ------------------------------------------------------------------

  /**
   * A live hand-off (no crash): a new author plays the log on the same journal and fences it;
   * the current writer becomes a zombie that keeps running. With `race`, the zombie's next
   * append lands between the Player's look at the write head and its hand-off no-op (the
   * Player must then retry its no-op one SeqNo later).
   */
  async handoffLive(options: { race?: boolean } = {}): Promise<CheckResult> {
    const zombie = this.writer;
    const author = this.nextAuthor();
    const hints = this.ledger.hintsAt(this.clock())?.hints;
    let raced = false;
    const wrap = (journal: Journal): Journal => {
      if (!options.race) return journal;
      const append: Journal['append'] = (data, appendOptions) => {
        const size =
          data instanceof Uint8Array ? data.length : data.reduce((n, c) => n + c.length, 0);
        if (size > 0 && !raced) {
          raced = true;
          // The zombie's op lands first: it passes the fence (still the zombie's) and is history.
          // The Recorder would hand it to the journal only at the end of this synchronous run,
          // after the Player's no-op: issue it now (it and its barrier pass the zombie's fence).
          const op: TreeOp = { kind: 'create', path: `/zr${++this.#zombieCount}` };
          if (this.canRecord(op)) {
            this.record(op);
            issueNow(this.writer.recorder);
          }
        }
        return journal.append(data, appendOptions);
      };
      return {
        name: journal.name,
        append,
        read: (o, r) => journal.read(o, r),
        head: () => journal.head(),
        registers: () => journal.registers(),
        close: () => journal.close(),
      };
    };
    const recordedAt = this.clock();
    const result = await runRecovery({
      journalDir: SIM_JOURNAL_DIR,
      journal: this.journal,
      hints,
      handoff: author,
      keepOpen: true,
      wrapJournal: wrap,
      lenient: this.options.lenient,
    });
    // Every op recorded so far was queued before the Player's barrier: all must be there.
    const expectation = this.ledger.expectationAt(this.clock());
    const exact: Expectation = { ...expectation, acked: this.ledger.history.length };
    const check = checkRecovery(exact, result.observation, { kind: 'crash' }, this.payloads());
    this.violations.push(...check.violations);
    if (!result.observation.ok || result.fsm === undefined) {
      throw new Error(
        `live hand-off failed: ${result.observation.ok ? '' : describeError(result.observation.error)}`,
      );
    }
    await this.#adopt(result.fsm, author, recordedAt, undefined);
    this.zombie = zombie;
    return check;
  }

  /**
   * The zombie (the owner before the last live hand-off) tries to record `op`. The journal's
   * fence must refuse it: its append rejecting is the expected outcome; an acknowledged zombie
   * append is an I3 violation. Once its Recorder has failed, the zombie appends a raw frame with
   * its old fence check instead (a zombie process that does not give up).
   */
  async zombieAppend(): Promise<void> {
    const zombie = this.zombie;
    if (zombie === undefined) throw new Error('no zombie: run handoffLive() first');
    const op: TreeOp = { kind: 'create', path: `/z${++this.#zombieCount}` };
    const at = this.clock();
    this.ledger.reject({ op, author: zombie.author, at, why: 'fenced zombie' });
    let appended: Promise<unknown>;
    if (zombie.recorder.failed === undefined) {
      const first = zombie.recorder.fsm.nextSeqNo;
      zombie.recorder.recordCreate(`${SIM_RECORD_DIR}${op.path}`);
      const label: AppendLabel = { kind: 'zombie', index: this.ledger.rejected.length - 1 };
      zombie.proxy.expect(label, first, zombie.recorder.fsm.nextSeqNo);
      appended = zombie.recorder.barrier();
    } else {
      const fsm = zombie.recorder.fsm;
      const frame = encodeFrame(
        encodeRecordedOp({
          seqNo: fsm.nextSeqNo,
          checksum: fsm.nextChecksum,
          author: zombie.author,
          create: { path: op.path },
          firstOffset: 0,
          lastOffset: 0,
          log: '',
        }),
      );
      appended = this.journal.append(frame, { checkRegisters: authorFence(zombie.author) });
    }
    try {
      await appended;
      this.violations.push({
        invariant: 'I3',
        message: `a fenced zombie (author ${zombie.author}) had its append of ${describeTreeOp(op)} acknowledged`,
      });
    } catch {
      // Refused by the fence: as it must be.
    }
  }

  /**
   * An unfenced take-over (Gazette without journal registers): a new author recovers read-only on
   * the same journal and records with register checks disabled, while the previous writer (now
   * the zombie) keeps recording too. Their ops interleave in the log with equal SeqNos and
   * checksums at the fork; only hints (which name the new author's segments) tell the branches
   * apart, so recoveries of this world must use the new author's hints, in lenient mode.
   */
  async forkUnfenced(): Promise<void> {
    const zombie = this.writer;
    const author = this.nextAuthor();
    const result = await runRecovery({
      journalDir: SIM_JOURNAL_DIR,
      journal: this.journal,
      hints: this.ledger.hintsAt(this.clock())?.hints,
      keepOpen: true,
      lenient: true,
    });
    if (!result.observation.ok || result.fsm === undefined) {
      throw new Error(
        `read-only recovery failed: ${result.observation.ok ? '' : describeError(result.observation.error)}`,
      );
    }
    const proxy = this.#newProxy(author);
    const recorder = await Recorder.open({
      journal: proxy,
      fsm: result.fsm,
      author,
      dir: SIM_RECORD_DIR,
      disableRegisterChecks: true,
    });
    this.writer = { recorder, proxy, author };
    this.zombie = zombie;
  }

  /**
   * The zombie of an unfenced fork records `op` (on paths of its own, which the true history
   * never touches): its append succeeds, and the ledger lists the op as one that must never be
   * recovered.
   *
   * The two branches reach the log in the order the test records them: each Recorder would
   * otherwise merge the calls of one synchronous run into a single append issued at its end (or
   * at the next barrier), so a zombie op recorded first could land after the new author's ops
   * and never open the fork. Barriers issue the queued appends at once, the new author's first.
   */
  zombieRecord(op: TreeOp, zombieState: TreeState): TreeState {
    const zombie = this.zombie;
    if (zombie === undefined) throw new Error('no zombie: run forkUnfenced() first');
    issueNow(this.writer.recorder);
    this.ledger.reject({
      op,
      author: zombie.author,
      at: this.clock(),
      why: 'unfenced zombie branch',
    });
    const first = zombie.recorder.fsm.nextSeqNo;
    recordTreeOp(zombie.recorder, SIM_RECORD_DIR, zombieState, op);
    const label: AppendLabel = { kind: 'zombie', index: this.ledger.rejected.length - 1 };
    zombie.proxy.expect(label, first, zombie.recorder.fsm.nextSeqNo);
    issueNow(zombie.recorder);
    return applyTreeOp(zombieState, op);
  }

  /** Closes what is still open (best effort; a crashed machine's handles just fail). */
  async close(): Promise<void> {
    await this.journal.close().catch(() => undefined);
  }

  // ---- internals ------------------------------------------------------------------------------

  /** Makes `author` (whose hand-off no-op the Player applied) the owner with a new Recorder. */
  async #adopt(
    fsm: FSM,
    author: Author,
    recordedAt: number,
    hintsAt: number | undefined,
  ): Promise<void> {
    const index = this.ledger.record({
      op: { kind: 'noop', why: `hand-off to ${author}` },
      author,
      recordedAt,
      seqNoAfter: fsm.nextSeqNo,
      checksumAfter: fsm.nextChecksum,
    });
    this.ledger.ack(index, this.clock());
    if (hintsAt !== undefined) {
      // Hints a recovered owner could store right away: they reference only played, durable ops.
      this.ledger.addHints(fsm.buildHints(SIM_LOG), hintsAt, index);
    }
    const proxy = this.#newProxy(author);
    const recorder = await Recorder.open({ journal: proxy, fsm, author, dir: SIM_RECORD_DIR });
    this.writer = { recorder, proxy, author };
  }

  #newProxy(author: Author): LedgerJournal {
    return new LedgerJournal(this.journal, author, {
      clock: () => this.clock(),
      acked: (label, at, result) => this.#acked(label, at, result),
      failed: () => undefined,
    });
  }

  /**
   * The ledger maps every frame the Recorders append to a labelled record call; where that broke,
   * acknowledgements are off from there on (a harness bug, not a finding about the library).
   */
  #checkLabels(): void {
    for (const writer of [this.writer, this.zombie]) {
      const problem = writer?.proxy.problems[0];
      if (problem !== undefined) {
        throw new Error(
          `the Recorder of author ${writer!.author} appended what the ledger did not expect (${problem}): the ledger is off`,
        );
      }
    }
  }

  #acked(label: AppendLabel, at: number, result: AppendResult): void {
    if (label.kind === 'history') {
      this.ledger.ack(label.index, at);
      this.ranges.set(label.index, result);
    }
  }
}

/**
 * Hands the ops `recorder` has queued in this synchronous run to the journal now, for tests that
 * interleave two writers: a barrier issues them (and then itself) before returning. Its outcome
 * is not awaited here: the ledger follows the appends, and a failure fails the Recorder.
 */
function issueNow(recorder: Recorder): void {
  recorder.barrier().catch(() => undefined);
}

/** A content key of a crashed disk's journal directory (lock files excluded: always stale). */
export function imageKey(disk: DiskModel, dir = SIM_JOURNAL_DIR): string {
  const hash = createHash('sha1');
  for (const [path, bytes] of disk.files()) {
    if (!path.startsWith(`${dir}/`)) continue;
    const name = path.slice(dir.length + 1);
    if (name.startsWith('lock')) continue;
    hash.update(`${name}\0${bytes.length}\0`);
    hash.update(bytes);
  }
  return hash.digest('base64');
}
