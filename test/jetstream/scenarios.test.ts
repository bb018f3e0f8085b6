/**
 * The Recorder/Player scenarios of test/core/scenarios.test.ts over JetStream (real 3-node
 * cluster), each process modelled by a journal instance with its own connection: a hand-off
 * fencing a zombie primary, a warm standby tailing then promoted, and a log change from a
 * FileJournal to a JetStream journal (hints spanning both logs).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  FSM,
  Player,
  RecordedFs,
  Recorder,
  RegisterMismatchError,
  authorFence,
  type FSMHints,
  type Journal,
  type JournalResolver,
} from '../../src/index.js';
import { FileJournal } from '../../src/journal/file.js';
import { JetStreamJournal } from '../../src/journal/jetstream.js';
import { readAllOps } from '../helpers/raw-log.js';
import {
  SCENARIO_FS,
  contentsOf,
  distinctAuthors,
  linkGroups,
  within,
  type ScenarioFs,
} from '../helpers/scenario-helpers.js';
import { cluster, summary, uniqueLocation } from './cluster.js';

const IDENTITY = 'c0ffee00-1d3a-4b7e-9a55-5e1f0e2d9b61\n';

const emptyHints = (log: string): FSMHints => ({ log, liveNodes: [], properties: [] });

function resolverOf(...journals: Journal[]): JournalResolver {
  const byName = new Map(journals.map((j) => [j.name, j]));
  return (name) => {
    const journal = byName.get(name);
    if (journal === undefined) throw new Error(`scenario resolver: no journal ${name}`);
    return journal;
  };
}

async function writeIdentity(rfs: RecordedFs, dir: string, content: string): Promise<void> {
  await rfs.writeFile(`${dir}/IDENTITY.tmp`, content);
  await rfs.rename(`${dir}/IDENTITY.tmp`, `${dir}/IDENTITY`);
}

async function assertSameTree(env: ScenarioFs, recovered: string, recorded: string) {
  const got = await env.tree(recovered);
  const want = await env.tree(recorded);
  assert.deepEqual(contentsOf(got), contentsOf(want));
  assert.deepEqual(linkGroups(got), linkGroups(want));
}

describe('Recorder/Player scenarios on JetStream (3-node cluster)', function () {
  this.timeout(180_000);
  const nodeFs = SCENARIO_FS.find((kind) => kind.name === 'node:fs') ?? SCENARIO_FS[0]!;
  let env: ScenarioFs;
  const opened: Journal[] = [];
  let counter = 0;

  /** A log name and a function opening it as one more "process" (its own connection). */
  function newLog(label: string): { name: string; open: () => Promise<JetStreamJournal> } {
    const name = `scenarios/${label}-${process.pid}-${(counter += 1)}`;
    const location = uniqueLocation(label);
    return {
      name,
      open: async () => {
        const { urls } = await cluster();
        const journal = await JetStreamJournal.open(name, { servers: urls, ...location });
        opened.push(journal);
        return journal;
      },
    };
  }

  beforeEach(async function () {
    env = await nodeFs.make();
  });
  afterEach(async function () {
    await Promise.all(opened.splice(0).map((j) => j.close().catch(() => undefined)));
    await env?.cleanup();
  });

  it('hand-off with a zombie: the zombie is fenced and nothing of it is recovered', async function () {
    const [authorP, authorA, authorC] = distinctAuthors(3) as [number, number, number];
    const log = newLog('zombie');
    const journalP = await log.open();
    const dirP = await env.newDir('primary');
    const recP = await Recorder.open({
      journal: journalP,
      fsm: new FSM(emptyHints(log.name)),
      author: authorP,
      dir: dirP,
    });
    const rfsP = new RecordedFs(recP, env.base);
    await writeIdentity(rfsP, dirP, IDENTITY);
    await rfsP.writeFile(`${dirP}/key-foo`, 'baz');
    await rfsP.link(`${dirP}/key-foo`, `${dirP}/key-foo.link`);
    const hints = await recP.buildHints();

    // Another machine takes over (its own connection) while P is still alive.
    const journalA = await log.open();
    const playerA = new Player({ fs: env.target });
    playerA.injectHandoff(authorA);
    const dirA = env.freshPath('taken-over');
    const rA = await within(
      playerA.play({ hints, dir: dirA, journals: resolverOf(journalA) }),
      30_000,
      'hand-off',
    );
    await assertSameTree(env, dirA, dirP);
    assert.deepEqual(await journalA.registers(), authorFence(authorA));

    // The zombie's next append fails with RegisterMismatchError; the log does not move.
    const headBefore = await journalA.head();
    const zombie = await rfsP.writeFile(`${dirP}/zombie`, 'lost').catch((e: unknown) => e);
    if (zombie !== undefined) assert.ok(zombie instanceof RegisterMismatchError, String(zombie));
    await assert.rejects(recP.barrier(), (err: unknown) => {
      assert.ok(err instanceof RegisterMismatchError);
      assert.deepEqual(err.expected, authorFence(authorP));
      assert.deepEqual(err.actual, authorFence(authorA));
      return true;
    });
    await assert.rejects(rfsP.writeFile(`${dirP}/later`, 'x'), RegisterMismatchError);
    assert.equal(await journalA.head(), headBefore);

    // A records on; a third machine recovers A's history and none of the zombie's.
    const recA = await Recorder.open({
      journal: journalA,
      fsm: rA.fsm,
      author: authorA,
      dir: dirA,
    });
    const rfsA = new RecordedFs(recA, env.base);
    await rfsA.writeFile(`${dirA}/after`, 'by A');
    await rfsA.unlink(`${dirA}/key-foo.link`);
    const hintsA = await recA.buildHints();
    const journalC = await log.open();
    const playerC = new Player({ fs: env.target });
    playerC.injectHandoff(authorC);
    const dirC = env.freshPath('third');
    await within(
      playerC.play({ hints: hintsA, dir: dirC, journals: resolverOf(journalC) }),
      30_000,
      'third recovery',
    );
    await assertSameTree(env, dirC, dirA);
    assert.equal(await env.exists(`${dirC}/zombie`), false);
    assert.equal(await env.exists(`${dirC}/later`), false);
    const ops = await readAllOps(journalC);
    const handoffA = ops.findIndex((e) => e.op.author === authorA);
    assert.ok(handoffA > 0);
    assert.equal(ops.slice(handoffA).filter((e) => e.op.author === authorP).length, 0);
    summary.acknowledgedOps += ops.length;
  });

  it('warm standby: a Player tails the live log, is promoted, and a Recorder continues', async function () {
    const [authorP, authorS, authorV] = distinctAuthors(3) as [number, number, number];
    const log = newLog('standby');
    const journalP = await log.open();
    const dirP = await env.newDir('primary');
    const recP = await Recorder.open({
      journal: journalP,
      fsm: new FSM(emptyHints(log.name)),
      author: authorP,
      dir: dirP,
    });
    const rfsP = new RecordedFs(recP, env.base);
    await writeIdentity(rfsP, dirP, IDENTITY);
    const hints = await recP.buildHints();

    const journalS = await log.open();
    let readByS = 0;
    const standby = new Player({
      fs: env.target,
      onProgress: ({ offset }) => (readByS = Math.max(readByS, offset)),
    });
    const dirS = env.freshPath('standby');
    const playS = standby.play({ hints, dir: dirS, journals: resolverOf(journalS) });
    await within(standby.tailing, 120_000, 'tailing');

    // The primary records on while the standby applies it live (blocking reads on JetStream).
    await rfsP.writeFile(`${dirP}/key-foo`, 'baz');
    await rfsP.writeFile(`${dirP}/key-bar`, Buffer.alloc(300_000, 9));
    await rfsP.link(`${dirP}/key-bar`, `${dirP}/key-bar.link`);
    const liveHead = (await recP.barrier()).end;
    for (let i = 0; readByS < liveHead; i++) {
      assert.ok(i < 1000, `the standby read through ${readByS}, not ${liveHead}`);
      await new Promise((r) => setTimeout(r, 10));
    }

    standby.injectHandoff(authorS);
    const rS = await within(playS, 30_000, 'promotion');
    await assertSameTree(env, dirS, dirP);
    assert.deepEqual(await journalS.registers(), authorFence(authorS));

    const recS = await Recorder.open({
      journal: journalS,
      fsm: rS.fsm,
      author: authorS,
      dir: dirS,
    });
    const rfsS = new RecordedFs(recS, env.base);
    await rfsS.appendFile(`${dirS}/key-foo`, ' (by the standby)');
    await rfsS.writeFile(`${dirS}/new`, 'after promotion');
    const hintsS = await recS.buildHints();
    await assert.rejects(
      rfsP.writeFile(`${dirP}/zombie`, 'x').then(() => recP.barrier()),
      RegisterMismatchError,
    );

    // Verified on another machine.
    const journalV = await log.open();
    const verify = new Player({ fs: env.target });
    verify.injectHandoff(authorV);
    const dirV = env.freshPath('verify');
    await within(
      verify.play({ hints: hintsS, dir: dirV, journals: resolverOf(journalV) }),
      30_000,
      'verification',
    );
    await assertSameTree(env, dirV, dirS);
    assert.equal(await env.readText(`${dirV}/key-foo`), 'baz (by the standby)');
    assert.equal(await env.exists(`${dirV}/zombie`), false);
    summary.acknowledgedOps += (await readAllOps(journalV)).length;
  });

  it('log change across journals: FileJournal → JetStream, hints span both logs', async function () {
    const [author1, author2, author3] = distinctAuthors(3) as [number, number, number];
    const fileRoot = await mkdtemp(path.join(tmpdir(), 'rl-js-scenario-'));
    try {
      const fileName = `scenarios/on-file-${process.pid}-${(counter += 1)}`;
      const logA = await FileJournal.create(path.join(fileRoot, 'a'), fileName);
      opened.push(logA);
      const logB = newLog('migrated');
      const journalB = await logB.open();

      const dir1 = await env.newDir('on-file');
      const rec1 = await Recorder.open({
        journal: logA,
        fsm: new FSM(emptyHints(fileName)),
        author: author1,
        dir: dir1,
      });
      const rfs1 = new RecordedFs(rec1, env.base);
      await writeIdentity(rfs1, dir1, IDENTITY);
      await rfs1.mkdir(`${dir1}/old`, { recursive: true });
      await rfs1.writeFile(`${dir1}/old/file`, 'old data');
      await rfs1.writeFile(`${dir1}/shared.log`, 'from A\n');
      const hints1 = await rec1.buildHints();

      const p2 = new Player({ fs: env.target });
      p2.injectHandoff(author2);
      const r2 = await p2.play({
        hints: hints1,
        dir: env.freshPath('recovered-file'),
        journals: resolverOf(logA),
      });

      // Recording continues on JetStream.
      const rec2 = await Recorder.open({
        journal: journalB,
        fsm: r2.fsm,
        author: author2,
        dir: r2.dir,
      });
      assert.deepEqual(await journalB.registers(), authorFence(author2));
      const rfs2 = new RecordedFs(rec2, env.base);
      await rfs2.mkdir(`${r2.dir}/new`, { recursive: true });
      await rfs2.writeFile(`${r2.dir}/new/file`, 'new data');
      await rfs2.appendFile(`${r2.dir}/shared.log`, 'from B\n');
      const hints2 = await rec2.buildHints();
      assert.equal(hints2.log, logB.name);
      const shared = hints2.liveNodes.find((n) => n.fnode === rec2.fnodeAt(`${r2.dir}/shared.log`));
      assert.deepEqual(
        shared?.segments.map((s) => s.log || hints2.log),
        [fileName, logB.name],
      );

      // A fresh process: the file log read-only, the JetStream log on a new connection.
      const asked = new Set<string>();
      const fileRO = await FileJournal.open(path.join(fileRoot, 'a'), { readOnly: true });
      opened.push(fileRO);
      const both = resolverOf(fileRO, await logB.open());
      const p3 = new Player({ fs: env.target });
      p3.injectHandoff(author3);
      const dir3 = env.freshPath('recovered-both');
      const r3 = await within(
        p3.play({
          hints: hints2,
          dir: dir3,
          journals: (name) => {
            asked.add(name);
            return both(name);
          },
        }),
        30_000,
        'playback across both logs',
      );
      assert.deepEqual([...asked].sort(), [fileName, logB.name].sort());
      assert.equal(r3.log, logB.name);
      await assertSameTree(env, dir3, r2.dir);
      assert.equal(await env.readText(`${dir3}/shared.log`), 'from A\nfrom B\n');
      assert.equal(await env.readText(`${dir3}/old/file`), 'old data');
      assert.deepEqual(await journalB.registers(), authorFence(author3));
    } finally {
      await rm(fileRoot, { recursive: true, force: true });
    }
  });
});
