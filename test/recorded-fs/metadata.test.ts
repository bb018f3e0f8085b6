/**
 * Issue 9, item 2: modes, directories, truncation to any length, rm -r and directory renames
 * are recorded (extension ops) and recovered, in full and in hinted playback, also after
 * pruning. Regression tests for the failures the issue lists: a 0600 secret came back 0644,
 * executables lost +x, empty directories vanished, truncate(n > 0), rm -r and renaming a
 * non-empty directory were refused.
 */
import assert from 'node:assert/strict';
import { promises as nodeFs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FSM, newRandomAuthor } from '../../src/fsm.js';
import { FileJournal } from '../../src/journal/file.js';
import { MemoryJournal } from '../../src/journal/memory.js';
import { Player } from '../../src/player.js';
import { RecordedFs } from '../../src/recorded-fs.js';
import { NotSupportedError } from '../../src/recorder-errors.js';
import { Recorder } from '../../src/recorder.js';
import { opKind } from '../../src/wire/types.js';
import { readAllOps } from '../helpers/raw-log.js';
import { KINDS, recordedEnv, snapshot, type RecordedEnv } from '../helpers/recorded-tree.js';

for (const kind of KINDS) {
  describe(`RecordedFs over ${kind}: modes, directories, truncation, rm -r, directory rename`, () => {
    let env: RecordedEnv;
    const p = (rel: string): string => `${env.dir}/${rel}`;
    const modeOf = async (dir: string, rel: string): Promise<number> =>
      Number((await env.base.lstat(`${dir}/${rel}`)).mode) & 0o7777;
    const kinds = async (): Promise<string[]> => {
      await env.recorder.barrier();
      return (await readAllOps(env.journal)).map((e) => opKind(e.op));
    };

    beforeEach(async () => {
      env = await recordedEnv(kind);
    });
    afterEach(async () => {
      await env.cleanup();
    });

    it('a secret written with mode 0o600 is recovered 0600 (it was recovered 0644)', async () => {
      await env.rfs.writeFile(p('secret'), 'password', { mode: 0o600 });
      assert.equal(await modeOf(env.dir, 'secret'), 0o600);
      assert.deepEqual(await kinds(), ['create', 'chmod', 'write']);
      for (const full of [false, true]) {
        const out = await env.recover({ full });
        assert.equal(await modeOf(out, 'secret'), 0o600);
        assert.equal(String(await env.base.readFile(`${out}/secret`)), 'password');
      }
      await env.assertRecoversLive();
    });

    it('executables keep +x: chmod, open with a mode, rewrite with w, copyFile', async () => {
      await env.rfs.writeFile(p('tool'), '#!/bin/sh\n');
      await env.rfs.chmod(p('tool'), 0o755);
      const h = await env.rfs.open(p('run'), 'w', 0o750);
      await h.write('#!/bin/sh\nexit 0\n');
      await h.chmod(0o751);
      await h.close();
      // O_TRUNC keeps the file's mode: the new identity carries it over.
      await env.rfs.writeFile(p('tool'), '#!/bin/sh\necho v2\n');
      await env.rfs.copyFile(p('tool'), p('tool-copy'));
      assert.equal(await modeOf(env.dir, 'tool'), 0o755);
      assert.equal(await modeOf(env.dir, 'tool-copy'), 0o755);
      assert.equal(await modeOf(env.dir, 'run'), 0o751);
      await env.assertRecoversLive();
    });

    it('a read-only file (0o400) is recovered with its bytes and mode', async () => {
      await env.rfs.writeFile(p('ro'), 'frozen');
      await env.rfs.chmod(p('ro'), 0o400);
      await env.assertRecoversLive();
    });

    it('empty directories are recovered, with their modes (mkdir, -p, mode, chmod, mkdtemp)', async () => {
      await env.rfs.mkdir(p('empty'));
      await env.rfs.mkdir(p('deep/er/est'), { recursive: true });
      await env.rfs.mkdir(p('private'), { mode: 0o700 });
      await env.rfs.mkdir(p('shared'));
      await env.rfs.chmod(p('shared'), 0o1777);
      const temp = await env.rfs.mkdtemp(p('tmp-'));
      await env.rfs.mkdir(p('gone'));
      await env.rfs.rmdir(p('gone'));
      await env.rfs.writeFile(p('deep/file'), 'x');
      assert.equal(await modeOf(env.dir, 'private'), 0o700);
      const recovered = await snapshot(env.base, await env.recover());
      assert.ok(recovered.dirs.includes('/empty'));
      assert.ok(recovered.dirs.includes('/deep/er/est'));
      assert.ok(recovered.dirs.includes(`/${path.basename(temp)}`));
      assert.ok(!recovered.dirs.includes('/gone'));
      assert.equal(recovered.dirModes.get('/private'), 0o700);
      assert.equal(recovered.dirModes.get('/shared'), 0o1777);
      await env.assertRecoversLive();
    });

    it('truncate(n) grows and shrinks, by path and through a handle, hard links included', async () => {
      await env.rfs.writeFile(p('f'), '0123456789');
      await env.rfs.truncate(p('f'), 4); // shrink
      await env.rfs.truncate(p('f'), 7); // grow: zeros
      const h = await env.rfs.open(p('f'), 'r+');
      await h.truncate(2);
      await h.write('ab', 5);
      await h.truncate(9);
      await h.close();
      assert.equal((await env.base.readFile(p('f'))).toString(), '01\0\0\0ab\0\0');
      await env.rfs.link(p('f'), p('g'));
      await env.rfs.truncate(p('g'), 3); // both links: one file
      await env.rfs.writeFile(p('g'), 'via g'); // a truncating open of a hard-linked file
      assert.equal((await env.base.readFile(p('f'))).toString(), 'via g');
      assert.ok((await kinds()).includes('truncate'));
      await env.assertRecoversLive();
    });

    it('rm -r of a directory holding files and directories is one append', async () => {
      await env.rfs.mkdir(p('d/e/f'), { recursive: true });
      await env.rfs.writeFile(p('d/x'), 'x');
      await env.rfs.writeFile(p('d/e/y'), 'y');
      await env.rfs.link(p('d/e/y'), p('kept'));
      await env.rfs.writeFile(p('other'), 'o');
      await env.recorder.barrier();
      const head = await env.journal.head();
      await env.rfs.rm(p('d'), { recursive: true });
      await env.recorder.barrier();
      const ops = (await readAllOps(env.journal, head)).map((e) => opKind(e.op));
      assert.deepEqual(ops, ['unlink', 'unlink', 'rmdir', 'rmdir', 'rmdir']);
      assert.equal(String(await env.base.readFile(p('kept'))), 'y');
      await env.assertRecoversLive();
    });

    it('renaming a non-empty directory moves everything under it (it was refused)', async () => {
      await env.rfs.mkdir(p('src/sub/empty'), { recursive: true });
      await env.rfs.chmod(p('src/sub'), 0o750);
      await env.rfs.writeFile(p('src/a'), 'a', { mode: 0o600 });
      await env.rfs.writeFile(p('src/sub/b'), 'b');
      await env.rfs.link(p('src/sub/b'), p('outside'));
      await env.rfs.mkdir(p('dst'));
      await env.rfs.rename(p('src'), p('dst')); // onto an empty directory
      await env.rfs.writeFile(p('dst/sub/b'), 'b2'); // the moved file is still recorded
      await env.rfs.appendFile(p('dst/a'), '+');
      assert.deepEqual((await env.rfs.readdir(env.dir)).sort(), ['dst', 'outside']);
      await env.assertRecoversLive();
    });

    it('still refuses what a log cannot express, before touching anything', async () => {
      await env.rfs.writeFile(p('f'), 'x');
      await assert.rejects(env.rfs.chown(p('f'), 0, 0), NotSupportedError);
      await assert.rejects(env.rfs.utimes(p('f'), 1, 1), NotSupportedError);
      await assert.rejects(env.rfs.symlink(p('f'), p('l')), NotSupportedError);
      // No UTF-8 form: the file system would name it U+FFFD, the log the escaped byte.
      await assert.rejects(env.rfs.writeFile(p('lone-\udc80'), 'x'), NotSupportedError);
      // A property is recorded by content only: its mode would be lost (found by the
      // differential test: a 0600 file renamed onto IDENTITY came back 0644).
      await env.rfs.writeFile(p('id.tmp'), 'id', { mode: 0o600 });
      await assert.rejects(env.rfs.rename(p('id.tmp'), p('IDENTITY')), NotSupportedError);
      assert.deepEqual((await env.rfs.readdir(env.dir)).sort(), ['f', 'id.tmp']);
      // Nor can a directory appear at a property path (it was recorded, failing the recorder).
      await assert.rejects(env.rfs.mkdir(p('IDENTITY')), NotSupportedError);
      assert.equal(env.recorder.failed, undefined);
      await env.assertRecoversLive();
    });
  });
}

describe('RecordedFs: directories holding a property path', () => {
  it('refuses rm -r and rename of them (a property is a sink), recording nothing', async () => {
    const root = await nodeFs.mkdtemp(path.join(tmpdir(), 'metadata-property-'));
    try {
      const dir = path.join(root, 'data');
      await nodeFs.mkdir(dir);
      const journal = new MemoryJournal('tests/metadata/log');
      const fsm = new FSM({ log: journal.name, liveNodes: [], properties: [] });
      const recorder = await Recorder.open({
        journal,
        fsm,
        author: newRandomAuthor(),
        dir,
        propertyPaths: ['/db/IDENTITY'],
      });
      const rfs = new RecordedFs(recorder, nodeFs);
      await rfs.mkdir(`${dir}/db`);
      await rfs.writeFile(`${dir}/db/tmp`, 'id');
      await rfs.rename(`${dir}/db/tmp`, `${dir}/db/IDENTITY`);
      await recorder.barrier();
      const head = await journal.head();
      await assert.rejects(rfs.rm(`${dir}/db`, { recursive: true }), NotSupportedError);
      await assert.rejects(rfs.rename(`${dir}/db`, `${dir}/db2`), NotSupportedError);
      await recorder.barrier();
      assert.equal(await journal.head(), head);
      assert.equal(String(await nodeFs.readFile(`${dir}/db/IDENTITY`)), 'id');
      // The Recorder itself refuses too (a caller bypassing RecordedFs).
      assert.throws(() => recorder.recordRemoveTree(`${dir}/db`), {
        code: 'InvalidArgument',
        reason: 'PropertyPathMisuse',
      });
    } finally {
      await nodeFs.rm(root, { recursive: true, force: true });
    }
  });
});

describe('hinted playback after pruning recovers empty directories and modes', () => {
  it('directories come from the hints, modes from the files’ own segments', async () => {
    const root = await nodeFs.mkdtemp(path.join(tmpdir(), 'metadata-prune-'));
    try {
      const dir = path.join(root, 'data');
      await nodeFs.mkdir(dir);
      const journal = await FileJournal.create(path.join(root, 'log'), 'tests/metadata/prune', {
        fragmentBytes: 4096,
      });
      const fsm = new FSM({ log: journal.name, liveNodes: [], properties: [] });
      const recorder = await Recorder.open({ journal, fsm, author: newRandomAuthor(), dir });
      const rfs = new RecordedFs(recorder, nodeFs);
      // Early history: empty directories, a directory mode, a file with a mode.
      await rfs.mkdir(`${dir}/empty/nested`, { recursive: true });
      await rfs.mkdir(`${dir}/private`, { mode: 0o700 });
      await rfs.writeFile(`${dir}/private/key`, 'k', { mode: 0o600 });
      await rfs.chmod(`${dir}/private/key`, 0o400);
      await rfs.writeFile(`${dir}/tool`, 'x');
      await rfs.chmod(`${dir}/tool`, 0o755);
      await recorder.barrier();
      // Churn: many fragments of dead files later, the early ops lie in prunable fragments...
      for (let i = 0; i < 40; i++) {
        await rfs.writeFile(`${dir}/churn`, Buffer.alloc(1000, i));
        await recorder.barrier();
      }
      await rfs.rm(`${dir}/churn`);
      // ...once the live files are re-recorded at the head (their modes go with them).
      await rfs.rerecordPinning({ belowOffset: await journal.head() });
      const hints = await recorder.buildHints();
      assert.deepEqual(
        hints.directories?.map((d) => d.path),
        ['/empty', '/empty/nested', '/private'],
      );
      const pruned = await journal.prune([hints]);
      assert.ok(pruned.deleted.length > 0, 'early fragments were pruned');

      const out = path.join(root, 'recovered');
      const player = new Player();
      player.finishAtWriteHead();
      await player.play({ hints, dir: out, journals: () => journal });
      const live = await snapshot(nodeFs as never, dir);
      const recovered = await snapshot(nodeFs as never, out);
      assert.deepEqual(recovered.dirs, live.dirs);
      assert.deepEqual(recovered.dirModes, live.dirModes);
      assert.deepEqual(recovered.modes, live.modes);
      assert.equal(recovered.modes.get('/private/key'), 0o400);
      assert.equal(recovered.dirModes.get('/private'), 0o700);
      await journal.close();
    } finally {
      await nodeFs.rm(root, { recursive: true, force: true });
    }
  });
});
