/**
 * A paused writer is fenced after a hand-off (the JetStream kill layer's second part, see
 * recorded-kill.test.ts): writer A, a process of its own, records through RecordedFs and is
 * SIGSTOPped at a random moment; writer B takes the log over with a hand-off and records;
 * A is SIGCONTed and tries to record: its next append must fail with RegisterMismatchError, and
 * a recovery in a fresh process must hold B's history and nothing A wrote after the hand-off.
 */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Player, RecordedFs, Recorder, newRandomAuthor } from '../../src/index.js';
import type { BaseFs } from '../../src/recorded-fs.js';
import { JetStreamJournal } from '../../src/journal/jetstream.js';
import { findPrefix, type Violation } from '../crash/kill/ledger.js';
import { TreeModel, prng, type KillOp } from '../crash/kill/model.js';
import type { FsmPosition } from '../crash/kill/protocol.js';
import { readDir, snapshotOfDir } from '../crash/kill/tree.js';
import { nextOp, perform } from '../crash/kill/workload.js';
import { cluster, summary, uniqueLocation } from './cluster.js';
import type { JournalAt } from './kill-child.js';
import { KillChildProcess, positionOf, recoverElsewhere } from './kill-process.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('RecordedFs on JetStream: a paused writer (3-node cluster)', function () {
  this.timeout(300_000);
  let tmp: string;

  before(async function () {
    tmp = await mkdtemp(join(tmpdir(), 'rl-js-paused-'));
  });
  after(async function () {
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  it('a SIGSTOPped writer process is fenced after a hand-off: its next append fails, nothing of it after the hand-off is recovered', async function () {
    const handle = await cluster();
    const at: JournalAt = {
      servers: handle.urls,
      name: `kill/paused-${process.pid}`,
      ...uniqueLocation('paused'),
    };
    const seed = Math.floor(Math.random() * 0xffffffff);
    const random = prng(seed);
    const violations: Violation[] = [];
    const authorA = newRandomAuthor();
    let authorB = newRandomAuthor();
    while (authorB === authorA) authorB = newRandomAuthor();

    // Writer A, a process of its own, records until it is paused at a random moment.
    const writerA = new KillChildProcess();
    let ackedA = 0;
    let ackedB = 0;
    try {
      await writerA.start({
        type: 'go',
        role: 'writer',
        journal: at,
        dir: join(tmp, 'paused-A'),
        author: authorA,
        seed,
      });
      const recoveredA = await writerA.next('recovered', 60_000);
      const pauseAfter = 15 + Math.floor(random() * 25);
      await writerA.until(
        () => writerA.all('ack').length >= pauseAfter,
        `${pauseAfter} acks`,
        120_000,
      );
      await sleep(random() * 20);
      writerA.signal('SIGSTOP');

      // Writer B takes over (hand-off) on a connection of its own, while A is paused.
      const journalB = await JetStreamJournal.open(at.name, {
        servers: at.servers,
        stream: at.stream,
        subject: at.subject,
      });
      const dirB = join(tmp, 'paused-B');
      const player = new Player();
      player.injectHandoff(authorB);
      const playedB = await player.play({
        hints: { log: at.name, liveNodes: [], properties: [] },
        dir: dirB,
        journals: () => journalB,
      });
      const contentsB = await readDir(dirB);
      // What B took over must be a prefix of A's ops covering A's acknowledgements.
      const opsA = writerA.all('intent').map((m) => m.body);
      const posts = new Map(writerA.all('ack').map((m) => [m.op, m.post]));
      ackedA = Math.max(0, ...writerA.all('ack').map((m) => m.op));
      const takenOver = findPrefix({
        base: TreeModel.fromDir([], new Set()),
        basePost: recoveredA.fsm,
        ops: opsA,
        posts,
        acked: ackedA,
        noops: 1, // B's own hand-off no-op
        crashedInRecovery: false,
        recovered: { tree: snapshotOfDir(contentsB), fsm: positionOf(playedB.fsm) },
      });
      if (!takenOver.ok) violations.push(takenOver.violation);

      // B records on.
      const base = TreeModel.fromDir(contentsB.files, new Set(playedB.fsm.properties.keys()));
      const basePost = positionOf(playedB.fsm);
      const model = base.clone();
      const recorder = await Recorder.open({
        journal: journalB,
        fsm: playedB.fsm,
        author: authorB,
        dir: dirB,
      });
      const rfs = new RecordedFs(recorder, fsp as unknown as BaseFs);
      const opsB: KillOp[] = [];
      const postsB = new Map<number, FsmPosition>();
      for (let i = 0; i < 30; i += 1) {
        const op = nextOp(model, random);
        opsB.push(op);
        await perform(rfs, dirB, op);
        model.apply(op);
        postsB.set(opsB.length, positionOf(recorder.fsm));
        if (i % 3 === 2) {
          await recorder.barrier();
          ackedB = opsB.length;
        }
      }
      await recorder.barrier();
      ackedB = opsB.length;

      // A resumes, unaware, and tries to append: the journal must fence it.
      writerA.signal('SIGCONT');
      writerA.send({ type: 'zombie' });
      const zombie = await writerA.next('zombie-result', 120_000);
      if (!zombie.fenced) {
        violations.push({
          invariant: 'I3',
          detail: `the resumed writer was not fenced: ${zombie.errorName} ${zombie.message}`,
        });
      }
      // Acknowledgements A received after it was resumed must be of ops B's hand-off saw.
      const finalAckA = Math.max(0, ...writerA.all('ack').map((m) => m.op));
      if (takenOver.ok && finalAckA > takenOver.j) {
        violations.push({
          invariant: 'I3',
          detail: `writer A acknowledged op ${finalAckA} after the hand-off, which took over only ${takenOver.j}`,
        });
      }
      ackedA = finalAckA;
      await journalB.close();

      // Another machine recovers B's history, and nothing of A after the hand-off.
      const recovered = await recoverElsewhere(at, join(tmp, 'paused-recovered'));
      assert.ok(recovered !== undefined);
      const result = findPrefix({
        base,
        basePost,
        ops: opsB,
        posts: postsB,
        acked: ackedB,
        noops: 0,
        crashedInRecovery: false,
        recovered,
      });
      if (!result.ok) violations.push(result.violation);
      else if (result.j !== opsB.length) {
        violations.push({
          invariant: 'I2',
          detail: `recovered ${result.j} of B's ${opsB.length} ops`,
        });
      }
      console.log(
        `      writer A paused after ${pauseAfter} acks (${opsA.length} ops sent), B took over ` +
          `${takenOver.ok ? takenOver.j : '?'} of them and recorded ${opsB.length}; A resumed: ` +
          `${zombie.errorName}`,
      );
    } finally {
      await writerA.kill();
    }
    summary.acknowledgedOps += ackedA + ackedB;
    summary.violations += violations.length;
    assert.deepEqual(
      violations.map((v) => `${v.invariant}: ${v.detail}`),
      [],
    );
  });
});
