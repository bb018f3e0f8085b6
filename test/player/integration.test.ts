/**
 * Player scenarios with several participants: hand-offs racing a delayed writer, tailing
 * standbys, hints spanning logs, fail-over chains, and a file-backed journal.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { authorFence } from '../../src/fsm.js';
import { RegisterMismatchError } from '../../src/journal/errors.js';
import { FileJournal } from '../../src/journal/file.js';
import type {
  AppendOptions,
  AppendResult,
  Journal,
  ReadOptions,
  ReadResult,
} from '../../src/journal/journal.js';
import { MemoryJournal } from '../../src/journal/memory.js';
import { Player, type PlayResult } from '../../src/player.js';
import type { FSMHints } from '../../src/wire/types.js';
import {
  LogBuilder,
  PLAY_TARGETS,
  bytesOf,
  concat,
  resolverOf,
  type PlayTarget,
} from '../helpers/log-builder.js';
import { readAllOps } from '../helpers/raw-log.js';

const LOG = 'examples/integration-tests/recovery-log';
const OTHER_LOG = 'examples/integration-tests/other-recovery-log';
const AUTHOR = 1234;

/**
 * Forwards to a journal, but the first append that sets registers (a hand-off no-op) is preceded,
 * in append order, by the bytes `race()` returns: a writer that committed just before it.
 */
class RacingJournal implements Journal {
  raced: Promise<AppendResult> | undefined;
  constructor(
    private readonly inner: Journal,
    private readonly race: () => Uint8Array,
  ) {}
  get name(): string {
    return this.inner.name;
  }
  append(data: Uint8Array | readonly Uint8Array[], options?: AppendOptions): Promise<AppendResult> {
    if (options?.unionRegisters !== undefined && this.raced === undefined) {
      // Queued first, so it commits first: appends are serialized in call order.
      this.raced = this.inner.append(this.race());
    }
    return this.inner.append(data, options);
  }
  read(offset: number, options: ReadOptions): Promise<ReadResult> {
    return this.inner.read(offset, options);
  }
  head(): Promise<number> {
    return this.inner.head();
  }
  registers(): ReturnType<Journal['registers']> {
    return this.inner.registers();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

for (const { name, make } of PLAY_TARGETS) {
  describe(`Player integration on ${name}`, function () {
    this.timeout(10_000);
    let target: PlayTarget;
    let journal: MemoryJournal;

    beforeEach(async () => {
      target = await make();
      journal = new MemoryJournal(LOG);
    });
    afterEach(async () => {
      await journal.close();
      await target.cleanup();
    });

    for (const lenient of [false, true]) {
      it(`hand-off races a delayed writer; hand-off and tailing players agree (${lenient ? 'lenient, with junk' : 'strict'})`, async () => {
        if (lenient) await journal.append(bytesOf('irrelevant preceding content'));
        const rec = await LogBuilder.open(journal, { author: AUTHOR });
        const bar = await rec.create('/foo/bar');
        const hints = rec.hints();

        const racing = new RacingJournal(journal, () => {
          // The recorder's next write, committed just before the hand-off no-op.
          const write = rec.frameWrite(bar, 5, ' world').bytes;
          return lenient ? concat([bytesOf('... more garbage ...'), write]) : write;
        });
        const handoffPlayer = new Player({ fs: target.fs, lenient });
        const tailPlayer = new Player({ fs: target.fs, lenient });
        const tailing = tailPlayer.play({
          hints,
          dir: target.dir('tail'),
          journals: resolverOf(journal),
        });
        await tailPlayer.tailing;

        await rec.write(bar, 0, 'hello');
        if (lenient) await rec.garbage('... bad interleaved raw data ...');
        const baz = await rec.create('/baz');
        await rec.write(baz, 0, 'bing');

        handoffPlayer.injectHandoff(1337);
        const handedOff = await handoffPlayer.play({
          hints,
          dir: target.dir('handoff'),
          journals: resolverOf(racing),
        });
        assert.ok(racing.raced !== undefined, 'the delayed write raced the first hand-off attempt');
        await racing.raced;

        // The old recorder writes on, unaware: its op reuses a SeqNo the hand-off took.
        await rec.write(bar, 11, '; final write of rec, ignored because of the hand-off');
        tailPlayer.finishAtWriteHead();
        const tailed = await tailing;

        for (const result of [handedOff, tailed]) {
          assert.deepEqual(await target.listFiles(result.dir), ['/baz', '/foo/bar']);
          assert.equal(await target.readText(`${result.dir}/foo/bar`), 'hello world');
          assert.equal(await target.readText(`${result.dir}/baz`), 'bing');
        }
        assert.deepEqual(handedOff.fsm.buildHints(LOG), tailed.fsm.buildHints(LOG));
        assert.equal(handedOff.fsm.nextSeqNo, tailed.fsm.nextSeqNo);
        assert.equal(handedOff.fsm.nextChecksum, tailed.fsm.nextChecksum);
        // The recorder's view branched off.
        assert.notDeepEqual(rec.hints(), tailed.fsm.buildHints(LOG));
        assert.equal(tailed.stats.opsSkipped['stale-seqno'], 2); // lost no-op, rec's final write

        assert.deepEqual(await journal.registers(), authorFence(1337));
        await assert.rejects(
          journal.append(bytesOf('zombie'), { checkRegisters: authorFence(AUTHOR) }),
          RegisterMismatchError,
        );
        if (!lenient) {
          // Two attempts: the first lost to the raced write, the second applied.
          const noops = (await readAllOps(journal)).filter((e) => e.op.author === 1337);
          assert.deepEqual(
            noops.map((e) => e.op.seqNo),
            [handedOff.fsm.nextSeqNo - 2, handedOff.fsm.nextSeqNo - 1],
          );
        }
      });
    }

    it('hand-off on an empty log, then a fail-over chain continues the history', async () => {
      const first = new Player({ fs: target.fs });
      first.injectHandoff(1);
      const empty: FSMHints = { log: LOG, liveNodes: [], properties: [] };
      const r1 = await first.play({
        hints: empty,
        dir: target.dir(),
        journals: resolverOf(journal),
      });
      assert.deepEqual(await target.listFiles(r1.dir), []);
      assert.equal(r1.fsm.nextSeqNo, 2);

      let fsmOf: PlayResult = r1;
      for (const author of [2, 3, 4]) {
        // The new owner records on from the recovered FSM (same log: no extra no-op).
        const rec = await LogBuilder.open(journal, { author: author - 1 + 100, fsm: fsmOf.fsm });
        const f = await rec.create(`/gen${author}`);
        await rec.write(f, 0, `written by ${author - 1 + 100}`);
        const player = new Player({ fs: target.fs });
        player.injectHandoff(author);
        fsmOf = await player.play({
          hints: rec.hints(),
          dir: target.dir(),
          journals: resolverOf(journal),
        });
        assert.deepEqual(await journal.registers(), authorFence(author));
      }
      assert.deepEqual(await target.listFiles(fsmOf.dir), ['/gen2', '/gen3', '/gen4']);
      assert.equal(await target.readText(`${fsmOf.dir}/gen4`), 'written by 103');
    });

    it('plays hints spanning two logs through the resolver', async () => {
      const oldLog = new MemoryJournal(OTHER_LOG);
      try {
        const recA = await LogBuilder.open(oldLog, { author: 123 });
        const old = await recA.create('/old/file');
        await recA.write(old, 0, 'old data');
        const p1 = new Player({ fs: target.fs });
        p1.injectHandoff(456);
        const r1 = await p1.play({
          hints: recA.hints(),
          dir: target.dir(),
          journals: resolverOf(oldLog, journal),
        });
        assert.equal(r1.log, OTHER_LOG);

        // The new owner records into another log, continuing the recovered history.
        const recB = await LogBuilder.open(journal, { author: 456, fsm: r1.fsm });
        const created = await recB.create('/new/file');
        await recB.write(created, 0, 'new data');
        const hints = recB.hints();
        assert.deepEqual(
          hints.liveNodes.map((n) => n.segments.map((s) => s.log)),
          [[OTHER_LOG], ['']],
        );

        const p2 = new Player({ fs: target.fs });
        p2.injectHandoff(789);
        const r2 = await p2.play({
          hints,
          dir: target.dir(),
          journals: resolverOf(oldLog, journal),
        });
        assert.equal(r2.log, LOG);
        assert.equal(await target.readText(`${r2.dir}/old/file`), 'old data');
        assert.equal(await target.readText(`${r2.dir}/new/file`), 'new data');
        assert.deepEqual(await journal.registers(), authorFence(789));
      } finally {
        await oldLog.close();
      }
    });

    it('reads only hinted segments: dead history between them is never fetched', async () => {
      const rec = await LogBuilder.open(journal, { author: AUTHOR });
      const keep = await rec.create('/keep');
      await rec.write(keep, 0, 'first');
      const big = 'z'.repeat(64 * 1024);
      for (let i = 0; i < 4; i++) {
        const scratch = await rec.create(`/scratch${i}`);
        await rec.write(scratch, 0, big);
        await rec.unlink(scratch, `/scratch${i}`);
      }
      const later = await rec.create('/later');
      await rec.write(later, 0, 'second');
      // A Player's hints carry exact offsets and skip the scratch files' history.
      const p1 = new Player({ fs: target.fs });
      p1.finishAtWriteHead();
      const r1 = await p1.play({
        hints: rec.hints(),
        dir: target.dir(),
        journals: resolverOf(journal),
      });
      const exact = r1.fsm.buildHints(LOG);

      const p2 = new Player({ fs: target.fs, readSize: 4096 });
      p2.finishAtWriteHead();
      const r2 = await p2.play({ hints: exact, dir: target.dir(), journals: resolverOf(journal) });
      assert.equal(await target.readText(`${r2.dir}/keep`), 'first');
      assert.equal(await target.readText(`${r2.dir}/later`), 'second');
      assert.ok(r2.stats.bytesRead < 4 * 4096, `read ${r2.stats.bytesRead} bytes`);
      assert.ok((await journal.head()) > 4 * big.length);
    });

    it('a hot standby follows a live writer, then takes over', async () => {
      const rec = await LogBuilder.open(journal, { author: AUTHOR });
      const f = await rec.create('/f');
      const standby = new Player({ fs: target.fs });
      const playing = standby.play({
        hints: rec.hints(),
        dir: target.dir(),
        journals: resolverOf(journal),
      });
      await standby.tailing;
      for (let i = 0; i < 10; i++) await rec.write(f, i, String(i));
      const g = await rec.create('/g');
      await rec.write(g, 0, 'g');
      standby.injectHandoff(42);
      const result = await playing;
      assert.equal(await target.readText(`${result.dir}/f`), '0123456789');
      assert.equal(await target.readText(`${result.dir}/g`), 'g');
      assert.deepEqual(await journal.registers(), authorFence(42));
    });
  });
}

describe('Player integration on a FileJournal', function () {
  this.timeout(10_000);
  let root: string;
  let journal: FileJournal;

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'recoverylog-player-journal-'));
    journal = await FileJournal.create(path.join(root, 'journal'), LOG);
  });
  afterEach(async () => {
    await journal.close();
    await rm(root, { recursive: true, force: true });
  });

  it('records, tails, hands off and recovers on disk', async () => {
    const target = PLAY_TARGETS.find((t) => t.name === 'node:fs')!;
    const fsTarget = await target.make();
    try {
      const rec = await LogBuilder.open(journal, { author: AUTHOR });
      const db = await rec.create('/db/data');
      await rec.write(db, 0, 'alpha');
      const tail = new Player({ fs: fsTarget.fs });
      const tailing = tail.play({
        hints: rec.hints(),
        dir: fsTarget.dir(),
        journals: resolverOf(journal),
      });
      await tail.tailing;
      await rec.write(db, 5, '-beta');
      await rec.property('/IDENTITY', 'id-1');
      tail.injectHandoff(7);
      const r1 = await tailing;
      assert.deepEqual(await fsTarget.listFiles(r1.dir), ['/IDENTITY', '/db/data']);
      assert.equal(await fsTarget.readText(`${r1.dir}/db/data`), 'alpha-beta');
      assert.deepEqual(await journal.registers(), authorFence(7));

      // Reopened from disk, the journal replays the same history.
      await journal.close();
      journal = await FileJournal.open(path.join(root, 'journal'));
      const again = new Player({ fs: fsTarget.fs });
      again.finishAtWriteHead();
      const r2 = await again.play({
        hints: r1.fsm.buildHints(LOG),
        dir: fsTarget.dir(),
        journals: resolverOf(journal),
      });
      assert.equal(await fsTarget.readText(`${r2.dir}/db/data`), 'alpha-beta');
      assert.equal(await fsTarget.readText(`${r2.dir}/IDENTITY`), 'id-1');
      assert.deepEqual(r2.fsm.buildHints(LOG), r1.fsm.buildHints(LOG));
    } finally {
      await fsTarget.cleanup();
    }
  });
});
