import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors.js';
import path from 'node:path';
import { Volume } from 'memfs';
import { MemoryJournal } from '../../src/journal/memory.js';
import type { Journal, ReadOptions, ReadResult } from '../../src/journal/journal.js';
import {
  CorruptLogError,
  CorruptPayloadError,
  LocalFsError,
  PlaybackAbortedError,
  PlayerInvariantError,
  PossibleDataLossError,
  UnsafePathError,
  Player,
  stagedPath,
  type PlayerOptions,
  type PlaybackWarning,
  type PlayResult,
  type TargetFs,
} from '../../src/player.js';
import { LogReader } from '../../src/player/log-reader.js';
import { StagingArea, targetPath } from '../../src/player/staging.js';
import type { FSMHints } from '../../src/wire/types.js';
import {
  LogBuilder,
  PLAY_TARGETS,
  rawFrame,
  resolverOf,
  spyFs,
  type PlayTarget,
} from '../helpers/log-builder.js';

const LOG = 'examples/integration-tests/recovery-log';
const AUTHOR = 1234;

// memfs' promises API is a TargetFs as it is (checked by the compiler).
const memfsIsATarget: TargetFs = new Volume().promises;
void memfsIsATarget;

function emptyHints(log = LOG): FSMHints {
  return { log, liveNodes: [], properties: [] };
}

async function rejectsWith<E extends Error>(
  promise: Promise<unknown>,
  type: new (...args: never[]) => E,
  check?: (err: E) => void,
): Promise<E> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    check?.(err);
    return err;
  }
  assert.fail(`expected ${type.name}, but it resolved`);
}

for (const { name, make } of PLAY_TARGETS) {
  describe(`Player on ${name}`, function () {
    this.timeout(10_000);
    let target: PlayTarget;
    let journal: MemoryJournal;
    let builder: LogBuilder;

    beforeEach(async () => {
      target = await make();
      journal = new MemoryJournal(LOG);
      builder = await LogBuilder.open(journal, { author: AUTHOR });
    });
    afterEach(async () => {
      await journal.close();
      await target.cleanup();
    });

    /** Plays to the current write head (read-only) into a fresh directory. */
    async function playToHead(
      hints: FSMHints,
      options: PlayerOptions = {},
      journals: Journal[] = [journal],
    ): Promise<PlayResult> {
      const player = new Player({ fs: target.fs, ...options });
      player.finishAtWriteHead();
      return player.play({ hints, dir: target.dir(), journals: resolverOf(...journals) });
    }

    describe('staging', () => {
      it('stages fnode files under <dir>/.fnodes/<fnode>', () => {
        assert.equal(stagedPath('/a/local/dir', 1234), '/a/local/dir/.fnodes/1234');
      });

      it('prepare() deletes the directory and creates an empty staging directory', async () => {
        const dir = target.dir();
        await target.writeFile(`${dir}/old/file`, 'stale');
        await StagingArea.prepare(target.fs, dir);
        assert.deepEqual(await target.listFiles(dir), []);
        assert.ok(await target.exists(`${dir}/.fnodes`));
        await rejectsWith(StagingArea.prepare(target.fs, '/'), UnsafePathError);
      });

      it('creates staged files exclusively', async () => {
        const dir = target.dir();
        const staging = await StagingArea.prepare(target.fs, dir);
        await staging.create(41);
        assert.ok(await target.exists(stagedPath(dir, 41)));
        // A file already at the staged path is an error, and the fnode is not registered.
        await target.writeFile(stagedPath(dir, 42), 'whoops');
        await rejectsWith(staging.create(42), LocalFsError, (err) =>
          assert.match(err.message, /exist/i),
        );
        assert.deepEqual(staging.stagedFnodes(), [41]);
        await staging.closeAll();
      });

      it('a failed write-behind write fails the flush and every later call', async () => {
        const dir = target.dir();
        const base = target.fs;
        const failing: TargetFs = {
          rm: (p, o) => base.rm(p, o),
          mkdir: (p, o) => base.mkdir(p, o),
          link: (from, to) => base.link(from, to),
          unlink: (p) => base.unlink(p),
          rmdir: (p) => base.rmdir(p),
          writeFile: (p, data, o) => base.writeFile(p, data, o),
          open: async (file, flags, mode) => {
            const handle = await base.open(file, flags, mode);
            return {
              write: () => Promise.reject(new Error('EIO: injected')),
              close: () => handle.close(),
            };
          },
        };
        const staging = await StagingArea.prepare(failing, dir);
        await staging.create(7);
        await staging.write(7, 0, new TextEncoder().encode('lost'));
        await rejectsWith(staging.flushWrites(), LocalFsError, (err) =>
          assert.match(err.message, /EIO: injected/),
        );
        await rejectsWith(staging.write(7, 4, new Uint8Array(1)), LocalFsError);
        await rejectsWith(
          staging.makeLive({ liveNodes: new Map(), properties: new Map() }),
          LocalFsError,
        );
        assert.equal(staging.payloadBytesWritten, 0);
        await staging.closeAll();
      });

      it('writes at offsets, out of order, with holes read as zeros', async () => {
        const dir = target.dir();
        // One open handle at a time: every switch of fnode closes and reopens a file.
        const staging = await StagingArea.prepare(target.fs, dir, 1);
        const enc = new TextEncoder();
        await staging.create(42);
        await staging.create(43);
        // Writes are write-behind: flushWrites() waits for them.
        await staging.write(42, 5, enc.encode('over-write'));
        await staging.flushWrites();
        assert.equal(await target.readText(stagedPath(dir, 42)), '\0\0\0\0\0over-write');
        await staging.write(43, 0, enc.encode('other'));
        await staging.write(42, 0, enc.encode('abcde'));
        await staging.flushWrites();
        assert.equal(await target.readText(stagedPath(dir, 42)), 'abcdeover-write');
        // Overlapping writes queued back to back land in call order.
        await staging.write(42, 5, enc.encode('XXXXXXXXXXXX'));
        await staging.write(42, 5, enc.encode('0123456789'));
        await staging.write(42, 17, enc.encode('!'));
        await staging.flushWrites();
        assert.equal(await target.readText(stagedPath(dir, 42)), 'abcde0123456789XX!');
        assert.equal(await target.readText(stagedPath(dir, 43)), 'other');
        assert.equal(staging.payloadBytesWritten, 43);
        await staging.closeAll();
      });

      it('removes the staged file of a dead fnode', async () => {
        const dir = target.dir();
        const staging = await StagingArea.prepare(target.fs, dir);
        await staging.create(42);
        await staging.create(44);
        await staging.remove(42);
        assert.equal(await target.exists(stagedPath(dir, 42)), false);
        assert.ok(await target.exists(stagedPath(dir, 44)));
        assert.deepEqual(staging.stagedFnodes(), [44]);
        await rejectsWith(staging.remove(42), PlayerInvariantError);
        await staging.closeAll();
      });

      it('makeLive hard-links live fnodes into place, then writes properties', async () => {
        const dir = target.dir();
        const staging = await StagingArea.prepare(target.fs, dir);
        await staging.create(42);
        await staging.write(42, 0, new TextEncoder().encode('forty-two'));
        await staging.create(44);
        const created = await staging.makeLive({
          liveNodes: new Map([
            [42, { links: new Set(['/a/path', '/linked/deep/path']) }],
            [44, { links: new Set(['/another/path']) }],
          ]),
          properties: new Map([['/property/path', 'prop-value']]),
        });
        assert.equal(created, 4);
        assert.deepEqual(await target.listFiles(dir), [
          '/a/path',
          '/another/path',
          '/linked/deep/path',
          '/property/path',
        ]);
        assert.equal(await target.readText(`${dir}/a/path`), 'forty-two');
        assert.equal(await target.readText(`${dir}/linked/deep/path`), 'forty-two');
        assert.equal(
          await target.inode(`${dir}/a/path`),
          await target.inode(`${dir}/linked/deep/path`),
        );
        assert.equal(await target.readText(`${dir}/another/path`), '');
        assert.equal(await target.readText(`${dir}/property/path`), 'prop-value');
        assert.equal(await target.exists(`${dir}/.fnodes`), false);
      });

      it('makeLive refuses staged files the FSM does not know', async () => {
        const staging = await StagingArea.prepare(target.fs, target.dir());
        await staging.create(42);
        await staging.create(43);
        await rejectsWith(
          staging.makeLive({
            liveNodes: new Map([[42, { links: new Set(['/a']) }]]),
            properties: new Map(),
          }),
          PlayerInvariantError,
          (err) => assert.match(err.message, /43/),
        );
        await staging.closeAll();
      });

      it('refuses paths that escape the directory or hit the staging directory', () => {
        const dir = '/target/dir';
        assert.equal(targetPath(dir, '/a/b'), path.join(dir, 'a/b'));
        for (const bad of ['/../escape', '/a/../../escape', '/', '', '/.fnodes/12', '/.fnodes']) {
          assert.throws(() => targetPath(dir, bad), UnsafePathError, bad);
        }
      });
    });

    describe('playback', () => {
      it('recovers files, links, renames, unlinks and properties; empty hints read from offset 0', async () => {
        const a = await builder.create('/a/path');
        await builder.write(a, 0, 'hello');
        const b = await builder.create('/b');
        await builder.write(b, 0, 'bee');
        await builder.link(b, '/c/linked');
        await builder.rename(a, '/a/path', '/renamed');
        await builder.unlink(b, '/b');
        const dead = await builder.create('/dead');
        await builder.write(dead, 0, 'gone');
        await builder.unlink(dead, '/dead');
        await builder.property('/IDENTITY', 'db-id');
        await builder.write(a, 5, ' world');

        const result = await playToHead(emptyHints());
        assert.equal(result.log, LOG);
        assert.deepEqual(await target.listFiles(result.dir), [
          '/IDENTITY',
          '/c/linked',
          '/renamed',
        ]);
        assert.equal(await target.readText(`${result.dir}/renamed`), 'hello world');
        assert.equal(await target.readText(`${result.dir}/c/linked`), 'bee');
        assert.equal(await target.readText(`${result.dir}/IDENTITY`), 'db-id');
        // Every op was applied; the resulting FSM equals the writer's.
        assert.equal(result.stats.opsApplied, 13);
        assert.deepEqual(result.stats.opsSkipped, {});
        assert.equal(result.stats.files, 3);
        assert.equal(result.stats.bytesRead, await journal.head());
        assert.equal(result.stats.payloadBytesWritten, 5 + 3 + 4 + 6);
        assert.equal(result.fsm.nextSeqNo, builder.fsm.nextSeqNo);
        assert.equal(result.fsm.nextChecksum, builder.fsm.nextChecksum);
        assert.deepEqual(
          result.fsm.buildHints(LOG).liveNodes.map((n) => n.fnode),
          builder.hints().liveNodes.map((n) => n.fnode),
        );
      });

      it('plays from mid-log hints, transitioning dead fnodes without staging them', async () => {
        await builder.garbage('irrelevant preceding content is never read');
        const keep = await builder.create('/keep');
        // Created between two hinted files and dead when the hints were built: not tracked.
        const tmp = await builder.create('/tmp');
        await builder.write(tmp, 0, 'temporary');
        const keep2 = await builder.create('/keep2');
        await builder.write(keep, 0, 'kept');
        await builder.unlink(tmp, '/tmp');
        const hints = builder.hints();
        await builder.write(keep, 4, '+more');

        const spy = spyFs(target.fs);
        const result = await playToHead(hints, { fs: spy.fs });
        assert.equal(await target.readText(`${result.dir}/keep`), 'kept+more');
        assert.deepEqual(await target.listFiles(result.dir), ['/keep', '/keep2']);
        assert.deepEqual(result.stats.opsSkipped, { 'fnode-not-tracked': 3 });
        assert.deepEqual(spy.opened, [stagedPath(result.dir, keep), stagedPath(result.dir, keep2)]);
        assert.ok(spy.writes.every((w) => w.path === stagedPath(result.dir, keep)));
      });

      it('backfills from a lower-bound first offset, skipping older ops and their payloads', async () => {
        const old = await builder.create('/old');
        await builder.write(old, 0, '0123456789');
        const hinted = await builder.create('/hinted');
        await builder.write(hinted, 0, 'data');
        const hints = builder.hints();
        // A Recorder's first offsets are lower bounds: pretend it only knew offset 0.
        for (const node of hints.liveNodes) for (const s of node.segments) s.firstOffset = 0;
        hints.liveNodes = hints.liveNodes.filter((n) => n.fnode === hinted);

        const result = await playToHead(hints);
        assert.deepEqual(await target.listFiles(result.dir), ['/hinted']);
        assert.equal(await target.readText(`${result.dir}/hinted`), 'data');
        assert.deepEqual(result.stats.opsSkipped, { 'stale-seqno': 2 });
      });

      it('plays writes out of order and with holes, including empty writes', async () => {
        const f = await builder.create('/f');
        await builder.write(f, 5, 'over-write');
        await builder.write(f, 0, 'abcde');
        await builder.write(f, 5, '0123456789');
        await builder.write(f, 17, '!');
        await builder.write(f, 30, '');
        const result = await playToHead(emptyHints());
        assert.equal(await target.readText(`${result.dir}/f`), 'abcde0123456789\0\0!');
      });

      it('follows the same history whatever the read size', async () => {
        const f = await builder.create('/f');
        for (let i = 0; i < 20; i++) await builder.write(f, i * 3, `${i}`.padStart(3, '-'));
        const g = await builder.create('/dir/g');
        await builder.write(g, 0, 'x'.repeat(5000));
        await builder.unlink(f, '/f');
        const h = await builder.create('/h');
        await builder.write(h, 0, 'final');
        const expected = await playToHead(emptyHints());
        for (const readSize of [1, 3, 8, 100]) {
          const result = await playToHead(emptyHints(), {
            readSize,
            maxBufferedPayload: 64,
            maxOpenFiles: 1,
          });
          assert.deepEqual(await target.listFiles(result.dir), ['/dir/g', '/h']);
          assert.equal(await target.readText(`${result.dir}/dir/g`), 'x'.repeat(5000));
          assert.equal(await target.readText(`${result.dir}/h`), 'final');
          assert.equal(result.stats.opsApplied, expected.stats.opsApplied);
        }
      });

      describe('strictness', () => {
        async function garbageLog(): Promise<number> {
          const a = await builder.create('/a/path');
          const { begin } = await builder.raw(new TextEncoder().encode('... invalid data ...'));
          await builder.write(a, 0, 'sixsix');
          await builder.create('/other/path');
          await builder.create('/fin');
          return begin;
        }

        it('strict: garbage is corruption, named by log and offset', async () => {
          const at = await garbageLog();
          const dir = target.dir();
          const player = new Player({ fs: target.fs });
          player.finishAtWriteHead();
          await rejectsWith(
            player.play({ hints: emptyHints(), dir, journals: resolverOf(journal) }),
            CorruptLogError,
            (err) => {
              assert.equal(err.code, 'CorruptLog');
              assert.equal(err.kind, 'garbage');
              assert.equal(err.log, LOG);
              assert.equal(err.offset, at);
              assert.match(err.message, new RegExp(`${LOG} at offset ${at}`));
              assert.match(err.message, /--lenient/);
            },
          );
          // A failed playback leaves nothing behind.
          assert.equal(await target.exists(dir), false);
        });

        it('lenient: garbage is skipped, with a warning', async () => {
          const at = await garbageLog();
          const warnings: PlaybackWarning[] = [];
          const result = await playToHead(emptyHints(), {
            lenient: true,
            onWarning: (w) => warnings.push(w),
          });
          assert.deepEqual(await target.listFiles(result.dir), ['/a/path', '/fin', '/other/path']);
          assert.equal(await target.readText(`${result.dir}/a/path`), 'sixsix');
          assert.deepEqual(result.stats.opsSkipped, { garbage: 1 });
          assert.deepEqual(
            warnings.map((w) => [w.kind, w.log, w.offset]),
            [['garbage', LOG, at]],
          );
        });

        it('a SeqNo gap is corruption (strict) or skipped with what follows (lenient)', async () => {
          const a = await builder.create('/a');
          await builder.write(a, 0, 'kept');
          const lost = builder.frameWrite(a, 4, ' lost'); // sequenced, never appended
          void lost;
          await builder.write(a, 9, ' after the gap');
          await builder.create('/b');
          await rejectsWith(playToHead(emptyHints()), CorruptLogError, (err) => {
            assert.equal(err.kind, 'seqno-gap');
            assert.match(err.message, /SeqNo 4 skips ahead of the expected SeqNo 3/);
          });
          const result = await playToHead(emptyHints(), { lenient: true });
          assert.deepEqual(await target.listFiles(result.dir), ['/a']);
          assert.equal(await target.readText(`${result.dir}/a`), 'kept');
          assert.deepEqual(result.stats.opsSkipped, { 'seqno-gap': 2 });
        });

        it('a checksum mismatch at the expected SeqNo is corruption (strict) or skipped (lenient)', async () => {
          const a = await builder.create('/a');
          const forged = rawFrame({
            seqNo: builder.fsm.nextSeqNo,
            checksum: (builder.fsm.nextChecksum ^ 1) >>> 0,
            author: AUTHOR,
            create: { path: '/forged' },
          });
          const { begin } = await builder.raw(forged);
          await builder.write(a, 0, 'real');
          await rejectsWith(playToHead(emptyHints()), CorruptLogError, (err) => {
            assert.equal(err.kind, 'checksum-mismatch');
            assert.equal(err.offset, begin);
          });
          const result = await playToHead(emptyHints(), { lenient: true });
          assert.deepEqual(await target.listFiles(result.dir), ['/a']);
          assert.equal(await target.readText(`${result.dir}/a`), 'real');
          assert.deepEqual(result.stats.opsSkipped, { 'checksum-mismatch': 1 });
        });

        it('an op the FSM refuses (link exists) is corruption (strict) or skipped (lenient)', async () => {
          const a = await builder.create('/a');
          await builder.create('/b');
          await builder.raw(
            rawFrame({
              seqNo: builder.fsm.nextSeqNo,
              checksum: builder.fsm.nextChecksum,
              author: AUTHOR,
              link: { fnode: a, path: '/b' },
            }),
          );
          await rejectsWith(playToHead(emptyHints()), CorruptLogError, (err) => {
            assert.equal(err.kind, 'link-exists');
            assert.match(err.message, /link exists/);
          });
          const result = await playToHead(emptyHints(), { lenient: true });
          assert.deepEqual(await target.listFiles(result.dir), ['/a', '/b']);
          assert.deepEqual(result.stats.opsSkipped, { 'link-exists': 1 });
        });

        it('a non-create where hints expect a file is corruption (strict)', async () => {
          const a = await builder.create('/a');
          await builder.write(a, 0, 'x');
          const hints = builder.hints();
          // Claim that the write's SeqNo created a live file.
          const seg = { ...hints.liveNodes[0]!.segments[0]!, firstSeqNo: 2, lastSeqNo: 2 };
          hints.liveNodes.push({ fnode: 2, segments: [seg] });
          hints.liveNodes[0]!.segments[0]!.lastSeqNo = 1;
          await rejectsWith(playToHead(hints), CorruptLogError, (err) =>
            assert.equal(err.kind, 'expected-hinted-fnode'),
          );
        });

        for (const lenient of [false, true]) {
          const mode = lenient ? 'lenient' : 'strict';

          it(`${mode}: an undecodable frame is fatal`, async () => {
            await builder.create('/a');
            // Valid magic and length, but a protobuf field 1 with a truncated varint.
            const { begin } = await builder.raw(
              Uint8Array.of(0x66, 0x33, 0x93, 0x36, 2, 0, 0, 0, 0x08, 0xff),
            );
            await rejectsWith(playToHead(emptyHints(), { lenient }), CorruptLogError, (err) => {
              assert.equal(err.kind, 'undecodable-frame');
              assert.equal(err.offset, begin);
            });
          });

          it(`${mode}: a frame truncated at the head is fatal`, async () => {
            await builder.create('/a');
            const whole = rawFrame({
              seqNo: 2,
              author: AUTHOR,
              checksum: builder.fsm.nextChecksum,
              create: { path: '/b' },
            });
            const { begin } = await builder.raw(whole.subarray(0, 12));
            await rejectsWith(playToHead(emptyHints(), { lenient }), CorruptLogError, (err) => {
              assert.equal(err.kind, 'truncated-frame');
              assert.equal(err.offset, begin);
            });
          });

          it(`${mode}: a partial frame header at the head`, async () => {
            await builder.create('/a');
            const { begin } = await builder.raw(Uint8Array.of(0x66, 0x33, 0x93));
            if (lenient) {
              // Gazette reads fewer bytes than a header as "not written yet".
              const result = await playToHead(emptyHints(), { lenient });
              assert.deepEqual(await target.listFiles(result.dir), ['/a']);
            } else {
              await rejectsWith(playToHead(emptyHints(), { lenient }), CorruptLogError, (err) => {
                assert.equal(err.kind, 'truncated-frame');
                assert.equal(err.offset, begin);
              });
            }
          });

          it(`${mode}: a Write payload truncated at the head is fatal`, async () => {
            const a = await builder.create('/a');
            const { bytes } = builder.frameWrite(a, 0, '0123456789');
            await builder.raw(bytes.subarray(0, bytes.length - 5));
            await rejectsWith(playToHead(emptyHints(), { lenient }), CorruptLogError, (err) =>
              assert.equal(err.kind, 'truncated-payload'),
            );
          });

          it(`${mode}: a payload failing its CRC is never written`, async () => {
            const a = await builder.create('/a');
            await builder.write(a, 0, 'good');
            const { begin } = await builder.append([
              builder.frameWrite(a, 4, 'BAD!', { corruptPayload: true }).bytes,
            ]);
            await builder.write(a, 8, 'more');
            const spy = spyFs(target.fs);
            const dir = target.dir();
            const player = new Player({ fs: spy.fs, lenient });
            player.finishAtWriteHead();
            await rejectsWith(
              player.play({ hints: emptyHints(), dir, journals: resolverOf(journal) }),
              CorruptPayloadError,
              (err) => {
                assert.equal(err.code, 'CorruptPayload');
                assert.equal(err.offset, begin);
                assert.equal(err.fnode, a);
              },
            );
            assert.deepEqual(
              spy.writes.map((w) => new TextDecoder().decode(w.bytes)),
              ['good'],
            );
            assert.equal(await target.exists(dir), false);
          });
        }

        it('verifies large payloads in a first pass before writing them', async () => {
          const a = await builder.create('/a');
          const big = 'abcdefghij'.repeat(50);
          await builder.write(a, 0, big);
          const options = { maxBufferedPayload: 64, readSize: 37 };
          const ok = await playToHead(emptyHints(), options);
          assert.equal(await target.readText(`${ok.dir}/a`), big);
          assert.equal(ok.stats.bytesRead, (await journal.head()) + big.length);

          await builder.write(a, 0, big.toUpperCase(), { corruptPayload: true });
          const spy = spyFs(target.fs);
          await rejectsWith(
            playToHead(emptyHints(), { ...options, fs: spy.fs }),
            CorruptPayloadError,
          );
          const written = spy.writes.map((w) => new TextDecoder().decode(w.bytes)).join('');
          assert.equal(written, big); // only the first, valid write
        });

        it('does not verify payloads without a recorded CRC (Gazette logs)', async () => {
          const a = await builder.create('/a');
          await builder.write(a, 0, 'gazette', { payloadCrc: 'omit', corruptPayload: true });
          const result = await playToHead(emptyHints());
          const content = await target.readFile(`${result.dir}/a`);
          assert.equal(content.length, 7);
          assert.equal(new TextDecoder().decode(content.subarray(1)), 'azette');
        });

        it('does not need the payloads of skipped writes', async () => {
          const keep = await builder.create('/keep');
          const dead = await builder.create('/dead');
          await builder.write(dead, 0, 'corrupt and irrelevant', { corruptPayload: true });
          await builder.create('/keep2');
          await builder.unlink(dead, '/dead');
          await builder.write(keep, 0, 'fine');
          const hints = builder.hints();
          const result = await playToHead(hints);
          assert.equal(await target.readText(`${result.dir}/keep`), 'fine');
          assert.equal(result.stats.opsSkipped['fnode-not-tracked'], 3);
        });
      });

      it('fails on unused hints: first beyond the write head, then at readThrough', async () => {
        await builder.garbage('irrelevant preceding content');
        const foo = await builder.create('/foo');
        await builder.write(foo, 0, 'bar');
        const baz = await builder.create('/baz');
        await builder.write(baz, 0, 'bing');
        const hints = builder.hints();
        const head = await journal.head();
        const seqNo = hints.liveNodes[1]!.segments[0]!.lastSeqNo + 1;
        hints.liveNodes.push({
          fnode: seqNo,
          segments: [
            {
              author: 5678,
              firstSeqNo: seqNo,
              lastSeqNo: seqNo + 1,
              firstOffset: head,
              firstChecksum: 0,
              lastOffset: 0,
              log: '',
            },
          ],
        });
        let dir = target.dir();
        let player = new Player({ fs: target.fs });
        player.finishAtWriteHead();
        await rejectsWith(
          player.play({ hints, dir, journals: resolverOf(journal) }),
          PossibleDataLossError,
          (err) => {
            assert.equal(err.code, 'PossibleDataLoss');
            assert.match(
              err.message,
              new RegExp(
                `^max write-head of ${LOG} is ${head}, vs hinted segment .*; possible data loss`,
              ),
            );
          },
        );
        assert.equal(await target.exists(dir), false);

        // The log grows past the fabricated segment's offset; its ops are by another author.
        await builder.unlink(foo, '/foo');
        const grown = await journal.head();
        dir = target.dir();
        player = new Player({ fs: target.fs });
        player.finishAtWriteHead();
        await rejectsWith(
          player.play({ hints, dir, journals: resolverOf(journal) }),
          PossibleDataLossError,
          (err) =>
            assert.match(
              err.message,
              new RegExp(
                `^offset ${LOG}:${grown} >= readThrough ${grown}, but FSM has unused hints; possible data loss`,
              ),
            ),
        );
        assert.equal(await target.exists(dir), false);
      });

      it('finishes at the write head, skipping junk (lenient), from early hints', async () => {
        await builder.garbage('irrelevant preceding content');
        const bar = await builder.create('/foo/bar');
        const hints = builder.hints();
        await builder.write(bar, 0, 'hello');
        const baz = await builder.create('/baz');
        await builder.write(baz, 0, 'bing');
        await builder.write(bar, 5, ' world');
        await builder.garbage('... garbage data ...');
        await builder.write(bar, 11, '!');

        const result = await playToHead(hints, { lenient: true });
        assert.equal(await target.readText(`${result.dir}/foo/bar`), 'hello world!');
        assert.equal(await target.readText(`${result.dir}/baz`), 'bing');
        assert.equal(result.stats.opsSkipped.garbage, 1);
        // Strict mode refuses the same log, at the junk after the hinted start.
        await rejectsWith(playToHead(hints), CorruptLogError, (err) =>
          assert.equal(err.kind, 'garbage'),
        );
      });

      it('tolerates an offset jump outside hinted segments, refuses one over a hinted segment', async () => {
        const early = await builder.create('/early');
        await builder.write(early, 0, 'pruned away');
        await builder.unlink(early, '/early');
        const pruneAt = await journal.head();
        const f = await builder.create('/f');
        await builder.write(f, 0, 'content');
        const hints = builder.hints();
        for (const s of hints.liveNodes[0]!.segments) s.firstOffset = 0; // a loose lower bound
        const pruned = new PrunedJournal(journal, pruneAt);
        const warnings: PlaybackWarning[] = [];
        const result = await playToHead(hints, { onWarning: (w) => warnings.push(w) }, [pruned]);
        assert.equal(await target.readText(`${result.dir}/f`), 'content');
        assert.deepEqual(
          warnings.map((w) => [w.kind, w.offset]),
          [['offset-jump', 0]],
        );

        // Hints from a Player carry exact offsets: a jump past a hinted segment's end is loss.
        const exact = result.fsm.buildHints(LOG);
        const lossy = new PrunedJournal(journal, await journal.head());
        const g = await builder.create('/g');
        await builder.write(g, 0, 'later');
        await rejectsWith(playToHead(exact, {}, [lossy]), PossibleDataLossError, (err) =>
          assert.match(err.message, /offset jumps over hinted segment/),
        );
      });

      it('reports progress per journal read', async () => {
        const f = await builder.create('/f');
        await builder.write(f, 0, 'x'.repeat(100));
        const head = await journal.head();
        const seen: { offset: number; log: string; readThrough: number }[] = [];
        await playToHead(emptyHints(), { readSize: 50, onProgress: (p) => seen.push(p) });
        assert.ok(seen.length >= Math.ceil(head / 50));
        assert.deepEqual(seen.at(-1), { offset: head, log: LOG, readThrough: head });
        assert.ok(seen.every((p, i) => i === 0 || p.offset > seen[i - 1]!.offset));
      });
    });

    describe('control', () => {
      it('allows a single finish request, before or during play', async () => {
        const player = new Player({ fs: target.fs });
        player.finishAtWriteHead();
        assert.throws(() => player.finishAtWriteHead(), {
          code: 'InvalidArgument',
          reason: 'HandoffAlreadyRequested',
        });
        assert.throws(() => player.injectHandoff(1337), {
          code: 'InvalidArgument',
          reason: 'HandoffAlreadyRequested',
        });
        for (const bad of [0, -1, 2 ** 32, 1.5, Number.NaN]) {
          assert.throws(() => new Player().injectHandoff(bad), {
            code: 'InvalidArgument',
            reason: 'Author',
          });
        }
        await player.play({
          hints: emptyHints(),
          dir: target.dir(),
          journals: resolverOf(journal),
        });
        await rejectsWith(
          player.play({ hints: emptyHints(), dir: target.dir(), journals: resolverOf(journal) }),
          InvalidArgumentError,
          (err) => assert.equal(err.reason, 'PlayerReused'),
        );
      });

      it('refuses a root or empty target directory without touching it', async () => {
        for (const dir of ['/', '']) {
          const spy = spyFs(target.fs);
          const player = new Player({ fs: spy.fs });
          player.finishAtWriteHead();
          await rejectsWith(
            player.play({ hints: emptyHints(), dir, journals: resolverOf(journal) }),
            UnsafePathError,
          );
          assert.deepEqual(spy.removed, []);
        }
      });

      it('tails the log until asked to finish', async () => {
        const f = await builder.create('/f');
        const player = new Player({ fs: target.fs });
        const dir = target.dir();
        const playing = player.play({ hints: emptyHints(), dir, journals: resolverOf(journal) });
        await player.tailing;
        // Staged, not yet materialised.
        assert.ok(await target.exists(stagedPath(dir, f)));
        assert.equal(await target.exists(`${dir}/f`), false);
        await builder.write(f, 0, 'appended while tailing');
        player.finishAtWriteHead();
        const result = await playing;
        await player.done;
        assert.equal(await target.readText(`${result.dir}/f`), 'appended while tailing');
      });

      it('finishAtWriteHead() wakes a player waiting at the head', async () => {
        await builder.create('/f');
        const player = new Player({ fs: target.fs });
        const playing = player.play({
          hints: emptyHints(),
          dir: target.dir(),
          journals: resolverOf(journal),
        });
        await player.tailing;
        await new Promise((resolve) => setTimeout(resolve, 20)); // parked in a blocking read
        player.finishAtWriteHead();
        const result = await playing;
        assert.deepEqual(await target.listFiles(result.dir), ['/f']);
        assert.ok(result.stats.seconds > 0);
      });

      it('play then cancel: rejects with PlaybackAbortedError and removes the directory', async () => {
        const f = await builder.create('/f');
        await builder.write(f, 0, 'data');
        const abort = new AbortController();
        const player = new Player({ fs: target.fs, signal: abort.signal });
        const dir = target.dir();
        const playing = player.play({ hints: emptyHints(), dir, journals: resolverOf(journal) });
        await player.tailing;
        abort.abort(new Error('deadline'));
        await rejectsWith(playing, PlaybackAbortedError, (err) =>
          assert.equal(err.code, 'PlaybackAborted'),
        );
        await player.done;
        assert.equal(await target.exists(dir), false);
        player.finishAtWriteHead(); // late: harmless
      });

      it('cancel then play: rejects at once and leaves no directory', async () => {
        await builder.create('/f');
        const abort = new AbortController();
        abort.abort();
        const player = new Player({ fs: target.fs, signal: abort.signal });
        const dir = target.dir();
        await target.writeFile(`${dir}/stale`, 'x');
        await rejectsWith(
          player.play({ hints: emptyHints(), dir, journals: resolverOf(journal) }),
          PlaybackAbortedError,
        );
        await rejectsWith(player.tailing, PlaybackAbortedError);
        assert.equal(await target.exists(dir), false);
      });

      it('rejects `tailing` when playback fails before reaching the head', async () => {
        await builder.garbage();
        const player = new Player({ fs: target.fs });
        const playing = player.play({
          hints: emptyHints(),
          dir: target.dir(),
          journals: resolverOf(journal),
        });
        await rejectsWith(player.tailing, CorruptLogError);
        await rejectsWith(playing, CorruptLogError);
      });
    });
  });
}

/** A journal whose bytes before `from` were deleted (as pruned fragments are): reads jump. */
class PrunedJournal implements Journal {
  constructor(
    private readonly inner: Journal,
    private readonly from: number,
  ) {}
  get name(): string {
    return this.inner.name;
  }
  append: Journal['append'] = (data, options) => this.inner.append(data, options);
  head: Journal['head'] = () => this.inner.head();
  registers: Journal['registers'] = () => this.inner.registers();
  close: Journal['close'] = async () => undefined;
  read(offset: number, options: ReadOptions): Promise<ReadResult> {
    return this.inner.read(Math.max(offset, this.from), options);
  }
}

describe('LogReader', () => {
  const enc = new TextEncoder();
  let journal: MemoryJournal;
  beforeEach(() => {
    journal = new MemoryJournal(LOG);
  });
  afterEach(() => journal.close());

  const frameA = rawFrame({ seqNo: 1, author: AUTHOR, create: { path: '/a' } });
  const frameB = rawFrame({ seqNo: 2, author: AUTHOR, create: { path: '/b' } });

  it('decodes frames and garbage across any chunking, then reports the head', async () => {
    await journal.append([frameA, enc.encode('junk!junk!'), frameB, Uint8Array.of(0x66, 0x33)]);
    const head = await journal.head();
    for (const readSize of [1, 2, 7, 1024]) {
      const reader = new LogReader({ readSize });
      reader.seek(journal, 0);
      const items = [];
      for (;;) {
        const item = await reader.next(head);
        items.push(
          item.type === 'frame'
            ? { type: 'frame', offset: item.offset, size: item.frame.length }
            : item,
        );
        if (item.type === 'head') break;
      }
      const g = frameA.length;
      assert.deepEqual(
        items,
        [
          { type: 'frame', offset: 0, size: frameA.length },
          { type: 'garbage', offset: g, length: 10 },
          { type: 'frame', offset: g + 10, size: frameB.length },
          { type: 'head', offset: head - 2, pending: 2 },
        ],
        `readSize ${readSize}`,
      );
    }
  });

  it('sizes reads: none crosses a known end, and they ramp up from a seek otherwise', async () => {
    const KiB = 1024;
    await journal.append(new Uint8Array(4096 * KiB));
    const asked: number[] = [];
    const spy: Journal = {
      name: journal.name,
      append: (data, options) => journal.append(data, options),
      read: (offset, options) => {
        asked.push(options.maxBytes ?? -1);
        return journal.read(offset, options);
      },
      head: () => journal.head(),
      registers: () => journal.registers(),
      close: () => journal.close(),
    };
    const reader = new LogReader({ readSize: 1024 * KiB });
    const sink = (): void => undefined;
    // A hinted segment ending 1.5 MiB in: full reads up to it, none past it, then a ramp.
    reader.seek(spy, 0, 1536 * KiB);
    assert.equal(await reader.readRaw(2048 * KiB, Infinity, sink), undefined);
    assert.deepEqual(
      asked.map((n) => n / KiB),
      [1024, 512, 64, 128, 256, 512],
    );
    // Unknown end: the first read after a seek is small.
    asked.length = 0;
    reader.seek(spy, 100);
    assert.equal(await reader.readRaw(10, Infinity, sink), undefined);
    assert.deepEqual(asked, [64 * KiB]);
  });

  it('waits below `waitBelow`, and can be interrupted without consuming anything', async () => {
    await journal.append(frameA);
    const reader = new LogReader();
    reader.seek(journal, frameA.length);
    assert.deepEqual(await reader.next(frameA.length), {
      type: 'head',
      offset: frameA.length,
      pending: 0,
    });
    const wake = new AbortController();
    const waiting = reader.next(Number.POSITIVE_INFINITY, wake.signal);
    await new Promise((resolve) => setTimeout(resolve, 10));
    wake.abort();
    assert.deepEqual(await waiting, { type: 'interrupted' });
    const next = reader.next(Number.POSITIVE_INFINITY);
    await journal.append(frameB);
    const item = await next;
    assert.equal(item.type, 'frame');
    assert.equal(item.type === 'frame' && item.offset, frameA.length);
    assert.equal(reader.offset, frameA.length + frameB.length);
  });

  it('streams raw payload bytes and reports a shortfall at the head', async () => {
    await journal.append([frameA, enc.encode('0123456789')]);
    const reader = new LogReader({ readSize: 3 });
    reader.seek(journal, 0);
    await reader.next(0);
    const pieces: string[] = [];
    assert.equal(
      await reader.readRaw(6, 0, (b) => void pieces.push(new TextDecoder().decode(b))),
      undefined,
    );
    assert.equal(pieces.join(''), '012345');
    assert.deepEqual(await reader.readRaw(10, 0, () => undefined), {
      type: 'head',
      offset: frameA.length + 10,
    });
  });

  it('refuses to buffer an oversized frame', async () => {
    const header = Uint8Array.of(0x66, 0x33, 0x93, 0x36, 0, 0, 0, 0x10); // 256 MiB declared
    await journal.append([header, new Uint8Array(200)]);
    const reader = new LogReader({ readSize: 10, maxFrameBytes: 100 });
    reader.seek(journal, 0);
    const item = await reader.next(Number.POSITIVE_INFINITY);
    assert.equal(item.type, 'oversized');
  });
});
