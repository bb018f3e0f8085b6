/**
 * Re-recording long-lived files (beyond Gazette; gazette/core#236): a file created early and still
 * live pins the log from its create on, so pruning cannot pass it. RecordedFs.rerecord records
 * its current bytes as a new file identity (Gazette ops only, one append); hints then need only
 * the log after it, prune deletes the old fragments, and hinted playback (strict) still rebuilds
 * exactly the live directory.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Volume } from 'memfs';
import {
  FileJournal,
  FSM,
  MemoryJournal,
  NotSupportedError,
  Player,
  RecordedFs,
  Recorder,
  UnknownFnodeError,
  UntrackedFileError,
  type BaseFs,
  type FSMHints,
  type Journal,
  type PlaybackWarning,
  type RecordedFsOptions,
  type TargetFs,
} from '../../src/index.js';
import { lowestNeededOffset } from '../../src/journal/prune-plan.js';
import { RERECORD_WRITE_BYTES } from '../../src/recorder.js';
import { readAllOps, replayOps, type RawLogEntry } from '../helpers/raw-log.js';
import {
  SCENARIO_FS,
  contentsOf,
  linkGroups,
  type ScenarioFs,
  type TreeFile,
} from '../helpers/scenario-helpers.js';

const LOG = 'examples/rerecord/recovery-log';
const AUTHOR = 4242;
const IDENTITY = 'c0ffee00-0000-4000-8000-000000000236\n';

function emptyHints(log: string): FSMHints {
  return { log, liveNodes: [], properties: [] };
}

/** The offset where the hints' history of `fnode` begins in LOG. */
function firstOffsetOf(hints: FSMHints, fnode: number | undefined): number {
  const node = hints.liveNodes.find((n) => n.fnode === fnode);
  assert.ok(node !== undefined, `fnode ${fnode} is live in the hints`);
  return Math.min(...node.segments.filter((s) => s.log === '').map((s) => s.firstOffset));
}

function bytes(n: number, seed: number): Buffer {
  return Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
}

/** Plays `hints` strictly into a fresh directory; returns it and the warnings. */
async function play(
  env: ScenarioFs,
  hints: FSMHints,
  journal: Journal,
): Promise<{ dir: string; warnings: PlaybackWarning[] }> {
  const warnings: PlaybackWarning[] = [];
  const player = new Player({ fs: env.target, onWarning: (w) => warnings.push(w) });
  player.finishAtWriteHead();
  const dir = env.freshPath('restore');
  await player.play({ hints, dir, journals: () => journal });
  return { dir, warnings };
}

/** Same paths, bytes and hard-link groups. */
async function assertSameTree(env: ScenarioFs, actual: string, expected: string): Promise<void> {
  const a = await env.tree(actual);
  const e = await env.tree(expected);
  assert.deepEqual(contentsOf(a), contentsOf(e));
  assert.deepEqual(linkGroups(a), linkGroups(e));
}

/** Paths, bytes and inodes: the directory itself is untouched. */
function sameFiles(a: Map<string, TreeFile>, b: Map<string, TreeFile>): void {
  assert.deepEqual(
    [...a].map(([p, f]) => [p, f.ino, f.bytes.toString('hex')]),
    [...b].map(([p, f]) => [p, f.ino, f.bytes.toString('hex')]),
  );
}

/** The content every fnode has after replaying the log's ops up to (excluding) index `end`. */
function contentAt(entries: readonly RawLogEntry[], end: number, fnode: number): string {
  return Buffer.from(replayOps(entries.slice(0, end)).contents.get(fnode) ?? []).toString();
}

describe('re-recording long-lived files (gazette/core#236)', function () {
  this.timeout(20_000);

  for (const fsKind of SCENARIO_FS) {
    describe(`on ${fsKind.name} with a FileJournal of small fragments`, () => {
      let env: ScenarioFs;
      let journalDir: string;
      let journal: FileJournal;

      beforeEach(async () => {
        env = await fsKind.make();
        journalDir = await mkdtemp(path.join(tmpdir(), 'recoverylog-rerecord-'));
        journal = await FileJournal.create(journalDir, LOG, { fragmentBytes: 1024 });
      });
      afterEach(async () => {
        await journal.close();
        await rm(journalDir, { recursive: true, force: true });
        await env.cleanup();
      });

      it('moves the needed offset past long-lived files; prune deletes old fragments; playback recovers the live tree', async () => {
        const dir = await env.newDir('store');
        const recorder = await Recorder.open({
          journal,
          fsm: new FSM(emptyHints(LOG)),
          author: AUTHOR,
          dir,
        });
        const rfs = new RecordedFs(recorder, env.base);

        // Long-lived files, recorded first: a settings file, a hard-linked file, a WAL kept
        // open and appended to all along, and the IDENTITY property.
        await rfs.writeFile(`${dir}/IDENTITY.tmp`, IDENTITY);
        await rfs.rename(`${dir}/IDENTITY.tmp`, `${dir}/IDENTITY`);
        await rfs.writeFile(`${dir}/long`, 'a long-lived settings file\n');
        await rfs.mkdir(`${dir}/sub`, { recursive: true });
        await rfs.writeFile(`${dir}/sub/a`, bytes(300, 1));
        await rfs.link(`${dir}/sub/a`, `${dir}/sub/b`);
        const wal = await rfs.open(`${dir}/wal`, 'a');
        await wal.appendFile('wal record 0\n');
        const longFnode = recorder.fnodeAt(`${dir}/long`);

        // Churn: short-lived files make the log grow far past the long-lived ones.
        const churn = async (from: number, to: number): Promise<void> => {
          for (let i = from; i < to; i++) {
            await rfs.writeFile(`${dir}/churn-${i}`, bytes(200, i));
            if (i >= from + 2) await rfs.unlink(`${dir}/churn-${i - 2}`);
            if (i % 10 === 0) await wal.appendFile(`wal record ${i}\n`);
            // Syncs, as a store makes them: the journal rolls fragments between commits.
            if (i % 3 === 0) await recorder.barrier();
          }
          await rfs.unlink(`${dir}/churn-${to - 2}`);
          await rfs.unlink(`${dir}/churn-${to - 1}`);
        };
        await churn(0, 60);
        await wal.sync();

        // Without re-recording, the long-lived files pin the log from their creation on.
        const before = await recorder.buildHints();
        const pinned = lowestNeededOffset(LOG, [before]);
        assert.equal(pinned, firstOffsetOf(before, longFnode));
        assert.ok(pinned < 600, `pinned at ${pinned}, among the first ops`);
        const head = recorder.writeHead;
        assert.ok(head > 10 * 1024, `the log grew to ${head}`);
        assert.equal((await journal.prune([before], { dryRun: true })).deleted.length, 0);

        // Re-record every live file whose history begins before the current head.
        const treeBefore = await env.tree(dir);
        const results = await rfs.rerecordPinning({ belowOffset: head });
        sameFiles(await env.tree(dir), treeBefore); // The directory itself did not change.
        assert.deepEqual(results.map((r) => r.paths.join()).sort(), [
          `${dir}/long`,
          `${dir}/sub/a,${dir}/sub/b`,
          `${dir}/wal`,
        ]);
        for (const r of results) {
          assert.equal(recorder.linkCount(r.from), 0, 'the old identity is dead');
          for (const p of r.paths) assert.equal(recorder.fnodeAt(p), r.to);
        }

        // The handle goes on writing into the file under its new identity.
        await wal.appendFile('wal record after the re-record\n');
        await rfs.writeFile(`${dir}/fresh`, 'written after\n');
        await wal.sync();

        const after = await recorder.buildHints();
        assert.deepEqual(after.properties, before.properties, 'properties untouched');
        const needed = lowestNeededOffset(LOG, [after]);
        assert.ok(needed >= head, `needed ${needed} >= ${head} (was ${pinned})`);

        // Hints from before the re-record still play (through it) to the same tree.
        const old = await play(env, before, journal);
        assert.deepEqual(old.warnings, []);
        await assertSameTree(env, old.dir, dir);

        const pruned = await journal.prune([after]);
        assert.ok(pruned.deleted.length > 5, `${pruned.deleted.length} fragments deleted`);
        assert.ok(journal.low > pinned && journal.low <= needed, `low ${journal.low}`);

        const { dir: restored, warnings } = await play(env, after, journal);
        assert.deepEqual(warnings, []);
        await assertSameTree(env, restored, dir);
        assert.equal(await env.readText(`${restored}/IDENTITY`), IDENTITY);
        assert.ok(
          linkGroups(await env.tree(restored)).some((g) => g.join() === '/sub/a,/sub/b'),
          'both links on one file',
        );
        assert.match(await env.readText(`${restored}/wal`), /wal record 50\nwal record after/);
        await wal.close();
      });

      it('the rerecord policy in buildHints keeps hints within maxPinnedBytes of the head', async () => {
        const dir = await env.newDir('store');
        const recorder = await Recorder.open({
          journal,
          fsm: new FSM(emptyHints(LOG)),
          author: AUTHOR,
          dir,
        });
        const maxPinnedBytes = 4096;
        const options: RecordedFsOptions = { rerecord: { maxPinnedBytes, maxFilesPerRun: 2 } };
        const rfs = new RecordedFs(recorder, env.base, options);
        for (const name of ['x', 'y', 'z']) await rfs.writeFile(`${dir}/${name}`, `${name}\n`);
        // A file larger than the bound: only other traffic counts against it.
        await rfs.writeFile(`${dir}/big`, bytes(8000, 7));
        const bigFnode = recorder.fnodeAt(`${dir}/big`);
        await recorder.barrier();
        const bigFirst = firstOffsetOf(recorder.fsm.buildHints(LOG), bigFnode);
        /** Short-lived files until the write head reaches `until`. */
        const churn = async (until: number): Promise<void> => {
          for (let i = 0; recorder.writeHead < until; i++) {
            await rfs.writeFile(`${dir}/tmp`, bytes(200, i));
            await rfs.unlink(`${dir}/tmp`);
            await recorder.barrier();
          }
        };
        await churn(bigFirst + 8000 + 2000);

        // Run 1: the two lowest small files; run 2: the third. `big` stays: besides its own
        // bytes it pins only about 2 KiB.
        const xFnode = recorder.fnodeAt(`${dir}/x`);
        const zFnode = recorder.fnodeAt(`${dir}/z`);
        const h1 = await rfs.buildHints();
        assert.notEqual(recorder.fnodeAt(`${dir}/x`), xFnode);
        assert.equal(recorder.fnodeAt(`${dir}/z`), zFnode, 'at most maxFilesPerRun per run');
        assert.equal(lowestNeededOffset(LOG, [h1]), firstOffsetOf(h1, zFnode));
        const h2 = await rfs.buildHints();
        assert.notEqual(recorder.fnodeAt(`${dir}/z`), zFnode);
        assert.equal(recorder.fnodeAt(`${dir}/big`), bigFnode, 'big is not worth copying yet');
        assert.equal(lowestNeededOffset(LOG, [h2]), bigFirst);

        // More traffic: now `big` pins more than the bound besides its own bytes.
        await churn(bigFirst + 8000 + maxPinnedBytes + 300);
        const head3 = recorder.writeHead;
        const h3 = await rfs.buildHints();
        assert.notEqual(recorder.fnodeAt(`${dir}/big`), bigFnode);
        const needed = lowestNeededOffset(LOG, [h3]);
        assert.ok(needed >= head3 - maxPinnedBytes, `${needed} >= ${head3} - ${maxPinnedBytes}`);

        await journal.prune([h3]);
        const { dir: restored, warnings } = await play(env, h3, journal);
        assert.deepEqual(warnings, []);
        await assertSameTree(env, restored, dir);
      });
    });
  }

  describe('atomicity on memfs with slow completions', () => {
    /**
     * A memfs base whose writes (and renames) take effect at once but report completion later,
     * as a libuv thread-pool call can: the window in which a recorder could get it wrong.
     */
    function slowBase(
      vol: InstanceType<typeof Volume>,
      delayMs: (written?: Uint8Array) => number,
    ): BaseFs {
      const promises = vol.promises as unknown as BaseFs;
      const later = <T>(value: T, written?: Uint8Array): Promise<T> =>
        new Promise((resolve) => setTimeout(() => resolve(value), delayMs(written)));
      return new Proxy(promises, {
        get(target, key) {
          if (key === 'rename') {
            return (from: string, to: string) => {
              vol.renameSync(from, to);
              return later(undefined);
            };
          }
          if (key !== 'open') return Reflect.get(target, key);
          return async (...args: Parameters<BaseFs['open']>) => {
            const handle = await target.open(...args);
            return new Proxy(handle, {
              get(h, k) {
                if (k !== 'write') return Reflect.get(h, k);
                return (buffer: Uint8Array, offset: number, length: number, position: number) => {
                  const bytesWritten = vol.writeSync(h.fd, buffer, offset, length, position);
                  return later({ bytesWritten, buffer }, buffer.subarray(offset, offset + length));
                };
              },
            });
          };
        },
      });
    }

    async function setup(delayMs: (written?: Uint8Array) => number) {
      const vol = new Volume();
      vol.mkdirSync('/d', { recursive: true });
      const journal = new MemoryJournal('t/rerecord');
      const recorder = await Recorder.open({
        journal,
        fsm: new FSM(emptyHints(journal.name)),
        author: AUTHOR,
        dir: '/d',
      });
      const rfs = new RecordedFs(recorder, slowBase(vol, delayMs));
      return { vol, journal, recorder, rfs };
    }

    it('records exactly the bytes of a file written concurrently', async () => {
      let seed = 1;
      const random = (): number => (seed = (seed * 48271) % 2147483647) / 2147483647;
      const { vol, journal, recorder, rfs } = await setup(() => Math.floor(random() * 8));
      const h = await rfs.open('/d/L', 'w');
      await h.write(Buffer.from('.'.repeat(64)), 0, 64, 0);
      const writes: Promise<unknown>[] = [];
      const overwrite = (i: number): void => {
        const letter = String.fromCharCode(65 + (i % 26)).repeat(16);
        writes.push(h.write(Buffer.from(letter), 0, 16, (i * 7) % 48));
      };
      for (let i = 0; i < 20; i++) overwrite(i);
      await new Promise((resolve) => setTimeout(resolve, 3));
      const rerecording = rfs.rerecord('/d/L');
      for (let i = 20; i < 40; i++) {
        overwrite(i);
        if (i % 5 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      const result = await rerecording;
      // Writes issued now, under the new identity, queue behind those still waiting under the old.
      for (let i = 40; i < 60; i++) overwrite(i);
      await Promise.all(writes);
      await recorder.barrier();
      assert.ok(result !== undefined);

      const real = vol.readFileSync('/d/L').toString();
      const entries = await readAllOps(journal);
      const replayed = replayOps(entries);
      const fnode = replayed.links.get('/L');
      assert.equal(fnode, result.to);
      assert.equal(Buffer.from(replayed.contents.get(fnode!)!).toString(), real);
      // The re-recorded bytes are exactly what the log said the file held at the swap: every
      // write that reached the file before the read was recorded before the swap, none after.
      const swap = entries.findIndex((e) => e.op.seqNo === result.to);
      assert.deepEqual(entries[swap]!.op.create, { path: '/L' });
      assert.deepEqual(entries[swap - 1]!.op.unlink, { fnode: result.from, path: '/L' });
      assert.equal(entries[swap + 1]!.op.write?.length, 64); // The re-recorded content.
      const appWrites = (fnode: number): number =>
        entries.filter((e) => e.op.write?.fnode === fnode && e.op.write.length === 16).length;
      assert.ok(appWrites(result.from) > 0 && appWrites(result.to) > 0, 'writes on both sides');
      assert.equal(appWrites(result.from) + appWrites(result.to), 60);
      assert.equal(
        contentAt(entries, swap + 2, result.to),
        contentAt(entries, swap - 1, result.from),
        "the new identity starts with the old one's recorded bytes",
      );
      await h.close();
    });

    it('writes under the new identity wait for writes still queued under the old one', async () => {
      // 'A' and 'B' complete after 30 ms, anything else after 1 ms.
      const slow = (written?: Uint8Array): number =>
        written !== undefined && (written[0] === 65 || written[0] === 66) ? 30 : 1;
      const { vol, journal, recorder, rfs } = await setup(slow);
      const h = await rfs.open('/d/L', 'w');
      await h.write(Buffer.from('-----'), 0, 5, 0);
      const first = h.write(Buffer.from('AAAAA'), 0, 5, 0); // Holds the queue: 30 ms.
      const rerecording = rfs.rerecord('/d/L'); // Queued behind it.
      await new Promise((resolve) => setTimeout(resolve, 5));
      const second = h.write(Buffer.from('BBBBB'), 0, 5, 0); // Queued behind the re-record.
      const result = await rerecording;
      await new Promise((resolve) => setTimeout(resolve, 5)); // 'B' is in the file now.
      const third = h.write(Buffer.from('CCCCC'), 0, 5, 0); // Must not overtake 'B'.
      await Promise.all([first, second, third]);
      await recorder.barrier();
      assert.ok(result !== undefined);
      const replayed = replayOps(await readAllOps(journal));
      assert.equal(vol.readFileSync('/d/L').toString(), 'CCCCC');
      assert.equal(Buffer.from(replayed.contents.get(result.to)!).toString(), 'CCCCC');
      await h.close();
    });

    it('waits for a rename onto one of the paths, and reads the file the path then names', async () => {
      const { vol, journal, recorder, rfs } = await setup(() => 20);
      await rfs.writeFile('/d/L', 'old content\n');
      await rfs.link('/d/L', '/d/L2');
      await rfs.writeFile('/d/tmp', 'new content\n');
      const renaming = rfs.rename('/d/tmp', '/d/L'); // In effect at once, recorded 20 ms later.
      await new Promise((resolve) => setImmediate(resolve));
      const result = await rfs.rerecord('/d/L2');
      await renaming;
      await recorder.barrier();
      assert.deepEqual(result?.paths, ['/d/L2']);

      const replayed = replayOps(await readAllOps(journal));
      for (const p of ['/L', '/L2']) {
        const recorded = Buffer.from(replayed.contents.get(replayed.links.get(p)!)!).toString();
        assert.equal(recorded, vol.readFileSync(`/d${p}`).toString(), p);
      }
      assert.equal(vol.readFileSync('/d/L2').toString(), 'old content\n');
    });

    it('a truncation queued behind a re-record truncates the file under its new identity', async () => {
      const { vol, journal, recorder, rfs } = await setup(() => 20);
      const h = await rfs.open('/d/L', 'w');
      await h.write(Buffer.from('first content\n'));
      const writing = h.write(Buffer.from('more\n')); // Holds the file's queue for 20 ms.
      const rerecording = rfs.rerecord('/d/L');
      await new Promise((resolve) => setTimeout(resolve, 5)); // The re-record is queued now.
      const truncating = h.truncate(0);
      await Promise.all([writing, rerecording, truncating]);
      await h.write(Buffer.from('after\n'), 0, 6, 0);
      await recorder.barrier();
      assert.ok((await rerecording) !== undefined, 'the re-record ran before the truncation');

      const replayed = replayOps(await readAllOps(journal));
      const recorded = Buffer.from(replayed.contents.get(replayed.links.get('/L')!)!).toString();
      assert.equal(vol.readFileSync('/d/L').toString(), 'after\n');
      assert.equal(recorded, 'after\n');
      await h.close();
    });
  });

  describe('the recorded ops', () => {
    async function memoryStore(options?: RecordedFsOptions) {
      const vol = new Volume();
      vol.mkdirSync('/d/sub', { recursive: true });
      const journal = new MemoryJournal('t/rerecord-ops');
      const recorder = await Recorder.open({
        journal,
        fsm: new FSM(emptyHints(journal.name)),
        author: AUTHOR,
        dir: '/d',
      });
      const rfs = new RecordedFs(recorder, vol.promises as unknown as BaseFs, options);
      return { vol, journal, recorder, rfs };
    }

    it('are Gazette ops in one append: unlinks, create, links, then the content in chunks', async () => {
      const { vol, journal, recorder, rfs } = await memoryStore();
      const content = bytes(RERECORD_WRITE_BYTES + 1000, 3);
      await rfs.writeFile('/d/sub/a', content);
      await rfs.link('/d/sub/a', '/d/b');
      await rfs.link('/d/sub/a', '/d/c');
      const old = recorder.fnodeAt('/d/b')!;
      await recorder.barrier();
      const start = await journal.head();
      let appends = 0;
      const append = journal.append.bind(journal);
      journal.append = (data, options) => {
        if ((Array.isArray(data) ? data : [data]).some((d) => d.length > 0)) appends++;
        return append(data, options);
      };

      const result = await rfs.rerecord('/d/b');
      await recorder.barrier();
      assert.equal(appends, 1, 'one append');
      assert.ok(result !== undefined);
      const g = result.to;
      const ops = (await readAllOps(journal, start)).map((e) => e.op);
      assert.deepEqual(
        ops.map(({ create, link, unlink, write }) =>
          create
            ? ['create', create.path]
            : link
              ? ['link', link.fnode, link.path]
              : unlink
                ? ['unlink', unlink.fnode, unlink.path]
                : ['write', write!.fnode, write!.offset, write!.length],
        ),
        [
          ['unlink', old, '/sub/a'],
          ['create', '/sub/a'],
          ['unlink', old, '/b'],
          ['link', g, '/b'],
          ['unlink', old, '/c'],
          ['link', g, '/c'],
          ['write', g, 0, RERECORD_WRITE_BYTES],
          ['write', g, RERECORD_WRITE_BYTES, 1000],
        ],
      );
      assert.equal(ops[1]!.seqNo, g);
      assert.ok(ops.every((op) => op.author === AUTHOR && op.property === undefined));
      assert.deepEqual([...recorder.fsm.liveNodes.keys()], [g]);
      assert.deepEqual([...recorder.fsm.liveNodes.get(g)!.links].sort(), ['/b', '/c', '/sub/a']);

      const replayed = replayOps(await readAllOps(journal));
      assert.deepEqual(Buffer.from(replayed.contents.get(g)!), content);
      assert.deepEqual(vol.readFileSync('/d/c'), content);
    });

    it('an empty file is re-recorded without a write', async () => {
      const { journal, recorder, rfs } = await memoryStore();
      await rfs.writeFile('/d/empty', '');
      await recorder.barrier();
      const start = await journal.head();
      const result = await rfs.rerecord('/d/empty');
      await recorder.barrier();
      const ops = (await readAllOps(journal, start)).map((e) => e.op);
      assert.equal(ops.length, 2);
      assert.ok(ops[0]!.unlink && ops[1]!.create);
      assert.equal(result?.bytes, 0);
    });

    it('refuses property paths, unrecorded files and bad options; the recorder stays usable', async () => {
      const { vol, recorder, rfs } = await memoryStore();
      await rfs.writeFile('/d/IDENTITY.tmp', 'id\n');
      await rfs.rename('/d/IDENTITY.tmp', '/d/IDENTITY');
      await assert.rejects(rfs.rerecord('/d/IDENTITY'), NotSupportedError);
      vol.writeFileSync('/d/outside', 'not recorded');
      await assert.rejects(rfs.rerecord('/d/outside'), UntrackedFileError);
      await assert.rejects(rfs.rerecord('/d/missing'), { code: 'ENOENT' });
      await assert.rejects(rfs.rerecordPinning({ belowOffset: 10, maxFiles: 0 }), {
        code: 'InvalidArgument',
        reason: 'RerecordPolicy',
      });
      assert.throws(() => recorder.recordRerecord(999, new Uint8Array()), UnknownFnodeError);
      assert.throws(
        () =>
          new RecordedFs(recorder, vol.promises as unknown as BaseFs, {
            rerecord: { maxPinnedBytes: -1 },
          }),
        { code: 'InvalidArgument', reason: 'RerecordPolicy' },
      );
      assert.equal(recorder.failed, undefined);
      await rfs.writeFile('/d/ok', 'still recording\n');
      await recorder.barrier();
    });

    it('without a policy, buildHints re-records nothing', async () => {
      const { recorder, rfs } = await memoryStore();
      await rfs.writeFile('/d/early', 'x');
      for (let i = 0; i < 20; i++) {
        await rfs.writeFile('/d/tmp', bytes(500, i));
        await rfs.unlink('/d/tmp');
      }
      const fnode = recorder.fnodeAt('/d/early');
      const hints = await rfs.buildHints();
      assert.equal(recorder.fnodeAt('/d/early'), fnode);
      assert.deepEqual(hints, await recorder.buildHints());
    });
  });

  it('a Player replaying the whole log (no hints) applies a re-record like any other ops', async () => {
    const vol = new Volume();
    vol.mkdirSync('/d', { recursive: true });
    const journal = new MemoryJournal('t/rerecord-full');
    const recorder = await Recorder.open({
      journal,
      fsm: new FSM(emptyHints(journal.name)),
      author: AUTHOR,
      dir: '/d',
    });
    const rfs = new RecordedFs(recorder, vol.promises as unknown as BaseFs);
    await rfs.writeFile('/d/a', 'content of a\n');
    await rfs.link('/d/a', '/d/b');
    await rfs.rerecord('/d/a');
    await rfs.appendFile('/d/b', 'appended\n');
    await recorder.barrier();
    const player = new Player({ fs: vol.promises as unknown as TargetFs });
    player.finishAtWriteHead();
    await player.play({ hints: emptyHints(journal.name), dir: '/r', journals: () => journal });
    assert.equal(vol.readFileSync('/r/a').toString(), 'content of a\nappended\n');
    assert.equal(vol.statSync('/r/a').ino, vol.statSync('/r/b').ino);
  });
});
