/**
 * The JetStream kill layer through RecordedFs (crash-testing.md's invariants, against a real
 * 3-node cluster): the file-journal kill layer's random workload (test/crash/kill: workload,
 * TreeModel, ledger, tree snapshots) is recorded onto a JetStreamJournal while stream leaders and
 * single nodes are SIGKILLed at random and restarted. The run is cut into generations: each
 * starts with a fenced hand-off recovery (a new author), records, and ends with recoveries on
 * "another machine" (fresh processes, kill-child.ts) checked against the ledger of acknowledged
 * ops:
 *
 * I1  the recovered tree is the state after some prefix j of the generation's ops;
 * I2  j covers every acknowledged op;
 * I3  nothing beyond what was written, nothing of a fenced zombie, and the FSM position after
 *     replay is the Recorder's after op j;
 * I4  the strict Player met no torn, foreign or corrupt frame (it fails on any);
 * I5  stored hints name only acknowledged ops, and a recovery from them equals one from offset 0;
 * I6  a recovery SIGKILLed mid-playback changes nothing: the next one finds the same state;
 * I7  after each recovery a new writer appends, and the next recovery includes its ops.
 *
 * (paused-writer.test.ts: a SIGSTOPped writer process fenced after a hand-off.)
 */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Player, RecordedFs, Recorder, newRandomAuthor } from '../../src/index.js';
import type { BaseFs } from '../../src/recorded-fs.js';
import { JetStreamJournal } from '../../src/journal/jetstream.js';
import { KvHintsStore } from '../../src/kv-hints-store.js';
import { findPrefix, maxHintedSeqNo, type Violation } from '../crash/kill/ledger.js';
import { TreeModel, prng, type KillOp } from '../crash/kill/model.js';
import type { FsmPosition } from '../crash/kill/protocol.js';
import { readDir, snapshotOfDir, type TreeSnapshot } from '../crash/kill/tree.js';
import { nextOp, perform } from '../crash/kill/workload.js';
import { cluster, summary, uniqueLocation } from './cluster.js';
import type { JournalAt } from './kill-child.js';
import { KillChildProcess, positionOf, recoverElsewhere } from './kill-process.js';

/** Seconds of recording under node kills (then one last generation without kills). */
const RECORD_SECONDS = Number(process.env.JETSTREAM_KILL_SECONDS ?? 45);
/** A generation records this long (or this many ops) before its recoveries are checked. */
const GENERATION_SECONDS = 10;
const GENERATION_MAX_OPS = 400;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('RecordedFs on JetStream: the kill layer (3-node cluster)', function () {
  this.timeout(600_000);
  let tmp: string;

  before(async function () {
    tmp = await mkdtemp(join(tmpdir(), 'rl-js-kill-'));
  });
  after(async function () {
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  it('records through RecordedFs while leaders and nodes are SIGKILLed; fresh processes recover I1-I7', async function () {
    const handle = await cluster();
    const location = uniqueLocation('rfskill');
    const at: JournalAt = {
      servers: handle.urls,
      name: `kill/recorded-${process.pid}`,
      ...location,
    };
    const kvAt = { bucket: 'rltest-kill-hints', store: `recorded-${process.pid}` };
    const seed = Math.floor(Math.random() * 0xffffffff);
    const random = prng(seed);
    const openJournal = (): Promise<JetStreamJournal> =>
      JetStreamJournal.open(at.name, {
        servers: at.servers,
        stream: at.stream,
        subject: at.subject,
        requestTimeoutMs: 2000,
        retryDeadlineMs: 90_000,
      });
    const kv = await KvHintsStore.open({
      servers: handle.urls,
      bucket: kvAt.bucket,
      name: kvAt.store,
      retryDeadlineMs: 90_000,
    });

    const violations: (Violation & { gen: number })[] = [];
    const flag = (gen: number, v: Violation): void => {
      violations.push({ ...v, gen });
    };
    const started = Date.now();
    let killing = true;
    const kills: string[] = [];
    /** Acknowledgements so far (all generations): a kill waits for progress since the last. */
    let progress = 0;
    const killer = (async () => {
      while (killing) {
        // Let the writer make progress between kills (an election stalls it 4-7 s), so that
        // kills land while appends are in flight rather than in one long outage.
        const before = progress;
        const waitUntil = Date.now() + 15_000;
        while (killing && progress < before + 30 && Date.now() < waitUntil) await sleep(100);
        await sleep(300 + random() * 1500);
        if (!killing) break;
        const leader = await handle.streamLeader(at.stream);
        const victim =
          leader !== undefined && random() < 0.5
            ? leader
            : handle.nodes[Math.floor(random() * handle.nodes.length)]!.name;
        handle.signal(victim, 'SIGKILL');
        summary.nodeKills += 1;
        kills.push(victim === leader ? `${victim} (leader)` : victim);
        await sleep(300 + random() * 2000);
        try {
          await handle.restart(victim, 90_000);
        } catch (error) {
          // The node runs but the meta group has not taken it back yet (a loaded machine):
          // killing another node now could leave the stream without a quorum for minutes.
          console.log(
            `      no more kills: ${victim} restarted but ${String(error).split('\n')[0]}`,
          );
          return;
        }
      }
    })();

    /** What the last recovery proved: the next generation's hand-off must find exactly it. */
    let proven: TreeSnapshot | undefined;
    let hintsStored = false;
    let acknowledged = 0;
    let failedAppends = 0;
    let gen = 0;
    try {
      for (; ; gen += 1) {
        const last = !killing;
        const dir = join(tmp, `writer-${gen}`);
        // A new writer: hand-off recovery (alternately from the stored hints and from offset 0).
        const journal = await openJournal();
        const author = newRandomAuthor();
        const useHints = hintsStored && gen % 2 === 1;
        const player = new Player();
        player.injectHandoff(author);
        const played = await player.play({
          hints: useHints
            ? await kv.pick(at.name)
            : { log: at.name, liveNodes: [], properties: [] },
          dir,
          journals: () => journal,
        });
        const contents = await readDir(dir);
        const handedOff = snapshotOfDir(contents);
        if (proven !== undefined && handedOff.digest !== proven.digest) {
          flag(gen, {
            invariant: 'I1',
            detail: `the hand-off recovery (${useHints ? 'hints' : 'offset 0'}) differs from the state the last check proved`,
          });
        }
        const base = TreeModel.fromDir(contents.files, new Set(played.fsm.properties.keys()));
        const basePost = positionOf(played.fsm);
        const model = base.clone();

        // Record until the generation is over (or an append fails for good).
        const recorder = await Recorder.open({ journal, fsm: played.fsm, author, dir });
        const rfs = new RecordedFs(recorder, fsp as unknown as BaseFs);
        const ops: KillOp[] = [];
        const posts = new Map<number, FsmPosition>();
        let acked = 0;
        let ackedSeqNo = basePost.seqNo - 1;
        let untilBarrier = 1;
        let untilHints = 10 + Math.floor(random() * 20);
        const genStarted = Date.now();
        const maxOps = last ? 40 : GENERATION_MAX_OPS;
        // The processes of this generation's recoveries start while it records.
        const warm = [new KillChildProcess(), new KillChildProcess(), new KillChildProcess()];
        try {
          while (
            ops.length < maxOps &&
            (last || Date.now() - genStarted < GENERATION_SECONDS * 1000)
          ) {
            const op = nextOp(model, random);
            ops.push(op);
            await perform(rfs, dir, op);
            model.apply(op);
            posts.set(ops.length, positionOf(recorder.fsm));
            if (--untilBarrier === 0) {
              await recorder.barrier();
              progress += ops.length - acked;
              acked = ops.length;
              ackedSeqNo = recorder.fsm.nextSeqNo - 1;
              untilBarrier = 1 + Math.floor(random() * 4);
            }
            if (--untilHints === 0) {
              await recorder.barrier();
              acked = ops.length;
              ackedSeqNo = recorder.fsm.nextSeqNo - 1;
              const hints = await recorder.buildHints();
              if (maxHintedSeqNo(hints) > ackedSeqNo) {
                flag(gen, {
                  invariant: 'I5',
                  detail: `hints name SeqNo ${maxHintedSeqNo(hints)}, acknowledged only ${ackedSeqNo}`,
                });
              }
              await kv.storePrimary(hints);
              hintsStored = true;
              untilHints = 10 + Math.floor(random() * 30);
            }
          }
          await recorder.barrier();
          acked = ops.length;
        } catch (error) {
          // Failed after the retry deadline: the op may or may not be in the journal.
          failedAppends += 1;
          console.log(`      generation ${gen}: recording stopped: ${String(error)}`);
        }
        await journal.close().catch(() => undefined);

        const checkStarted = Date.now();
        // "Another machine": a recovery killed mid-playback (I6), then one that completes, into
        // the same directory; and one from the stored hints (I5), in fresh processes.
        const elsewhere = join(tmp, `recovered-${gen}`);
        const hinted = hintsStored
          ? recoverElsewhere(at, join(tmp, `hinted-${gen}`), kvAt, undefined, warm[2])
          : warm[2]!.kill().then(() => undefined);
        await recoverElsewhere(at, elsewhere, undefined, 300 + random() * 1500, warm[0]);
        const recovered = await recoverElsewhere(at, elsewhere, undefined, undefined, warm[1]);
        const fromHints = await hinted;
        assert.ok(recovered !== undefined);
        const result = findPrefix({
          base,
          basePost,
          ops,
          posts,
          acked,
          noops: 0,
          crashedInRecovery: false,
          recovered,
        });
        if (!result.ok) flag(gen, result.violation);
        else proven = result.model.snapshot();
        if (fromHints !== undefined) {
          if (
            fromHints.tree.digest !== recovered.tree.digest ||
            fromHints.fsm.seqNo !== recovered.fsm.seqNo ||
            fromHints.fsm.checksum !== recovered.fsm.checksum
          ) {
            flag(gen, {
              invariant: 'I5',
              detail: `recovery from the stored hints (SeqNo ${fromHints.fsm.seqNo}) differs from recovery from offset 0 (SeqNo ${recovered.fsm.seqNo})`,
            });
          }
        }
        acknowledged += acked;
        console.log(
          `      generation ${gen}: ${ops.length} ops, ${acked} acknowledged, recorded in ` +
            `${((checkStarted - genStarted) / 1000).toFixed(1)} s, recoveries checked in ` +
            `${((Date.now() - checkStarted) / 1000).toFixed(1)} s`,
        );
        await rm(dir, { recursive: true, force: true });
        if (last) break;
        if (Date.now() - started > RECORD_SECONDS * 1000) {
          killing = false;
          await killer;
        }
      }
    } finally {
      killing = false;
      await killer.catch(() => undefined);
      await kv.close();
    }

    summary.acknowledgedOps += acknowledged;
    summary.violations += violations.length;
    console.log(
      `      ${gen + 1} generations, ${acknowledged} acknowledged ops checked, ` +
        `${kills.length} node kills (${kills.join(', ')}), ${failedAppends} failed recordings, ` +
        `seed ${seed}`,
    );
    assert.deepEqual(
      violations.map((v) => `${v.invariant} (generation ${v.gen}): ${v.detail}`),
      [],
    );
    assert.ok(kills.length >= 2, `only ${kills.length} node kills`);
    assert.ok(acknowledged > 100, `too few acknowledged ops (${acknowledged})`);
  });
});
