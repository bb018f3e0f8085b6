/**
 * End-to-end scenarios through the public API only (Gazette's store-rocksdb suite, §8.5 of the
 * spec): a store recorded through RecordedFs, recovered by Players, taken over and recorded on.
 * Each scenario runs on node:fs and on memfs (the same file system is the store's base and the
 * Player's target).
 */
import assert from 'node:assert/strict';
import {
  CorruptLogError,
  FSM,
  Player,
  PlaybackAbortedError,
  RecordedFs,
  Recorder,
  RegisterMismatchError,
  authorFence,
  type FSMHints,
  type Journal,
  type JournalResolver,
} from '../../src/index.js';
import { readAllOps, type RawLogEntry } from '../helpers/raw-log.js';
import {
  SCENARIO_FS,
  contentsOf,
  distinctAuthors,
  fileJournals,
  linkGroups,
  memoryJournals,
  within,
  type JournalKind,
  type ScenarioFs,
} from '../helpers/scenario-helpers.js';

const LOG = 'examples/scenarios/recovery-log';
const LOG_B = 'examples/scenarios/migrated-recovery-log';
const IDENTITY = 'c0ffee00-1d3a-4b7e-9a55-5e1f0e2d9b61\n';

function emptyHints(log: string): FSMHints {
  return { log, liveNodes: [], properties: [] };
}

function resolverOf(...journals: Journal[]): JournalResolver {
  const byName = new Map(journals.map((j) => [j.name, j]));
  return (name) => {
    const journal = byName.get(name);
    if (journal === undefined) throw new Error(`scenario resolver: no journal ${name}`);
    return journal;
  };
}

/** 256 bytes covering every byte value: a recovered copy must match bit for bit. */
function binaryBlock(seed: number): Uint8Array {
  return Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + seed) & 0xff);
}

/** RocksDB's IDENTITY dance: write a temporary file, rename it onto the property path. */
async function writeIdentity(rfs: RecordedFs, dir: string, content: string): Promise<void> {
  await rfs.writeFile(`${dir}/IDENTITY.tmp`, content);
  await rfs.rename(`${dir}/IDENTITY.tmp`, `${dir}/IDENTITY`);
}

/** A new MANIFEST, then CURRENT pointing at it via temp + rename, then the old one removed. */
async function rollManifest(
  rfs: RecordedFs,
  dir: string,
  manifest: string,
  previous?: string,
): Promise<void> {
  await rfs.writeFile(`${dir}/${manifest}`, `manifest ${manifest}: live files listed here\n`);
  await rfs.writeFile(`${dir}/CURRENT.tmp`, `${manifest}\n`);
  await rfs.rename(`${dir}/CURRENT.tmp`, `${dir}/CURRENT`);
  if (previous !== undefined) await rfs.unlink(`${dir}/${previous}`);
}

/** The entry of the op with this SeqNo (the last one: raced logs may hold several). */
function opAt(entries: readonly RawLogEntry[], seqNo: number, author?: number): RawLogEntry {
  const found = entries.filter(
    (e) => e.op.seqNo === seqNo && (author === undefined || e.op.author === author),
  );
  assert.equal(found.length, 1, `exactly one op with SeqNo ${seqNo} (author ${author})`);
  return found[0]!;
}

/** Compares a recovered tree with the recorded one: bytes, and which paths share a file. */
async function assertSameTree(env: ScenarioFs, recovered: string, recorded: string) {
  const got = await env.tree(recovered);
  const want = await env.tree(recorded);
  assert.deepEqual(contentsOf(got), contentsOf(want));
  assert.deepEqual(linkGroups(got), linkGroups(want));
}

for (const fsKind of SCENARIO_FS) {
  describe(`end-to-end scenarios on ${fsKind.name}`, function () {
    this.timeout(10_000);
    let env: ScenarioFs;
    let journals: JournalKind;

    afterEach(async () => {
      await journals?.cleanup();
      await env?.cleanup();
    });

    for (const makeJournals of [memoryJournals, fileJournals]) {
      it(`stop and start (${makeJournals === memoryJournals ? 'MemoryJournal' : 'FileJournal'})`, async () => {
        env = await fsKind.make();
        journals = await makeJournals();
        const [authorA, authorB, authorC] = distinctAuthors(3) as [number, number, number];
        let journal = await journals.create(LOG);

        // Session 1: a fresh store records from empty hints.
        const dirA = await env.newDir('primary');
        const recA = await Recorder.open({
          journal,
          fsm: new FSM(emptyHints(LOG)),
          author: authorA,
          dir: dirA,
        });
        const rfsA = new RecordedFs(recA, env.base);
        await writeIdentity(rfsA, dirA, IDENTITY);
        const identityDurableAt = (await recA.barrier()).end;
        assert.ok(identityDurableAt > 0);

        const wal = await rfsA.open(`${dirA}/000003.log`, 'a');
        await wal.appendFile('put key3 value three!\n');
        await wal.appendFile('put key1 value one\n');
        await wal.sync();
        await wal.close();
        await rfsA.appendFile(`${dirA}/000003.log`, 'put key2 value2\n');
        await rfsA.writeFile(`${dirA}/000002.log`, 'obsolete WAL, removed below\n');
        await rfsA.unlink(`${dirA}/000002.log`);
        await rfsA.mkdir(`${dirA}/sst`, { recursive: true });
        await rfsA.writeFile(`${dirA}/sst/000004.sst`, binaryBlock(1));
        await rfsA.mkdir(`${dirA}/checkpoint`, { recursive: true });
        await rfsA.link(`${dirA}/sst/000004.sst`, `${dirA}/checkpoint/000004.sst`);
        await rollManifest(rfsA, dirA, 'MANIFEST-000001');
        await rollManifest(rfsA, dirA, 'MANIFEST-000005', 'MANIFEST-000001');

        const hints = await recA.buildHints();
        assert.equal(hints.log, LOG);
        assert.deepEqual(hints.properties, [{ path: '/IDENTITY', content: IDENTITY }]);
        // Live: the WAL, the SST (two links), MANIFEST-000005, and CURRENT's latest file.
        assert.equal(hints.liveNodes.length, 4);
        const ops = await readAllOps(journal);
        for (const node of hints.liveNodes) {
          const create = opAt(ops, node.fnode);
          assert.ok(create.op.create !== undefined, `fnode ${node.fnode} is a create's SeqNo`);
          for (const segment of node.segments) {
            assert.equal(segment.author, authorA);
            // Absolute offsets: a lower bound of where the segment starts, never past it, and
            // past the barrier that preceded every live file.
            assert.ok(segment.firstOffset >= identityDurableAt, `${segment.firstOffset} > 0`);
            assert.ok(segment.firstOffset <= opAt(ops, segment.firstSeqNo).offset);
            assert.equal(segment.lastOffset, 0, 'a Recorder does not know where its ops end');
          }
        }

        // Stop. A replica recovers into another directory and takes over.
        journal = await journals.restart(journal);
        const replica = new Player({ fs: env.target });
        replica.injectHandoff(authorB);
        const dirB = env.freshPath('replica');
        const r1 = await replica.play({ hints, dir: dirB, journals: resolverOf(journal) });
        assert.equal(r1.log, LOG);
        await assertSameTree(env, dirB, dirA);
        assert.deepEqual(
          [...(await env.tree(dirB)).keys()],
          [
            '/000003.log',
            '/CURRENT',
            '/IDENTITY',
            '/MANIFEST-000005',
            '/checkpoint/000004.sst',
            '/sst/000004.sst',
          ],
        );
        assert.equal(await env.readText(`${dirB}/IDENTITY`), IDENTITY);
        assert.equal(await env.readText(`${dirB}/CURRENT`), 'MANIFEST-000005\n');
        // Hard links come back as one file (same inode), everything else as distinct files.
        assert.equal(linkGroups(await env.tree(dirB)).length, 5);
        assert.ok(
          linkGroups(await env.tree(dirB)).some(
            (g) => g.join() === '/checkpoint/000004.sst,/sst/000004.sst',
          ),
        );
        assert.deepEqual(await journal.registers(), authorFence(authorB));
        // The player knows exact offsets: its hints start each file at its create's frame.
        const exact = r1.fsm.buildHints(LOG);
        assert.deepEqual(exact.properties, hints.properties);
        const opsAfterHandoff = await readAllOps(journal);
        for (const node of exact.liveNodes) {
          for (const segment of node.segments) {
            assert.equal(segment.firstOffset, opAt(opsAfterHandoff, segment.firstSeqNo).offset);
            assert.equal(segment.lastOffset, opAt(opsAfterHandoff, segment.lastSeqNo).end);
          }
        }

        // Session 2: the replica records on from the recovered FSM, as a new author.
        const recB = await Recorder.open({ journal, fsm: r1.fsm, author: authorB, dir: dirB });
        const rfsB = new RecordedFs(recB, env.base);
        await rfsB.appendFile(`${dirB}/000003.log`, 'put key4 value four\n');
        await rfsB.writeFile(`${dirB}/sst/000006.sst`, binaryBlock(2));
        await rfsB.unlink(`${dirB}/checkpoint/000004.sst`);
        await rollManifest(rfsB, dirB, 'MANIFEST-000007', 'MANIFEST-000005');
        const hints2 = await recB.buildHints();
        assert.deepEqual(hints2.properties, hints.properties);
        const walNode = hints2.liveNodes.find(
          (n) => n.fnode === recB.fnodeAt(`${dirB}/000003.log`),
        );
        assert.deepEqual(
          walNode?.segments.map((s) => s.author),
          [authorA, authorB],
          'the WAL was written by both sessions',
        );

        // Stop again; recover both sessions.
        journal = await journals.restart(journal);
        const again = new Player({ fs: env.target });
        again.injectHandoff(authorC);
        const dirC = env.freshPath('second-replica');
        await again.play({ hints: hints2, dir: dirC, journals: resolverOf(journal) });
        await assertSameTree(env, dirC, dirB);
        assert.equal(
          await env.readText(`${dirC}/000003.log`),
          'put key3 value three!\nput key1 value one\nput key2 value2\nput key4 value four\n',
        );
        assert.deepEqual(
          [...(await env.tree(dirC)).keys()],
          [
            '/000003.log',
            '/CURRENT',
            '/IDENTITY',
            '/MANIFEST-000007',
            '/sst/000004.sst',
            '/sst/000006.sst',
          ],
        );
        assert.equal(await env.readText(`${dirC}/IDENTITY`), IDENTITY);
        assert.deepEqual(await journal.registers(), authorFence(authorC));
      });
    }

    it('warm-standby hand-off: the replica promoted later follows the promoted one', async () => {
      env = await fsKind.make();
      journals = memoryJournals();
      const [authorP, authorA, authorB] = distinctAuthors(3) as [number, number, number];
      const journal = await journals.create(LOG);

      const dirP = await env.newDir('primary');
      const recP = await Recorder.open({
        journal,
        fsm: new FSM(emptyHints(LOG)),
        author: authorP,
        dir: dirP,
      });
      const rfsP = new RecordedFs(recP, env.base);
      await writeIdentity(rfsP, dirP, IDENTITY);
      const hints = await recP.buildHints();

      // Two replicas start tailing from the same hints.
      const playerA = new Player({ fs: env.target });
      let readByB = 0;
      const playerB = new Player({
        fs: env.target,
        onProgress: ({ offset }) => (readByB = Math.max(readByB, offset)),
      });
      const dirA = env.freshPath('standby-a');
      const dirB = env.freshPath('standby-b');
      const playA = playerA.play({ hints, dir: dirA, journals: resolverOf(journal) });
      const playB = playerB.play({ hints, dir: dirB, journals: resolverOf(journal) });
      await within(Promise.all([playerA.tailing, playerB.tailing]), 5_000, 'tailing');

      // The primary records on while the replicas apply it live.
      await rfsP.writeFile(`${dirP}/key-foo`, 'baz');
      await rfsP.writeFile(`${dirP}/key-bar`, 'bing');
      await rfsP.link(`${dirP}/key-bar`, `${dirP}/key-bar.link`);
      const liveHead = (await recP.barrier()).end;
      // The standby applies the primary's ops as they land, before anyone is promoted.
      for (let i = 0; readByB < liveHead; i++) {
        assert.ok(i < 500, `replica B read through ${readByB}, not ${liveHead}`);
        await new Promise((r) => setTimeout(r, 10));
      }

      // Replica A is promoted: it holds everything the primary made durable.
      playerA.injectHandoff(authorA);
      const rA = await within(playA, 5_000, 'promotion of A');
      await assertSameTree(env, dirA, dirP);
      assert.deepEqual(await journal.registers(), authorFence(authorA));

      // The old primary races on, and loses: its append is fenced and nothing reaches the log.
      const headBeforeRace = await journal.head();
      const raced = await rfsP.writeFile(`${dirP}/raced`, 'and loses').catch((e: unknown) => e);
      if (raced !== undefined) assert.ok(raced instanceof RegisterMismatchError, String(raced));
      await assert.rejects(recP.barrier(), (err: unknown) => {
        assert.ok(err instanceof RegisterMismatchError);
        assert.equal(err.code, 'RegisterMismatch');
        assert.deepEqual(err.expected, authorFence(authorP));
        assert.deepEqual(err.actual, authorFence(authorA));
        return true;
      });
      assert.ok(recP.failed instanceof RegisterMismatchError);
      assert.equal(await journal.head(), headBeforeRace);
      await assert.rejects(rfsP.writeFile(`${dirP}/later`, 'x'), RegisterMismatchError);

      // A records on ("raced", and wins).
      const recA = await Recorder.open({ journal, fsm: rA.fsm, author: authorA, dir: dirA });
      const rfsA = new RecordedFs(recA, env.base);
      await rfsA.writeFile(`${dirA}/raced`, 'and wins');
      await rfsA.appendFile(`${dirA}/key-foo`, ' (updated by A)');
      await rfsA.unlink(`${dirA}/key-bar.link`);
      await recA.barrier();

      // B, promoted later, follows A's history, not the old primary's.
      playerB.injectHandoff(authorB);
      const rB = await within(playB, 5_000, 'promotion of B');
      await assertSameTree(env, dirB, dirA);
      assert.equal(await env.readText(`${dirB}/raced`), 'and wins');
      assert.equal(await env.readText(`${dirB}/key-foo`), 'baz (updated by A)');
      assert.equal(await env.readText(`${dirB}/IDENTITY`), IDENTITY);
      assert.equal(await env.exists(`${dirB}/key-bar.link`), false);
      assert.deepEqual(rB.fsm.buildHints(LOG).properties, hints.properties);
      assert.deepEqual(await journal.registers(), authorFence(authorB));
      // B's FSM is A's plus B's hand-off no-op.
      assert.equal(rB.fsm.nextSeqNo, recA.fsm.nextSeqNo + 1);
      // The old primary never got an op into the log after A took over.
      const ops = await readAllOps(journal);
      const handoffA = ops.findIndex((e) => e.op.author === authorA);
      assert.ok(handoffA > 0);
      assert.equal(
        ops.slice(handoffA).filter((e) => e.op.author === authorP).length,
        0,
        'no op of the fenced primary after the hand-off',
      );
      // And A is fenced in turn.
      await assert.rejects(recA.barrier(), RegisterMismatchError);
    });

    it('conflicting writers: hints of each reproduce its own branch', async () => {
      env = await fsKind.make();
      journals = memoryJournals();
      const [author1, author2] = distinctAuthors(2) as [number, number];
      const journal = await journals.create(LOG);

      const dir1 = await env.newDir('writer-1');
      const rec1 = await Recorder.open({
        journal,
        fsm: new FSM(emptyHints(LOG)),
        author: author1,
        dir: dir1,
        disableRegisterChecks: true,
      });
      const rfs1 = new RecordedFs(rec1, env.base);
      await writeIdentity(rfs1, dir1, IDENTITY);
      await rfs1.writeFile(`${dir1}/key-one`, 'value one');
      const base = await rec1.buildHints();

      // A second writer starts from exactly the same state (read-only recovery: no no-op).
      const reader = new Player({ fs: env.target });
      reader.finishAtWriteHead();
      const dir2 = env.freshPath('writer-2');
      const r2 = await reader.play({ hints: base, dir: dir2, journals: resolverOf(journal) });
      assert.equal(r2.fsm.nextSeqNo, rec1.fsm.nextSeqNo);
      assert.equal(r2.fsm.nextChecksum, rec1.fsm.nextChecksum);
      const rec2 = await Recorder.open({
        journal,
        fsm: r2.fsm,
        author: author2,
        dir: dir2,
        disableRegisterChecks: true,
      });
      const rfs2 = new RecordedFs(rec2, env.base);

      // Interleaved, unfenced: two histories share SeqNos in one log.
      await rfs1.writeFile(`${dir1}/rep1-foo`, 'value foo');
      await rfs2.writeFile(`${dir2}/rep2-bar`, 'value bar');
      await rfs1.appendFile(`${dir1}/key-one`, ' +1');
      await rfs2.appendFile(`${dir2}/key-one`, ' +2');
      await rfs1.writeFile(`${dir1}/rep1-baz`, 'value baz');
      await rfs2.writeFile(`${dir2}/rep2-bing`, 'value bing');
      await rfs2.unlink(`${dir2}/rep2-bar`);
      const hints1 = await rec1.buildHints();
      const hints2 = await rec2.buildHints();
      const ops = await readAllOps(journal);
      const seqNos = ops.map((e) => e.op.seqNo);
      assert.ok(new Set(seqNos).size < seqNos.length, 'the log holds raced SeqNos');

      // Writer 2 recorded one op more than writer 1 (the unlink): past the end of writer 1's
      // hints, the log still holds writer 2's continuation, whose SeqNo is the next one expected
      // but whose checksum chains from the other branch.
      const beyondHints1 = ops.find((e) => e.op.author === author2 && e.op.unlink !== undefined);
      assert.ok(beyondHints1 !== undefined);
      assert.equal(beyondHints1.op.seqNo, rec1.fsm.nextSeqNo);

      const branches = [
        {
          hints: hints1,
          dir: dir1,
          files: ['/IDENTITY', '/key-one', '/rep1-baz', '/rep1-foo'],
          keyOne: 'value one +1',
          // Strict playback refuses it: a fenced log never forks, so a checksum mismatch there
          // means corruption. Gazette (and lenient mode) skips it.
          strictRejectsAt: beyondHints1.offset,
        },
        {
          hints: hints2,
          dir: dir2,
          files: ['/IDENTITY', '/key-one', '/rep2-bing'],
          keyOne: 'value one +2',
          // Writer 1's ops are either ruled out by the hinted author or stale SeqNos: strict
          // playback reproduces this branch as it is.
          strictRejectsAt: undefined,
        },
      ];
      for (const want of branches) {
        const { hints } = want;
        const strictDir = env.freshPath('strict');
        const strict = new Player({ fs: env.target });
        strict.finishAtWriteHead();
        const strictPlay = strict.play({ hints, dir: strictDir, journals: resolverOf(journal) });
        if (want.strictRejectsAt === undefined) {
          await strictPlay;
          await assertSameTree(env, strictDir, want.dir);
        } else {
          await assert.rejects(strictPlay, (err: unknown) => {
            assert.ok(err instanceof CorruptLogError, String(err));
            assert.equal(err.code, 'CorruptLog');
            assert.equal(err.kind, 'checksum-mismatch');
            assert.equal(err.log, LOG);
            assert.equal(err.offset, want.strictRejectsAt);
            return true;
          });
          assert.equal(await env.exists(strictDir), false, 'a failed playback leaves no dir');
        }

        const lenient = new Player({ fs: env.target, lenient: true });
        lenient.finishAtWriteHead();
        const dir = env.freshPath('lenient');
        await lenient.play({ hints, dir, journals: resolverOf(journal) });
        await assertSameTree(env, dir, want.dir);
        assert.deepEqual([...(await env.tree(dir)).keys()], want.files);
        assert.equal(await env.readText(`${dir}/key-one`), want.keyOne);
        assert.equal(await env.readText(`${dir}/IDENTITY`), IDENTITY);
      }
    });

    it('log change: hints span both logs and recover files from each', async () => {
      env = await fsKind.make();
      journals = memoryJournals();
      const [author1, author2, author3] = distinctAuthors(3) as [number, number, number];
      const logA = await journals.create(LOG);
      const logB = await journals.create(LOG_B);

      const dir1 = await env.newDir('on-log-a');
      const rec1 = await Recorder.open({
        journal: logA,
        fsm: new FSM(emptyHints(LOG)),
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
        dir: env.freshPath('recovered-a'),
        journals: resolverOf(logA),
      });
      assert.equal(r2.log, LOG);
      assert.equal(r2.fsm.lastLog, LOG);
      const seqNoAtMigration = r2.fsm.nextSeqNo;
      const checksumAtMigration = r2.fsm.nextChecksum;

      // Recording continues in log B: open() carries the history over with a fenced no-op.
      const rec2 = await Recorder.open({
        journal: logB,
        fsm: r2.fsm,
        author: author2,
        dir: r2.dir,
      });
      const bOps = await readAllOps(logB);
      assert.equal(bOps.length, 1);
      const noop = bOps[0]!.op;
      assert.equal(noop.author, author2);
      assert.equal(noop.seqNo, seqNoAtMigration);
      assert.equal(noop.checksum, checksumAtMigration);
      for (const kind of ['create', 'link', 'unlink', 'write', 'property'] as const) {
        assert.equal(noop[kind], undefined, `the migration op is a no-op (${kind})`);
      }
      assert.deepEqual(await logB.registers(), authorFence(author2));
      assert.equal(rec2.fsm.lastLog, LOG_B);

      const rfs2 = new RecordedFs(rec2, env.base);
      await rfs2.mkdir(`${r2.dir}/new`, { recursive: true });
      await rfs2.writeFile(`${r2.dir}/new/file`, 'new data');
      await rfs2.appendFile(`${r2.dir}/shared.log`, 'from B\n');
      const hints2 = await rec2.buildHints();
      assert.equal(hints2.log, LOG_B);
      const logsOf = (path: string): string[] => {
        const fnode = rec2.fnodeAt(`${r2.dir}${path}`);
        const node = hints2.liveNodes.find((n) => n.fnode === fnode);
        assert.ok(node !== undefined, `${path} is live in the hints`);
        return node.segments.map((s) => s.log || hints2.log);
      };
      assert.deepEqual(logsOf('/old/file'), [LOG]);
      assert.deepEqual(logsOf('/new/file'), [LOG_B]);
      assert.deepEqual(logsOf('/shared.log'), [LOG, LOG_B]);

      // A third player needs both logs.
      const asked = new Set<string>();
      const both = resolverOf(logA, logB);
      const p3 = new Player({ fs: env.target });
      p3.injectHandoff(author3);
      const dir3 = env.freshPath('recovered-both');
      const r3 = await p3.play({
        hints: hints2,
        dir: dir3,
        journals: (name) => {
          asked.add(name);
          return both(name);
        },
      });
      assert.deepEqual([...asked].sort(), [LOG_B, LOG].sort());
      assert.equal(r3.log, LOG_B);
      assert.equal(r3.fsm.buildHints(LOG_B).log, LOG_B);
      await assertSameTree(env, dir3, r2.dir);
      assert.equal(await env.readText(`${dir3}/old/file`), 'old data');
      assert.equal(await env.readText(`${dir3}/new/file`), 'new data');
      assert.equal(await env.readText(`${dir3}/shared.log`), 'from A\nfrom B\n');
      assert.equal(await env.readText(`${dir3}/IDENTITY`), IDENTITY);
      assert.deepEqual(await logB.registers(), authorFence(author3));
      assert.deepEqual(await logA.registers(), authorFence(author2));
    });

    it('play then cancel: aborting a tailing player removes its directory', async () => {
      env = await fsKind.make();
      journals = memoryJournals();
      const journal = await journals.create(LOG);
      const rec = await Recorder.open({
        journal,
        fsm: new FSM(emptyHints(LOG)),
        author: distinctAuthors(1)[0]!,
        dir: await env.newDir('primary'),
      });
      const rfs = new RecordedFs(rec, env.base);
      await rfs.writeFile(`${rec.dir}/data`, 'recorded before the player started');
      const hints = await rec.buildHints();

      const registersBefore = await journal.registers();
      const controller = new AbortController();
      const player = new Player({ fs: env.target, signal: controller.signal });
      const dir = env.freshPath('cancelled');
      const playing = player.play({ hints, dir, journals: resolverOf(journal) });
      playing.catch(() => undefined);
      await within(player.tailing, 5_000, 'tailing');
      assert.equal(await env.exists(dir), true, 'playback staged into the directory');

      const reason = new Error('replica no longer wanted');
      controller.abort(reason);
      await assert.rejects(within(playing, 5_000, 'aborted play'), (err: unknown) => {
        assert.ok(err instanceof PlaybackAbortedError);
        assert.equal(err.code, 'PlaybackAborted');
        assert.equal(err.cause, reason);
        return true;
      });
      assert.equal(await env.exists(dir), false, 'the target directory was deleted');

      // A raced finish request after the abort neither throws nor blocks.
      player.finishAtWriteHead();
      await within(player.done, 1_000, 'player.done');
      // Nothing was appended: an aborted player never hands off.
      assert.deepEqual(await journal.registers(), registersBefore);
    });

    it('cancel then play: a pre-aborted player fails at once and leaves nothing', async () => {
      env = await fsKind.make();
      journals = memoryJournals();
      const journal = await journals.create(LOG);
      const controller = new AbortController();
      const reason = new Error('shutting down');
      controller.abort(reason);
      const player = new Player({ fs: env.target, signal: controller.signal });
      player.injectHandoff(distinctAuthors(1)[0]!);
      const dir = env.freshPath('never');

      await assert.rejects(
        within(
          player.play({ hints: emptyHints(LOG), dir, journals: resolverOf(journal) }),
          1_000,
          'play',
        ),
        (err: unknown) => {
          assert.ok(err instanceof PlaybackAbortedError);
          assert.equal(err.code, 'PlaybackAborted');
          assert.equal(err.cause, reason);
          return true;
        },
      );
      await within(player.done, 1_000, 'player.done');
      await assert.rejects(player.tailing, PlaybackAbortedError);
      assert.equal(await env.exists(dir), false);
      assert.equal(await journal.head(), 0, 'the hand-off was never attempted');
      assert.deepEqual(await journal.registers(), {});
    });
  });
}
