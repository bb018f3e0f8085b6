/**
 * One lane of the kill -9 test: one journal on local disk, recorded into by a succession of
 * children, each of which first recovers what its predecessors left (a fresh process: Player with
 * hand-off, from the stored hints or from offset 0), records on top, and dies. After every death
 * the parent replays the journal from offset 0 itself and checks the invariants (ledger.ts).
 *
 * A cycle: take the warm child (already past Node's start-up), spawn the next warm one, send
 * 'go', kill it according to its plan, verify. A zombie plan pauses the child instead of killing
 * it; once the next child has recovered (and so fenced the log), the zombie is told to append,
 * must report RegisterMismatchError, and is killed; nothing of it may ever be recovered.
 * A stop plan SIGSTOPs the child instead, right after one of its acks, while it holds the append
 * lock (the lock file names it): the next child's hand-off must get past it within the lock
 * lease plus a few seconds; once that child acknowledged ops of its own, the stopped one is
 * SIGCONTed, unaware, and must meet a failure (the FENCE, then RegisterMismatchError), never an
 * ack beyond what the check before the hand-off proved; nothing of it may ever be recovered.
 * The journal starts over (a new epoch) every few generations, so offset-0 replays stay short.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HintsStore } from '../../../src/hints-store.js';
import { FileJournal } from '../../../src/journal/file.js';
import { DEFAULT_LOCK_LEASE_MS } from '../../../src/journal/file-lock.js';
import type { FSMHints } from '../../../src/wire/types.js';
import { replayCorpusCase } from '../lib/corpus.js';
import type { LedgerEntry, RejectedEntry } from '../lib/ledger.js';
import { KillChild, type ChildPlan } from './child-process.js';
import {
  buildKillCase,
  journalFilesOf,
  journalFilesUpTo,
  saveKillCase,
  toTreeOp,
  type KillCase,
} from './corpus.js';
import { readIntents, type Intents } from './intents.js';
import { checkStoredHints, findPrefix, type Violation } from './ledger.js';
import { TreeModel, prng } from './model.js';
import { replayFromZero, type Replay } from './replay.js';
import {
  PLAYER_FAILPOINTS,
  isFailpointName,
  type FailpointName,
  type FsmPosition,
  type GoMessage,
  zombieFile,
} from './protocol.js';
import type { KillStats } from './stats.js';
import { describeDifference } from './tree.js';

/** Generations per journal before the lane starts a new one. */
const GENERATIONS_PER_EPOCH = 8;

/**
 * A recovery whose hand-off must get past a SIGSTOPped lock holder finishes within the lock
 * lease (children open their journal with the default) plus this much.
 */
const HANDOFF_SLACK_MS = 3000;

/** What a resumed SIGSTOPped zombie may meet: its fencing, or the failed state it leaves. */
const STOPPED_ZOMBIE_ERRORS = [
  'RegisterMismatchError',
  'JournalWriteError',
  'JournalFailedError',
  'JournalLockedError',
  'JournalContendedError',
];

/** Failing cases saved per run (the first ones; later ones are usually the same bug). */
const MAX_CORPUS_CASES = 5;

/** The hit count a failpoint is armed with, drawn from [1, max]. */
const MAX_HIT: Record<FailpointName, number> = {
  'kill-frame-payload': 12,
  'kill-write-before-sync': 16,
  'kill-journal-after-sync': 16,
  'kill-sync-before-ack': 16,
  'kill-hints-write': 4,
  'kill-player-staging': 4,
  'kill-player-make-live': 3,
  'kill-player-handoff': 1,
};

export interface LaneContext {
  root: string;
  stats: KillStats;
  finished(): boolean;
  /** Ends the run early (a lane failed). */
  stop(): void;
  failpoints: readonly FailpointName[];
  /** The run's seed (recorded with saved cases). */
  seed: number;
  /** Share of recoveries that start from the stored hints (the rest replay from offset 0). */
  hintedShare: number;
  /** Share of children SIGSTOPped while holding the append lock (the 'stop' plan). */
  stopShare: number;
  corpusDir?: string;
  childEnv?: Record<string, string>;
  /** `node` arguments that start a child (child-entry.ts). */
  childArgs: readonly string[];
  log(line: string): void;
}

interface EpochDirs {
  root: string;
  journal: string;
  hints: string;
  expect: string;
  intents: string;
}

export class Lane {
  readonly id: number;
  readonly #ctx: LaneContext;
  readonly #random: () => number;
  #epoch = 0;
  #gen = 0;
  #gensInEpoch = 0;
  #dirs!: EpochDirs;
  #journalName = '';
  /** S_0 of the current generation: the state the last check proved. */
  #base = new TreeModel();
  #basePost: FsmPosition = { seqNo: 1, checksum: 0 };
  /** Recoveries since the last check that may have appended a hand-off no-op. */
  #noops = 0;
  #ackedSeqNo = 0;
  /** The parent's last offset-0 replay: what the next recovery must reproduce. */
  #expected!: Replay;
  /** Journal head when the current child got 'go' (the bytes its recovery found). */
  #headAtGo = 0;
  /** The linear history proven so far in this journal, as shared-ledger entries. */
  #proven: LedgerEntry[] = [];
  /** What zombies tried to append after they were fenced. */
  #rejected: RejectedEntry[] = [];
  #warm: KillChild | undefined;
  #zombie: KillChild | undefined;
  /** A SIGSTOPped zombie's ops 1..j that its check proved: it may never ack past them. */
  #zombieProven = 0;
  /** The lock file named the SIGSTOPped zombie as the append lock's holder when it stopped. */
  #zombieHeldLock = false;
  /** The lock file named the current zombie (stopped or paused) when this child got 'go'. */
  #zombieHoldsLockAtGo = false;
  #spawned = 0;
  #stopsPlanned = 0;
  #pending: Violation[] = [];
  #resetEpoch = false;
  #events: object[] = [];
  #recoveryEstimateMs = 250;

  constructor(id: number, seed: number, ctx: LaneContext) {
    this.id = id;
    this.#random = prng(seed);
    this.#ctx = ctx;
  }

  async loop(): Promise<void> {
    await this.#newEpoch();
    try {
      while (!this.#ctx.finished()) await this.#cycle();
    } catch (err) {
      this.#ctx.stop(); // the other lanes finish their cycle and stop too
      this.#ctx.log(
        `kill: lane ${this.id} failed: ${err instanceof Error ? err.stack : String(err)}`,
      );
      throw err;
    } finally {
      for (const child of [this.#warm, this.#zombie]) {
        child?.kill();
        await child?.closed;
      }
      await rm(join(this.#ctx.root, `lane-${this.id}`), { recursive: true, force: true });
    }
  }

  async #newEpoch(): Promise<void> {
    if (this.#dirs !== undefined) await rm(this.#dirs.root, { recursive: true, force: true });
    this.#epoch++;
    this.#ctx.stats.epochs++;
    const root = join(this.#ctx.root, `lane-${this.id}`, `e-${this.#epoch}`);
    this.#dirs = {
      root,
      journal: join(root, 'journal'),
      hints: join(root, 'hints'),
      expect: join(root, 'expect'),
      intents: join(root, 'intents'),
    };
    await rm(root, { recursive: true, force: true });
    this.#journalName = `kill/lane-${this.id}/e-${this.#epoch}`;
    await (await FileJournal.create(this.#dirs.journal, this.#journalName)).close();
    this.#expected = await replayFromZero(this.#dirs.journal, this.#dirs.expect);
    this.#base = new TreeModel();
    this.#basePost = this.#expected.fsm;
    this.#noops = 0;
    this.#ackedSeqNo = 0;
    this.#gensInEpoch = 0;
    this.#events = [];
    this.#proven = [];
    this.#rejected = [];
    this.#resetEpoch = false;
  }

  #plan(): ChildPlan {
    const r = this.#random();
    this.#spawned++;
    // Every lane stops one early (its third child), then a share of them.
    if (
      this.#random() < this.#ctx.stopShare ||
      (this.#spawned === 3 && this.#stopsPlanned === 0 && this.#ctx.stopShare > 0)
    ) {
      this.#stopsPlanned++;
      return { mode: 'stop' };
    }
    if (r < 0.07) return { mode: 'zombie' };
    if (r < 0.55 && this.#ctx.failpoints.length > 0) {
      // The least hit failpoint so far, then the least planned (ties at random): every one is
      // exercised evenly, and one not reached yet is armed again until it is (the run requires
      // every failpoint to be reached).
      const { planned, byFailpoint } = this.#ctx.stats;
      const score = (f: FailpointName) => (byFailpoint[f] ?? 0) * 1e6 + (planned[f] ?? 0);
      const lowest = Math.min(...this.#ctx.failpoints.map(score));
      const candidates = this.#ctx.failpoints.filter((f) => score(f) === lowest);
      const name = candidates[Math.floor(this.#random() * candidates.length)]!;
      planned[name] = (planned[name] ?? 0) + 1;
      return { mode: 'failpoint', name, hit: 1 + Math.floor(this.#random() * MAX_HIT[name]) };
    }
    return { mode: 'random', duringRecovery: this.#random() < 0.25 };
  }

  /** The warm child, or a new one; a child that dies before it is ready is replaced (twice). */
  async #readyChild(): Promise<KillChild> {
    for (let attempt = 1; ; attempt++) {
      const child = this.#warm ?? this.#spawn();
      this.#warm = undefined;
      try {
        await child.ready;
        return child;
      } catch (err) {
        if (attempt >= 3) throw err;
        this.#ctx.log(`kill: lane ${this.id}: a child failed to start, retrying: ${String(err)}`);
      }
    }
  }

  #spawn(): KillChild {
    return new KillChild(this.#plan(), this.#ctx.childArgs, this.#ctx.childEnv);
  }

  async #cycle(): Promise<void> {
    if (this.#resetEpoch && this.#zombie !== undefined) {
      // After a violation the lane's base is unknown: start over without the zombie.
      this.#zombie.kill();
      await this.#zombie.closed;
      this.#zombie = undefined;
    }
    if (
      this.#zombie === undefined &&
      (this.#resetEpoch || this.#gensInEpoch >= GENERATIONS_PER_EPOCH)
    ) {
      await this.#newEpoch();
    }
    const child = await this.#readyChild();
    this.#warm = this.#spawn(); // starts up while this one works
    this.#gen++;
    this.#gensInEpoch++;
    const go: GoMessage = {
      type: 'go',
      journalDir: this.#dirs.journal,
      hintsDir: this.#dirs.hints,
      treeDir: join(this.#dirs.root, `g-${this.#gen}`),
      intentsFile: join(this.#dirs.intents, `g-${this.#gen}.ops`),
      author: 1 + Math.floor(this.#random() * 0xfffffffe),
      seed: Math.floor(this.#random() * 0xffffffff),
      useHints: this.#random() < this.#ctx.hintedShare,
      stoppable: child.plan.mode === 'stop',
    };
    await mkdir(this.#dirs.intents, { recursive: true });
    const readyAt = performance.now();
    this.#headAtGo = this.#expected.head;
    this.#zombieHoldsLockAtGo =
      this.#zombie !== undefined && (await lockHolderPid(this.#dirs.journal)) === this.#zombie.pid;
    child.start(go);
    this.#noops++;
    const outcome = await this.#drive(child);
    const diedAt = performance.now();
    this.#count(child);
    await this.#verify(child, outcome);
    if (process.env.KILL_DEBUG) {
      const ms = (from: number, to: number) => (to > 0 ? (to - from).toFixed(0) : '-');
      this.#ctx.log(
        `kill: lane ${this.id} gen ${this.#gen} ${JSON.stringify(child.plan)} ${child.describeExit()} ` +
          `recovered ${ms(readyAt, child.recoveredAt)} ms, died ${ms(readyAt, diedAt)} ms, ` +
          `verified ${ms(diedAt, performance.now())} ms, acked ${child.acked.op}`,
      );
    }
    if (outcome === 'paused' || outcome === 'stopped') this.#zombie = child;
    else await rm(go.treeDir, { recursive: true, force: true });
  }

  #violation(invariant: Violation['invariant'], detail: string): void {
    this.#pending.push({ invariant, detail });
  }

  /** Runs the child's plan; resolves when it is dead, or paused or stopped (a zombie to be). */
  async #drive(child: KillChild): Promise<'dead' | 'paused' | 'stopped'> {
    const plan = child.plan;
    const sleep = (ms: number) => child.until(() => false, ms);
    if (plan.mode === 'random' && plan.duringRecovery) {
      await sleep(this.#random() * this.#recoveryEstimateMs * 1.2);
      child.kill();
      await child.closed;
      return 'dead';
    }
    if (!(await child.until(() => child.recovered !== undefined, 60_000))) {
      if (child.alive) this.#violation('harness', 'the child did not recover within 60 s');
      child.kill();
      await child.closed;
      return 'dead';
    }
    this.#checkRecovered(child);
    if (this.#zombie !== undefined) await this.#pokeZombie(child);
    const recordFor = () => 30 + this.#random() * 270;
    if (plan.mode === 'random') {
      await sleep(recordFor());
    } else if (plan.mode === 'failpoint') {
      if (PLAYER_FAILPOINTS.includes(plan.name)) {
        this.#miss(plan.name); // recovery is over: this one cannot fire any more
        await sleep(recordFor());
      } else if (await sleep(1500).then(() => child.alive)) {
        this.#miss(plan.name);
      }
    } else if (plan.mode === 'stop') {
      await sleep(30 + this.#random() * 170);
      if (await this.#stopHoldingLock(child)) return 'stopped';
      this.#violation(
        'harness',
        `could not SIGSTOP the child after an ack (${child.describeExit()})`,
      );
    } else {
      await sleep(30 + this.#random() * 170);
      child.send({ type: 'pause' });
      if (await child.until(() => child.paused !== undefined, 20_000)) return 'paused';
      this.#violation('harness', `the zombie-to-be did not pause (${child.describeExit()})`);
    }
    child.kill();
    await child.closed;
    return 'dead';
  }

  /**
   * SIGSTOPs the child right after one of its acks, until the lock file names it as the holder
   * (a few tries; it holds the lock nearly all the time while recording). True once stopped.
   */
  async #stopHoldingLock(child: KillChild): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      if (!(await child.stopAtNextAck(5000))) return false;
      this.#zombieHeldLock = (await lockHolderPid(this.#dirs.journal)) === child.pid;
      if (this.#zombieHeldLock || attempt >= 20) return true; // (a stopped zombie all the same)
      child.cont();
    }
  }

  #miss(name: FailpointName): void {
    this.#ctx.stats.missed[name] = (this.#ctx.stats.missed[name] ?? 0) + 1;
  }

  /** The child's hinted hand-off recovery must be our offset-0 replay, plus its no-op. */
  #checkRecovered(child: KillChild): void {
    const recovered = child.recovered!;
    const stats = this.#ctx.stats;
    stats.recoveries++;
    if (recovered.usedHints) stats.hintedRecoveries++;
    stats.recoveryMs.push(recovered.recoveryMs);
    const took = child.recoveredAt - child.goAt;
    if (this.#zombie !== undefined && this.#zombieHoldsLockAtGo && !this.#zombie.stopped) {
      // A paused zombie is alive and idle: it should hand the lock over on the doorbell.
      stats.handoffsPastPausedMs.push(took);
    }
    if (this.#zombie?.stopped === true) {
      // The hand-off had to get past a stopped process holding the lock: the lease bounds it
      // (the old journal waited for the holder to resume, or failed with JournalLockedError).
      if (this.#zombieHoldsLockAtGo) stats.handoffsPastStoppedMs.push(took);
      const bound = DEFAULT_LOCK_LEASE_MS + HANDOFF_SLACK_MS;
      if (took > bound) {
        this.#violation(
          'I7',
          `the hand-off past a SIGSTOPped lock holder took ${took.toFixed(0)} ms (bound: lease ` +
            `${DEFAULT_LOCK_LEASE_MS} ms + ${HANDOFF_SLACK_MS} ms)`,
        );
      }
    } else {
      this.#recoveryEstimateMs = 0.8 * this.#recoveryEstimateMs + 0.2 * took;
    }
    if (recovered.tree.digest !== this.#expected.tree.digest) {
      this.#violation(
        recovered.usedHints ? 'I5' : 'I6',
        `the child's ${recovered.usedHints ? 'hinted' : 'offset-0'} recovery differs from the ` +
          `parent's offset-0 replay just before: ${describeDifference(this.#expected.tree, recovered.tree)}`,
      );
    }
    if (recovered.fsm.seqNo !== this.#expected.fsm.seqNo + 1) {
      this.#violation(
        'I7',
        `after its hand-off the child's FSM is at SeqNo ${recovered.fsm.seqNo}, expected ` +
          `${this.#expected.fsm.seqNo + 1} (the replayed history plus one no-op)`,
      );
    }
  }

  async #pokeZombie(owner: KillChild): Promise<void> {
    const zombie = this.#zombie!;
    this.#zombie = undefined;
    const stats = this.#ctx.stats;
    stats.zombies++;
    const stopped = zombie.stopped;
    if (stopped) {
      stats.stoppedZombies++;
      if (this.#zombieHeldLock) stats.stoppedHoldingLock++;
      // The new owner acknowledges ops of its own first; then the old one resumes, unaware.
      const from = owner.acked.op;
      await owner.until(() => owner.acked.op >= from + 2 || !owner.alive, 2000);
      zombie.send({ type: 'zombie' });
      zombie.cont();
    } else {
      zombie.send({ type: 'zombie' });
    }
    const author = zombie.go!.author;
    const file = zombieFile(author);
    const why = 'appended by a zombie after another process took the log over';
    this.#rejected.push(
      { op: { kind: 'create', path: file.path }, author, at: 0, why },
      {
        op: {
          kind: 'write',
          path: file.path,
          offset: 0,
          data: { b64: Buffer.from(file.content).toString('base64') },
        },
        author,
        at: 0,
        why,
      },
    );
    await zombie.until(() => zombie.zombieResult !== undefined, 20_000);
    const result = zombie.zombieResult;
    if (result !== undefined) {
      const name = result.failed ? result.errorName : 'no error';
      stats.zombieErrors[name] = (stats.zombieErrors[name] ?? 0) + 1;
    }
    if (stopped) {
      // Checked once it is gone and every message it sent has arrived.
      zombie.kill();
      await zombie.closed;
      this.#checkStoppedZombie(zombie);
    } else if (result?.fenced === true) stats.zombiesFenced++;
    else {
      this.#violation(
        'I3',
        result === undefined
          ? `the zombie never reported (${zombie.describeExit()}): ${zombie.stderr.slice(-500)}`
          : `the zombie's append after the hand-off was not fenced: ${result.errorName} ` +
              `${result.errorCode} ${result.message}`,
      );
    }
    zombie.kill();
    await zombie.closed;
    if (zombie.go !== undefined) await rm(zombie.go.treeDir, { recursive: true, force: true });
  }

  /**
   * A SIGSTOPped zombie, resumed after the hand-off: it must have met a failure (the FENCE, then
   * RegisterMismatchError; or the failed state its journal was left in), and acknowledged no op
   * beyond those the check before the hand-off found in the journal (the I2 side of fencing: an
   * ack of an op that lost to the FENCE). Its ops beyond those are rejected for the ledger.
   */
  #checkStoppedZombie(zombie: KillChild): void {
    const result = zombie.zombieResult;
    const proven = this.#zombieProven;
    const failedProperly =
      result !== undefined && result.failed && STOPPED_ZOMBIE_ERRORS.includes(result.errorName);
    if (failedProperly && zombie.acked.op <= proven) this.#ctx.stats.zombiesFenced++;
    if (!failedProperly) {
      const met =
        result === undefined
          ? `never reported (${zombie.describeExit()}): ${zombie.error ?? zombie.stderr.slice(-500)}`
          : result.failed
            ? `met ${result.errorName} ${result.errorCode}, not its fencing: ${result.message}`
            : 'appended without an error';
      this.#violation('I3', `the SIGSTOPped zombie, resumed after the hand-off, ${met}`);
    }
    if (zombie.acked.op > proven) {
      this.#violation(
        'I2',
        `the SIGSTOPped zombie acknowledged its op ${zombie.acked.op} after it was resumed, but ` +
          `the journal held only its ops 1..${proven} when the next process took over: an ` +
          'acknowledged op that lost to the FENCE',
      );
    }
    const author = zombie.go!.author;
    const why = 'appended by a SIGSTOPped zombie after another process took the log over';
    const intents = readIntents(zombie.go!.intentsFile);
    for (const op of intents.ops.slice(proven)) {
      this.#rejected.push({ op: toTreeOp(op), author, at: 0, why });
    }
  }

  #count(child: KillChild): void {
    if ((child.paused !== undefined || child.stopped) && child.alive) return;
    const stats = this.#ctx.stats;
    const plan = child.plan;
    const hit = child.failpointsHit;
    if (hit.length > 0) {
      // The child says where it died: exactly once, at the failpoint it was armed with, which
      // must be one of this run's (a name outside the list is an error, never a count).
      const armed = plan.mode === 'failpoint' ? plan.name : undefined;
      const name = hit[0]!;
      if (
        hit.length !== 1 ||
        name !== armed ||
        !isFailpointName(name) ||
        !this.#ctx.failpoints.includes(name) ||
        child.exit?.signal !== 'SIGKILL'
      ) {
        stats.unexpectedFailpoints.push(...hit);
        this.#violation(
          'harness',
          `the child reported failpoint hits [${hit.join(', ')}] (${child.describeExit()}), but ` +
            `it was armed with ${armed ?? 'none'} and this run's failpoints are ` +
            `${this.#ctx.failpoints.join(', ')}`,
        );
        return;
      }
      stats.kills++;
      stats.failpoint++;
      stats.byFailpoint[name] = (stats.byFailpoint[name] ?? 0) + 1;
    } else if (child.killedByParent) {
      stats.kills++;
      stats.random++;
    } else if (child.exit?.signal === 'SIGKILL') {
      this.#violation(
        'harness',
        `the child was SIGKILLed by neither the parent nor a failpoint (plan ${JSON.stringify(plan)})`,
      );
      return;
    } else {
      // The library failed in a fresh process: recovering (from hints or offset 0) or recording
      // on top of a recovery.
      const phase =
        child.recovered !== undefined
          ? 'recording after its recovery'
          : child.go?.useHints
            ? 'recovery from the stored hints'
            : 'recovery from offset 0';
      this.#violation(
        child.recovered !== undefined ? 'I7' : child.go?.useHints ? 'I5' : 'I1',
        `the child died in ${phase} (${child.describeExit()}): ${child.error ?? child.stderr.slice(-1500)}`,
      );
      return;
    }
    if (child.recovered === undefined) stats.duringRecovery++;
  }

  async #verify(child: KillChild, outcome: 'dead' | 'paused' | 'stopped'): Promise<void> {
    const go = child.go!;
    const recovered = child.recovered;
    const intents: Intents =
      recovered !== undefined ? readIntents(go.intentsFile) : { ops: [], posts: new Map() };
    if (recovered !== undefined) {
      // This generation started from the expected base, with the child's hand-off no-op on top.
      this.#basePost = recovered.fsm;
      this.#noops = 0;
      this.#ackedSeqNo = Math.max(this.#ackedSeqNo, recovered.fsm.seqNo - 1);
    }
    this.#ackedSeqNo = Math.max(this.#ackedSeqNo, child.acked.seqNo);
    const acked = recovered !== undefined ? child.acked.op : 0;
    if (outcome === 'paused' && acked !== intents.ops.length) {
      this.#violation('harness', `paused after op ${intents.ops.length} but acked only ${acked}`);
    }
    const event: Record<string, unknown> = {
      gen: this.#gen,
      plan: child.plan,
      author: go.author,
      useHints: go.useHints,
      exit: child.describeExit(),
      recovered: recovered && {
        digest: recovered.tree.digest,
        fsm: recovered.fsm,
        ms: recovered.recoveryMs,
      },
      acked: child.acked,
      ops: intents.ops.length,
      base: { digest: this.#base.snapshot().digest, post: this.#basePost, noops: this.#noops },
    };
    let replay: Replay | undefined;
    try {
      replay = await replayFromZero(this.#dirs.journal, this.#dirs.expect);
    } catch (err) {
      this.#violation(
        recovered === undefined ? 'I6' : 'I1',
        `recovery of the journal failed: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`,
      );
    }
    // A child that recovered something else than expected (already a violation) recorded on a
    // base the ledger does not have: its ops cannot be checked, and the lane starts over.
    const wrongBase =
      recovered !== undefined && recovered.tree.digest !== this.#expected.tree.digest;
    if (replay !== undefined && !wrongBase) {
      event.replay = { digest: replay.tree.digest, fsm: replay.fsm, entries: replay.tree.entries };
      const result = findPrefix({
        base: this.#base,
        basePost: this.#basePost,
        ops: intents.ops,
        posts: intents.posts,
        acked,
        noops: this.#noops,
        crashedInRecovery: recovered === undefined,
        recovered: replay,
      });
      if (result.ok) {
        event.prefix = result.j;
        if (outcome === 'stopped') this.#zombieProven = result.j;
        if (process.env.KILL_CHECK_CORPUS === '1') {
          await this.#crossCheck(child, intents, acked);
        }
        this.#prove(child, intents, result.j, replay);
        this.#base = result.model;
        this.#basePost = replay.fsm;
        this.#noops = 0;
        this.#expected = replay;
        this.#ctx.stats.ackedOpsChecked += acked;
        this.#ctx.stats.opsRecorded += intents.ops.length;
      } else {
        this.#pending.push(result.violation);
      }
    }
    this.#pending.push(
      ...(await checkStoredHints(
        this.#dirs.hints,
        this.#journalName,
        this.#ackedSeqNo,
        replay === undefined ? undefined : replay.fsm.seqNo - 1,
      )),
    );
    const violations = this.#pending;
    this.#pending = [];
    event.violations = violations;
    this.#events.push(event);
    if (violations.length === 0) return;
    let corpus: string | undefined;
    const keep = this.#ctx.corpusDir !== 'none';
    if (keep && this.#ctx.stats.corpusCases++ < MAX_CORPUS_CASES) {
      try {
        corpus = await saveKillCase(
          await this.#failingCase(child, intents, acked, violations, wrongBase),
          this.#ctx.corpusDir,
        );
      } catch (err) {
        this.#ctx.log(`kill: could not save the corpus case: ${String(err)}`);
      }
    }
    for (const v of violations) {
      this.#ctx.stats.violations.push({ ...v, lane: this.id, gen: this.#gen, corpus });
      this.#ctx.log(
        `kill: VIOLATION ${v.invariant} lane ${this.id} gen ${this.#gen}: ${v.detail}${corpus ? ` (saved ${corpus})` : ''}`,
      );
    }
    this.#resetEpoch = true;
  }

  /** Ledger entries of the generation `child` ran (epoch 1, as the shared corpus wants them). */
  #generationEntries(child: KillChild, intents: Intents, acked: number): LedgerEntry[] {
    const entries: LedgerEntry[] = [];
    const author = child.go!.author;
    if (child.recovered !== undefined) {
      entries.push(handoffEntry(author, child.recovered.fsm, 0));
    } else {
      // A recovery that crashed may have appended its hand-off no-op (changes no file).
      entries.push(handoffEntry(author, { seqNo: this.#basePost.seqNo + 1, checksum: undefined }));
    }
    intents.ops.forEach((op, n) => {
      const i = n + 1;
      const post = intents.posts.get(i);
      entries.push({
        op: toTreeOp(op),
        author,
        epoch: 1,
        recordedAt: i,
        ackedAt: i <= acked ? i : undefined,
        seqNoAfter: post?.seqNo,
        checksumAfter: post?.checksum,
      });
    });
    return entries;
  }

  /** Adds what the last check proved (hand-off no-op, ops 1..j, crashed hand-offs) to #proven. */
  #prove(child: KillChild, intents: Intents, j: number, replay: Replay): void {
    const author = child.go!.author;
    let last: { seqNo: number } | undefined = this.#basePost;
    if (child.recovered !== undefined)
      this.#proven.push(handoffEntry(author, child.recovered.fsm, 0));
    for (let i = 1; i <= j; i++) {
      const post = intents.posts.get(i);
      this.#proven.push({
        op: toTreeOp(intents.ops[i - 1]!),
        author,
        epoch: 0,
        recordedAt: 0,
        ackedAt: 0,
        seqNoAfter: post?.seqNo,
        checksumAfter: post?.checksum,
      });
      last = post;
    }
    if (last === undefined) return;
    for (let seqNo = last.seqNo + 1; seqNo <= replay.fsm.seqNo; seqNo++) {
      const checksum = seqNo === replay.fsm.seqNo ? replay.fsm.checksum : undefined;
      this.#proven.push(handoffEntry(0, { seqNo, checksum }, 0));
    }
  }

  /** The case to keep for a failing generation, in the shared corpus format. */
  async #failingCase(
    child: KillChild,
    intents: Intents,
    acked: number,
    violations: readonly Violation[],
    wrongBase: boolean,
  ): Promise<KillCase> {
    const go = child.go!;
    let hints: FSMHints | undefined;
    if (go.useHints) {
      // A child that recovered stored its hints as backup 0 before it reported; one that died
      // recovering used what the store offers still.
      const store = new HintsStore(this.#dirs.hints);
      hints = await (
        child.recovered !== undefined
          ? store.fetch(this.#journalName).then((stored) => stored.backups[0])
          : store.pick(this.#journalName)
      ).catch(() => undefined);
    }
    const first = violations[0];
    const what = first === undefined ? 'pass' : first.invariant;
    return {
      label: `${what}-lane${this.id}-gen${this.#gen}`,
      description:
        first === undefined
          ? `kill -9 layer: generation ${this.#gen} of lane ${this.id}, which passed`
          : `kill -9 layer: ${first.invariant}: ${first.detail.slice(0, 300)}`,
      journalName: this.#journalName,
      // A child that recovered the wrong tree is replayed from the journal as it found it.
      journal: wrongBase
        ? await journalFilesUpTo(this.#dirs.journal, this.#journalName, this.#headAtGo)
        : await journalFilesOf(this.#dirs.journal),
      proven: this.#proven,
      current: wrongBase ? [] : this.#generationEntries(child, intents, acked),
      rejected: this.#rejected,
      hints,
      violations,
      reproduce: {
        command: 'npm run test:kill',
        seed: this.#ctx.seed,
        lane: this.id,
        generation: this.#gen,
        plan: JSON.stringify(child.plan),
      },
      lane: {
        lane: this.id,
        epoch: this.#epoch,
        journal: this.#journalName,
        events: this.#events,
        stderr: child.stderr,
      },
      hintsDir: this.#dirs.hints,
    };
  }

  /**
   * KILL_CHECK_CORPUS=1: replays every passing generation through the shared corpus checker
   * (test/crash/lib), which must agree that nothing is wrong: proof that saved cases fail for
   * the library's reasons, not for the conversion's.
   */
  async #crossCheck(child: KillChild, intents: Intents, acked: number): Promise<void> {
    const kase = buildKillCase({
      ...(await this.#failingCase(child, intents, acked, [], false)),
      hints: undefined,
    });
    const shared = await replayCorpusCase(kase);
    this.#ctx.stats.crossChecked++;
    for (const v of shared) {
      this.#violation('harness', `the shared checker disagrees: ${v.invariant} ${v.message}`);
    }
  }
}

/** A hand-off no-op as a shared-ledger entry (durable when `ackedAt` is given). */
function handoffEntry(
  author: number,
  after: { seqNo: number; checksum: number | undefined },
  ackedAt?: number,
): LedgerEntry {
  return {
    op: { kind: 'noop', why: 'hand-off' },
    author,
    epoch: ackedAt === undefined ? 1 : 0,
    recordedAt: 0,
    ackedAt,
    seqNoAfter: after.seqNo,
    checksumAfter: after.checksum,
  };
}

/** The pid the journal's append lock file names as its holder, if the lock is held. */
async function lockHolderPid(journalDir: string): Promise<number | undefined> {
  try {
    const holder = JSON.parse(await readFile(join(journalDir, 'lock'), 'utf8')) as {
      pid?: unknown;
    };
    return typeof holder.pid === 'number' ? holder.pid : undefined;
  } catch {
    return undefined;
  }
}
