import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors.js';
import { constants } from 'node:fs';
import * as nodeFs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Volume } from 'memfs';
import { FSM } from '../../src/fsm.js';
import { MemoryJournal } from '../../src/journal/memory.js';
import { RecordedFs, type BaseFs, type BaseStats } from '../../src/recorded-fs.js';
import { Recorder } from '../../src/recorder.js';
import {
  NotSupportedError,
  PropertyNotUtf8Error,
  UnknownPathError,
  UntrackedFileError,
} from '../../src/recorder-errors.js';
import { crc32c } from '../../src/crc32c.js';
import { readAllOps, replayOps } from '../helpers/raw-log.js';

const LOG = 'tests/recorded-fs/log';
const AUTHOR = 1234;

/** The base file system, plus the plain writes a test needs to set up untracked files. */
interface Env {
  base: BaseFs;
  dir: string;
  writeUntracked(path: string, data: string): Promise<void>;
  cleanup(): Promise<void>;
}

const KINDS: { name: string; make: () => Promise<Env> }[] = [
  {
    name: 'node:fs',
    make: async () => {
      const root = await nodeFs.mkdtemp(join(tmpdir(), 'recorded-fs-'));
      const dir = join(root, 'data');
      await nodeFs.mkdir(dir);
      const base: BaseFs = nodeFs; // Compile-time check: node:fs/promises fits BaseFs.
      return {
        base,
        dir,
        writeUntracked: (path, data) => nodeFs.writeFile(path, data),
        cleanup: () => nodeFs.rm(root, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'memfs',
    make: async () => {
      const vol = new Volume();
      await vol.promises.mkdir('/srv/data', { recursive: true });
      const base: BaseFs = vol.promises; // Compile-time check: memfs fits BaseFs.
      return {
        base,
        dir: '/srv/data',
        writeUntracked: (path, data) => vol.promises.writeFile(path, data),
        cleanup: async () => undefined,
      };
    },
  },
];

interface DiskFile {
  bytes: Buffer;
  ino: number | bigint;
}

/** Every regular file under `dir`, by recorded path ('/rel/path'). */
async function diskFiles(base: BaseFs, dir: string, rel = ''): Promise<Map<string, DiskFile>> {
  const out = new Map<string, DiskFile>();
  for (const name of (await base.readdir(dir + rel)).map(String).sort()) {
    const path = `${rel}/${name}`;
    const stats = (await base.lstat(dir + path)) as BaseStats & { ino: number | bigint };
    if (stats.isDirectory()) {
      for (const [p, f] of await diskFiles(base, dir, path)) out.set(p, f);
    } else {
      out.set(path, { bytes: Buffer.from(await base.readFile(dir + path)), ino: stats.ino });
    }
  }
  return out;
}

/** Files and directories under `dir`, rendered for before/after comparisons. */
async function tree(base: BaseFs, dir: string): Promise<string[]> {
  const walk = async (rel: string): Promise<string[]> => {
    const lines: string[] = [];
    for (const name of (await base.readdir(dir + rel)).map(String).sort()) {
      const path = `${rel}/${name}`;
      const stats = await base.lstat(dir + path);
      if (stats.isDirectory()) {
        lines.push(`${path}/`, ...(await walk(path)));
      } else {
        lines.push(`${path} ${Buffer.from(await base.readFile(dir + path)).toString('hex')}`);
      }
    }
    return lines;
  };
  return walk('');
}

for (const kind of KINDS) {
  describe(`RecordedFs over ${kind.name}`, () => {
    let env: Env;
    let journal: MemoryJournal;
    let rec: Recorder;
    let fs: RecordedFs;
    const p = (rel: string): string => `${env.dir}/${rel}`;

    /** The log's ops, once everything recorded so far is durable. */
    async function logOps(): Promise<Awaited<ReturnType<typeof readAllOps>>> {
      await rec.barrier();
      return readAllOps(journal);
    }

    async function start(journalOptions: { commitDelayMs?: number } = {}): Promise<void> {
      journal = new MemoryJournal(LOG, journalOptions);
      const fsm = new FSM({ log: LOG, liveNodes: [], properties: [] });
      rec = await Recorder.open({ journal, fsm, author: AUTHOR, dir: env.dir });
      fs = new RecordedFs(rec, env.base);
    }

    beforeEach(async () => {
      env = await kind.make();
      await start();
    });
    afterEach(async () => {
      await env.cleanup();
    });

    /**
     * The strong check: decode the log, verify its chain and payload CRCs, replay it into a
     * model, and compare with the real directory (content, and hard-link identity).
     */
    async function assertRecordingMatchesDisk(ignore: string[] = []): Promise<void> {
      await rec.barrier();
      const ops = await logOps();
      const reader = new FSM({ log: LOG, liveNodes: [], properties: [] });
      for (const e of ops) {
        reader.apply(e.op, e.opBytes);
        if (e.op.write && e.op.write.length > 0) {
          assert.equal(e.op.write.payloadCrc32c, crc32c(e.payload!));
        }
      }
      const model = replayOps(ops);
      const disk = await diskFiles(env.base, env.dir);
      for (const path of ignore) disk.delete(path);

      const expected = new Map<string, string>();
      for (const [path, fnode] of model.links) {
        expected.set(path, Buffer.from(model.contents.get(fnode)!).toString('hex'));
      }
      for (const [path, content] of model.properties) {
        expected.set(path, Buffer.from(content).toString('hex'));
      }
      const actual = new Map([...disk].map(([path, f]) => [path, f.bytes.toString('hex')]));
      assert.deepEqual(actual, expected);

      // Two paths are links of one recorded file exactly when they share an inode.
      const linked = [...model.links];
      for (const [pa, fa] of linked) {
        for (const [pb, fb] of linked) {
          assert.equal(disk.get(pa)!.ino === disk.get(pb)!.ino, fa === fb, `${pa} vs ${pb}`);
        }
      }
    }

    /** Runs `act`, expecting `check` of its error, with the disk and the log left untouched. */
    async function assertRefusedUntouched(
      act: () => Promise<unknown>,
      check: (err: unknown) => boolean,
    ): Promise<void> {
      await rec.barrier();
      const before = await tree(env.base, env.dir);
      const head = await journal.head();
      await assert.rejects(act(), check);
      await rec.barrier();
      assert.deepEqual(await tree(env.base, env.dir), before);
      assert.equal(await journal.head(), head);
      assert.equal(rec.failed, undefined);
    }

    const notSupported = (err: unknown): boolean =>
      err instanceof NotSupportedError && err.code === 'NotSupported';

    it('records open, write, positional write, string write and writev exactly', async () => {
      const h = await fs.open(p('a'), 'w+');
      assert.deepEqual(await h.write(Buffer.from('hello world')), {
        bytesWritten: 11,
        buffer: Buffer.from('hello world'),
      });
      await h.write(Buffer.from('HE'), 0, 2, 0); // Positional: the handle position stays.
      assert.equal(h.position, 11);
      await h.write('!!'); // At the position.
      await h.writev([Buffer.from('ab'), Buffer.from('cd')], 20); // Sparse.
      await h.write(Buffer.from('xyz'), { offset: 1, length: 2, position: 30 });
      await h.write(Buffer.from('++'), 0, 2, null);
      assert.equal(h.position, 15);
      const back = Buffer.alloc(5);
      assert.equal((await h.read(back, 0, 5, 0)).bytesRead, 5);
      assert.equal(back.toString(), 'HEllo');
      await h.close();

      const content = Buffer.from(await fs.readFile(p('a')));
      assert.equal(content.subarray(0, 15).toString(), 'HEllo world!!++');
      assert.equal(content.subarray(20).toString('latin1'), 'abcd\0\0\0\0\0\0yz');
      await assertRecordingMatchesDisk();
      const ops = await readAllOps(journal);
      assert.deepEqual(
        ops.filter((e) => e.op.write).map((e) => [e.op.write!.offset, e.op.write!.length]),
        [
          [0, 11],
          [0, 2],
          [11, 2],
          [20, 4],
          [30, 2],
          [13, 2],
        ],
      );
    });

    it("appends ('a', appendFile) at the end of the file, whatever position is passed", async () => {
      await fs.writeFile(p('log'), 'one,');
      await fs.appendFile(p('log'), 'two,');
      const h = await fs.open(p('log'), 'a');
      await h.write(Buffer.from('three,'), 0, 6, 0); // O_APPEND ignores the position.
      await Promise.all([h.write('x'), h.write('y')]); // Concurrent appends, each recorded at its place.
      await h.close();
      // A RecordedFs that never saw the file learns its size from the file itself.
      await new RecordedFs(rec, env.base).appendFile(p('log'), 'four');
      assert.equal(await fs.readFile(p('log'), 'utf8'), 'one,two,three,xyfour');
      const ops = await logOps();
      assert.deepEqual(
        ops.filter((e) => e.op.write).map((e) => e.op.write!.offset),
        [0, 4, 8, 14, 15, 16],
      );
      await assertRecordingMatchesDisk();
    });

    it("creates a missing file on 'a' (and records the create once)", async () => {
      await fs.mkdir(p('sub/dir'), { recursive: true });
      await fs.appendFile(p('sub/dir/new'), 'x');
      await fs.appendFile(p('sub/dir/new'), 'y');
      const ops = await logOps();
      assert.equal(ops.filter((e) => e.op.create).length, 1);
      assert.equal(await fs.readFile(p('sub/dir/new'), 'utf8'), 'xy');
      await assertRecordingMatchesDisk();
    });

    it('writeFile over a file records a new file; handles opened before follow it', async () => {
      await fs.writeFile(p('f'), 'old content');
      const h = await fs.open(p('f'), 'r+');
      const before = rec.fnodeAt(p('f'));
      await fs.writeFile(p('f'), 'new');
      assert.notEqual(rec.fnodeAt(p('f')), before);
      assert.equal(h.fnode, rec.fnodeAt(p('f')));
      await h.write('XY', 5); // Lands in the (same, truncated) real file.
      await h.close();
      assert.equal(await fs.readFile(p('f'), 'latin1'), 'new\0\0XY');
      await assertRecordingMatchesDisk();
    });

    it('renames onto new and existing paths; open handles keep recording under the new name', async () => {
      await fs.mkdir(p('d'));
      await fs.writeFile(p('a'), 'A');
      await fs.writeFile(p('b'), 'B');
      const h = await fs.open(p('a'), 'r+');
      await fs.rename(p('a'), p('d/moved'));
      await h.write('a2', 1);
      await fs.rename(p('d/moved'), p('b')); // Replaces b.
      await h.write('!', 3);
      await h.close();
      assert.deepEqual(await fs.readdir(env.dir), ['b', 'd']);
      assert.equal(await fs.readFile(p('b'), 'utf8'), 'Aa2!');
      await fs.rename(p('b'), p('b')); // Onto itself: nothing happens, nothing is recorded.
      await assertRecordingMatchesDisk();
    });

    it('renaming onto IDENTITY records a property (and replaces it on the next rename)', async () => {
      await fs.writeFile(p('IDENTITY.tmp'), 'db-id-1\n');
      await fs.rename(p('IDENTITY.tmp'), p('IDENTITY'));
      await fs.writeFile(p('IDENTITY.tmp'), 'db-id-2\n');
      await fs.rename(p('IDENTITY.tmp'), p('IDENTITY'));
      assert.deepEqual(rec.fsm.properties, new Map([['/IDENTITY', 'db-id-2\n']]));
      const ops = await logOps();
      assert.deepEqual(
        ops.filter((e) => e.op.property).map((e) => e.op.property),
        [
          { path: '/IDENTITY', content: 'db-id-1\n' },
          { path: '/IDENTITY', content: 'db-id-2\n' },
        ],
      );
      await assertRecordingMatchesDisk();
    });

    it('refuses to rename a file that is not UTF-8 onto IDENTITY, before renaming', async () => {
      await fs.writeFile(p('id.tmp'), Buffer.from([0x61, 0xff, 0xfe]));
      await assertRefusedUntouched(
        () => fs.rename(p('id.tmp'), p('IDENTITY')),
        (e) => e instanceof PropertyNotUtf8Error,
      );
    });

    it('records hard links, unlink and rm', async () => {
      await fs.writeFile(p('a'), 'shared');
      await fs.link(p('a'), p('b'));
      const h = await fs.open(p('b'), 'r+');
      await h.write('S');
      await h.close();
      assert.equal(await fs.readFile(p('a'), 'utf8'), 'Shared');
      await assertRecordingMatchesDisk();
      await fs.unlink(p('a'));
      await fs.writeFile(p('c'), 'c');
      await fs.rm(p('c'));
      await fs.rm(p('missing'), { force: true });
      await assert.rejects(fs.rm(p('missing')), { code: 'ENOENT' });
      assert.deepEqual(await fs.readdir(env.dir), ['b']);
      await assertRecordingMatchesDisk();
    });

    it('writes to a file with no name left are not recorded (no playback can reach them)', async () => {
      const h = await fs.open(p('tmp'), 'w+');
      await h.write('visible');
      await fs.unlink(p('tmp'));
      await rec.barrier();
      const head = await journal.head();
      await h.write('orphan bytes');
      await h.sync();
      assert.equal(await journal.head(), head);
      const back = Buffer.alloc(19);
      await h.read(back, 0, 19, 0);
      assert.equal(back.toString(), 'visibleorphan bytes'); // The real file still took them.
      await h.close();
      assert.equal(rec.failed, undefined);
      await assertRecordingMatchesDisk();
    });

    it('mkdir and rmdir are recorded (extension ops), so empty directories are recovered', async () => {
      await fs.mkdir(p('x/y/z'), { recursive: true });
      await fs.rmdir(p('x/y/z'));
      const ops = (await logOps()).map((o) => o.op);
      assert.deepEqual(
        ops.map((o) =>
          o.mkdir ? `mkdir ${o.mkdir.path}` : o.rmdir ? `rmdir ${o.rmdir.path}` : '?',
        ),
        ['mkdir /x', 'mkdir /x/y', 'mkdir /x/y/z', 'rmdir /x/y/z'],
      );
      assert.deepEqual([...rec.fsm.directories.keys()].sort(), ['/x', '/x/y']);
      assert.deepEqual(await fs.readdir(p('x')), ['y']);
    });

    it('copyFile records a new file with the copied bytes', async () => {
      await fs.writeFile(p('src'), 'copy me');
      await fs.copyFile(p('src'), p('dst'));
      await assert.rejects(fs.copyFile(p('src'), p('dst'), constants.COPYFILE_EXCL), {
        code: 'EEXIST',
      });
      assert.equal(await fs.readFile(p('dst'), 'utf8'), 'copy me');
      await assertRecordingMatchesDisk();
    });

    it('truncate to 0 (path or handle) is recorded as a new, empty file', async () => {
      await fs.writeFile(p('t'), 'some bytes');
      const h = await fs.open(p('t'), 'r+');
      await fs.truncate(p('t'));
      await h.write('after');
      await assertRecordingMatchesDisk();
      await h.truncate(0);
      await h.write('z', 2);
      await h.close();
      assert.equal(await fs.readFile(p('t'), 'latin1'), '\0\0z');
      await assertRecordingMatchesDisk();
    });

    describe('NotSupported: refused before the base file system is touched', () => {
      const cases: { name: string; setup?: () => Promise<unknown>; act: () => Promise<unknown> }[] =
        [
          { name: 'symlink', act: () => fs.symlink() },
          { name: 'chown', act: () => fs.chown() },
          { name: 'utimes', act: () => fs.utimes() },
          {
            name: 'chmod of IDENTITY',
            setup: async () => {
              await fs.writeFile(p('i'), 'id');
              await fs.rename(p('i'), p('IDENTITY'));
            },
            act: () => fs.chmod(p('IDENTITY'), 0o600),
          },
          { name: 'opening IDENTITY for writing', act: () => fs.writeFile(p('IDENTITY'), 'x') },
          {
            name: 'unlinking IDENTITY',
            setup: async () => {
              await fs.writeFile(p('i'), 'id');
              await fs.rename(p('i'), p('IDENTITY'));
            },
            act: () => fs.unlink(p('IDENTITY')),
          },
          {
            name: 'renaming between two links of one file',
            setup: () => fs.link(p('f'), p('g')),
            act: () => fs.rename(p('f'), p('g')),
          },
          {
            name: 'copyFile with COPYFILE_FICLONE_FORCE',
            act: () => fs.copyFile(p('f'), p('g'), constants.COPYFILE_FICLONE_FORCE),
          },
          { name: 'an unknown open flag string', act: () => fs.open(p('f'), 'q') },
        ];
      for (const c of cases) {
        it(c.name, async () => {
          await fs.writeFile(p('f'), 'file content');
          await c.setup?.();
          await assertRefusedUntouched(c.act, notSupported);
          await assertRecordingMatchesDisk();
        });
      }
    });

    it('a failed real call records nothing', async () => {
      await fs.writeFile(p('exists'), 'x');
      const failing: [() => Promise<unknown>, string][] = [
        [() => fs.rename(p('missing'), p('other')), 'ENOENT'],
        [() => fs.open(p('exists'), 'wx'), 'EEXIST'],
        [() => fs.link(p('exists'), p('exists')), 'EEXIST'],
        [() => fs.unlink(p('missing')), 'ENOENT'],
        [() => fs.open(p('missing'), 'r+'), 'ENOENT'],
        [() => fs.writeFile(p('no/such/dir/file'), 'x'), 'ENOENT'],
      ];
      for (const [act, code] of failing) {
        await assertRefusedUntouched(act, (e) => (e as { code?: string }).code === code);
      }
      await assertRecordingMatchesDisk();
    });

    it('sync and datasync resolve only once the recorded writes are durable in the log', async () => {
      await start({ commitDelayMs: 30 });
      const h = await fs.open(p('s'), 'w');
      await h.write('durable?');
      await h.sync();
      const ops = await readAllOps(journal); // No barrier here: sync must have waited.
      assert.equal(ops.length, 2, 'the create and the write are durable once sync resolves');
      assert.equal(Buffer.from(ops.at(-1)!.payload!).toString(), 'durable?');
      await h.write('!');
      await h.datasync();
      assert.equal(Buffer.from((await readAllOps(journal)).at(-1)!.payload!).toString(), '!');
      await h.close();
    });

    it('refuses to extend files it never recorded, without failing the recorder', async () => {
      await env.writeUntracked(p('foreign'), 'unrecorded bytes');
      for (const act of [
        () => fs.open(p('foreign'), 'a'),
        () => fs.open(p('foreign'), 'r+'),
        () => fs.rename(p('foreign'), p('other')),
        () => fs.link(p('foreign'), p('other')),
      ]) {
        await assertRefusedUntouched(act, (e) => e instanceof UntrackedFileError);
      }
      // Replacing it is fine: the new content is recorded in full.
      await fs.writeFile(p('foreign'), 'recorded');
      await env.writeUntracked(p('empty'), '');
      await fs.appendFile(p('empty'), 'grown'); // An empty file holds nothing unrecorded.
      await fs.unlink(p('empty'));
      await assertRecordingMatchesDisk();
    });

    it('refuses paths outside the directory before touching them', async () => {
      for (const path of [`${env.dir}/../escape`, `${env.dir}-sibling/x`, 'relative/path']) {
        await assertRefusedUntouched(
          () => fs.writeFile(path, 'x'),
          (e) => e instanceof InvalidArgumentError && e.reason === 'PathOutsideDir',
        );
      }
    });

    it('after the recorder failed, mutations throw its error before touching anything', async () => {
      await fs.writeFile(p('a'), 'a');
      assert.throws(() => rec.recordRemove(p('never-created')), UnknownPathError);
      const failure = rec.failed;
      await rec.barrier().catch(() => undefined);
      const before = await tree(env.base, env.dir);
      for (const act of [
        () => fs.writeFile(p('b'), 'b'),
        () => fs.rename(p('a'), p('c')),
        () => fs.unlink(p('a')),
      ]) {
        await assert.rejects(act(), (e) => e === failure);
      }
      assert.deepEqual(await tree(env.base, env.dir), before);
    });

    it('a seeded random workload replays to exactly the directory', async () => {
      let seed = 0x2545f491;
      const random = (n: number): number => {
        // xorshift32: deterministic, so a failure reproduces.
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        return (seed >>> 0) % n;
      };
      const names = ['a', 'b', 'c', 'sub/d'];
      await fs.mkdir(p('sub'));
      const handles = new Map<string, Awaited<ReturnType<RecordedFs['open']>>>();
      const exists = async (n: string): Promise<boolean> =>
        fs.stat(p(n)).then(
          () => true,
          () => false,
        );
      for (let step = 0; step < 150; step++) {
        const name = names[random(names.length)];
        const other = names[random(names.length)];
        const data = Buffer.alloc(1 + random(40), 97 + random(26));
        const single = (rec.linkCount(rec.fnodeAt(p(name)) ?? -1) ?? 0) <= 1;
        switch (random(8)) {
          case 0:
            if (single) await fs.writeFile(p(name), data);
            break;
          case 1:
            await fs.appendFile(p(name), data);
            break;
          case 2:
            if (await exists(name)) {
              const h = handles.get(name) ?? (await fs.open(p(name), 'r+'));
              handles.set(name, h);
              await h.write(data, 0, data.length, random(60));
            }
            break;
          case 3:
            if (
              (await exists(name)) &&
              name !== other &&
              rec.fnodeAt(p(name)) !== rec.fnodeAt(p(other))
            ) {
              await fs.rename(p(name), p(other));
            }
            break;
          case 4:
            if ((await exists(name)) && !(await exists(other))) await fs.link(p(name), p(other));
            break;
          case 5:
            if (await exists(name)) await fs.unlink(p(name));
            break;
          case 6: {
            const h = handles.get(name);
            handles.delete(name);
            await h?.close();
            break;
          }
          default:
            if (single && (await exists(name))) await fs.truncate(p(name));
        }
      }
      for (const h of handles.values()) await h.close();
      assert.equal(rec.failed, undefined);
      await assertRecordingMatchesDisk();
    });
  });
}
