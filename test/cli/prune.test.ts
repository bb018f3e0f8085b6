import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as nodeFs } from 'node:fs';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTree, treeDigest } from '../../src/demo/tree.js';
import { FSM } from '../../src/fsm.js';
import { encodeHints, hintsFromJSON, hintsToJSON } from '../../src/hints.js';
import { FileJournal } from '../../src/journal/file.js';
import type { FragmentInfo } from '../../src/journal/prune.js';
import { RecordedFs } from '../../src/recorded-fs.js';
import { Recorder } from '../../src/recorder.js';
import type { FSMHints } from '../../src/wire/types.js';
import { assertExit, cli, run } from '../helpers/cli-run.js';

const LOG_NAME = 'test/cli-prune';
const AUTHOR = 4321;
const FRAGMENT_BYTES = 4096;
const FRAGMENT_KEYS = ['epoch', 'begin', 'end', 'size', 'state', 'sealed', 'checksum', 'files'];

/** Every entry of a (flat) directory: name, kind, size, mtime and content digest; and its own mtime. */
async function snapshotDir(dir: string): Promise<string> {
  const entries: string[] = [`. mtime=${(await lstat(dir)).mtimeMs}`];
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    const stat = await lstat(path);
    const digest = stat.isFile()
      ? createHash('sha256')
          .update(await readFile(path))
          .digest('hex')
      : '-';
    entries.push(
      `${name} ${stat.isDirectory() ? 'dir' : 'file'} size=${stat.size} mtime=${stat.mtimeMs} ${digest}`,
    );
  }
  return entries.join('\n');
}

async function fragmentsOf(log: string): Promise<FragmentInfo[]> {
  const r = await run('fragments', '--log', log, '--json');
  assertExit(r, 0, 'fragments --json');
  return JSON.parse(r.stdout) as FragmentInfo[];
}

async function headOf(log: string): Promise<number> {
  const journal = await FileJournal.open(log, { readOnly: true });
  try {
    return await journal.head();
  } finally {
    await journal.close();
  }
}

/** The lowest first offset of the hints' live segments (what prune must keep). */
function lowestLiveOffset(hints: FSMHints): number {
  return Math.min(...hints.liveNodes.flatMap((n) => n.segments.map((s) => s.firstOffset)));
}

describe('recoverylog fragments / prune', function () {
  this.timeout(60_000);

  let tmp: string;
  let srcDir: string;
  let logDir: string;
  /** Hints from early on, before the files they name were rewritten. */
  let oldHints: FSMHints;
  let oldHintsFile: string;
  /** Hints at the write head, stored as JSON and (the same hints) as protobuf. */
  let headHints: FSMHints;
  let headHintsFile: string;
  let headHintsPbFile: string;
  /** Hints of another journal. */
  let otherHintsFile: string;
  /** The tree `play --hints headHintsFile` recovered before anything was pruned. */
  let treeBeforePrune: string;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'recoverylog-cli-prune-'));
    srcDir = join(tmp, 'src');
    logDir = join(tmp, 'log');
    await mkdir(srcDir);
    const journal = await FileJournal.create(logDir, LOG_NAME, { fragmentBytes: FRAGMENT_BYTES });
    const recorder = await Recorder.open({
      journal,
      fsm: new FSM({ log: LOG_NAME, liveNodes: [], properties: [] }),
      author: AUTHOR,
      dir: srcDir,
    });
    const fs = new RecordedFs(recorder, nodeFs);
    const p = (rel: string) => join(srcDir, rel);
    await fs.writeFile(p('IDENTITY.tmp'), 'prune-test\n');
    await fs.rename(p('IDENTITY.tmp'), p('IDENTITY'));
    await fs.writeFile(p('state'), 'state 0');
    await fs.writeFile(p('old.bin'), randomBytes(6_000));
    oldHints = await recorder.buildHints();
    // Rewrite `state` many times (a new file each time, renamed over the old one) and drop
    // old.bin: the early history is no longer needed by the newest hints.
    await fs.unlink(p('old.bin'));
    for (let i = 1; i <= 60; i++) {
      await fs.writeFile(p('state.tmp'), `state ${i} ${'x'.repeat(300)}`);
      await fs.rename(p('state.tmp'), p('state'));
    }
    await fs.writeFile(p('late.txt'), 'written last');
    headHints = await recorder.buildHints();
    await journal.close();

    oldHintsFile = join(tmp, 'old-hints.json');
    await writeFile(oldHintsFile, hintsToJSON(oldHints));
    headHintsFile = join(tmp, 'head-hints.json');
    await writeFile(headHintsFile, hintsToJSON(headHints));
    headHintsPbFile = join(tmp, 'head-hints.pb');
    await writeFile(headHintsPbFile, encodeHints(headHints, 'protobuf'));
    otherHintsFile = join(tmp, 'other-hints.json');
    await writeFile(
      otherHintsFile,
      hintsToJSON({ log: 'test/some-other-log', liveNodes: [], properties: [] }),
    );

    const out = join(tmp, 'before-prune');
    assertExit(
      await run('play', '--log', logDir, '--hints', headHintsFile, '--dir', out),
      0,
      'play before pruning',
    );
    treeBeforePrune = treeDigest(await readTree(out));
    assert.equal(treeBeforePrune, treeDigest(await readTree(srcDir)));
  });

  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('fragments --json lists contiguous fragments covering [low, head), with stable keys', async () => {
    const fragments = await fragmentsOf(logDir);
    assert.ok(fragments.length >= 4, `expected several fragments, got ${fragments.length}`);
    assert.equal(fragments[0].begin, 0);
    for (let i = 0; i < fragments.length; i++) {
      const f = fragments[i];
      assert.deepEqual(Object.keys(f), FRAGMENT_KEYS);
      assert.equal(f.size, f.end - f.begin);
      assert.match(f.checksum, /^0x[0-9a-f]{8}$/);
      assert.ok(['open', 'sealed', 'fenced'].includes(f.state), f.state);
      assert.equal(f.files.length, 2);
      if (i > 0) assert.equal(f.begin, fragments[i - 1].end, `fragment ${i} is not contiguous`);
    }
    // Closed by its writer: every fragment is sealed now.
    assert.ok(fragments.every((f) => f.sealed));
    assert.equal(fragments.at(-1)!.end, await headOf(logDir));

    const human = await run('fragments', '--log', logDir);
    assertExit(human, 0, 'fragments');
    const lines = human.stdout.trimEnd().split('\n');
    assert.equal(lines.length, fragments.length + 1);
    assert.match(lines[0], /^epoch \d{10} 0\.\.\d+ \d+ bytes sealed checksum=0x[0-9a-f]{8}$/);
    const total = fragments.reduce((sum, f) => sum + f.size, 0);
    assert.match(
      lines.at(-1)!,
      new RegExp(
        `^journal ${LOG_NAME}: ${fragments.length} fragments, ${total} bytes .*first offset ` +
          `held 0, write head ${fragments.at(-1)!.end}$`,
      ),
    );
  });

  it('prune --dry-run reports what would go and changes nothing', async () => {
    const before = await snapshotDir(logDir);
    const fragments = await fragmentsOf(logDir);
    const r = await run('prune', '--log', logDir, '--hints', headHintsFile, '--dry-run', '--json');
    assertExit(r, 0, 'prune --dry-run');
    const result = JSON.parse(r.stdout) as {
      dryRun: boolean;
      needed: number;
      deleted: FragmentInfo[];
      kept: FragmentInfo[];
      bytesBefore: number;
      bytesAfter: number;
    };
    assert.deepEqual(Object.keys(result), [
      'journal',
      'dryRun',
      'needed',
      'deleted',
      'kept',
      'bytesBefore',
      'bytesAfter',
    ]);
    assert.equal(result.dryRun, true);
    assert.equal(result.needed, lowestLiveOffset(headHints));
    assert.ok(result.deleted.length > 0, 'the test log must have something to prune');
    assert.deepEqual([...result.deleted, ...result.kept], fragments);
    const human = await run('prune', '--log', logDir, '--hints', headHintsFile, '--dry-run');
    assertExit(human, 0, 'prune --dry-run (human)');
    assert.match(human.stdout, /^would delete epoch \d{10} 0\.\./);
    assert.match(human.stdout, /dry run: journal test\/cli-prune: .*would delete \d+ fragments/);
    assert.equal(await snapshotDir(logDir), before, 'a dry run changed the journal directory');
  });

  it('refuses hints that do not name the journal, deleting nothing (exit 1)', async () => {
    const before = await snapshotDir(logDir);
    const r = await run('prune', '--log', logDir, '--hints', otherHintsFile);
    assertExit(r, 1, 'prune with foreign hints');
    assert.match(r.stderr, /journal "test\/cli-prune": nothing pruned: none of the 1 hints name/);
    const missing = await run('prune', '--log', logDir, '--hints', join(tmp, 'missing.json'));
    assertExit(missing, 1, 'prune with a missing hints file');
    assert.match(missing.stderr, /hints file .*missing\.json/);
    assert.equal(await snapshotDir(logDir), before);
  });

  it('prunes the fragments wholly below the lowest live offset; play --hints still recovers the tree', async () => {
    const fragments = await fragmentsOf(logDir);
    const needed = lowestLiveOffset(headHints);
    // Old hints constrain the journal more: with them as a backup, nothing may go.
    const both = await run(
      'prune',
      '--log',
      logDir,
      '--hints',
      headHintsFile,
      '--hints',
      oldHintsFile,
      '--dry-run',
      '--json',
    );
    assertExit(both, 0, 'prune --dry-run with old hints too');
    const bothResult = JSON.parse(both.stdout) as { needed: number; deleted: unknown[] };
    assert.equal(bothResult.needed, lowestLiveOffset(oldHints));
    assert.ok(bothResult.needed < needed);

    // The protobuf form of the hints is accepted too.
    const r = await run('prune', '--log', logDir, '--hints', headHintsPbFile);
    assertExit(r, 0, 'prune');
    const expectedGone = fragments.filter((f, i) => i < fragments.length - 1 && f.end <= needed);
    assert.ok(expectedGone.length > 0);
    const deletedLines = r.stdout.split('\n').filter((l) => l.startsWith('deleted epoch'));
    assert.equal(deletedLines.length, expectedGone.length);
    const bytesBefore = fragments.reduce((sum, f) => sum + f.size, 0);
    const bytesAfter = bytesBefore - expectedGone.reduce((sum, f) => sum + f.size, 0);
    assert.match(
      r.stdout,
      new RegExp(`${bytesBefore} bytes before, ${bytesAfter} after`),
      r.stdout,
    );

    const after = await fragmentsOf(logDir);
    assert.deepEqual(after, fragments.slice(expectedGone.length));
    const low = after[0].begin;
    assert.equal(low, expectedGone.at(-1)!.end);
    assert.ok(low <= needed && needed < after[0].end, 'the fragment holding `needed` is kept');
    for (const f of expectedGone) for (const file of f.files) assert.equal(existsSync(file), false);
    assert.ok(existsSync(join(logDir, `pruned-${String(low).padStart(16, '0')}`)));
    const summary = await run('fragments', '--log', logDir);
    assert.match(summary.stdout, new RegExp(`first offset held ${low}, write head `));

    const out = join(tmp, 'after-prune');
    const played = await run('play', '--log', logDir, '--hints', headHintsFile, '--dir', out);
    assertExit(played, 0, 'play after pruning');
    assert.equal(treeDigest(await readTree(out)), treeBeforePrune);

    // Pruning again with the same hints has nothing left to delete.
    const again = await run('prune', '--log', logDir, '--hints', headHintsFile, '--json');
    assertExit(again, 0, 'second prune');
    assert.deepEqual((JSON.parse(again.stdout) as { deleted: unknown[] }).deleted, []);
  });

  it('playing hints from before the prune fails, naming the journal and the missing range', async () => {
    const before = await snapshotDir(logDir);
    const low = (await fragmentsOf(logDir))[0].begin;
    const from = lowestLiveOffset(oldHints);
    assert.ok(from < low);
    const r = await run('play', '--log', logDir, '--hints', oldHintsFile, '--dir', join(tmp, 'x'));
    assertExit(r, 1, 'play of pruned-away hints');
    const lines = r.stderr.trimEnd().split('\n');
    assert.match(lines.at(-1)!, /^recoverylog play: .*test\/cli-prune/);
    // The last line is the typed error naming the missing byte range [from, low).
    assert.match(
      lines.at(-1)!,
      new RegExp(`no longer holds bytes \\[${from}, ${low}\\)`),
      r.stderr,
    );
    assert.equal(existsSync(join(tmp, 'x')), false);
    const hints = hintsFromJSON(await readFile(oldHintsFile, 'utf8'));
    assert.deepEqual(hints, oldHints);
    assert.equal(await snapshotDir(logDir), before, 'a failed play changed the journal');
  });

  describe('read-only verbs', () => {
    let roLog: string;
    let mountPoint: string | undefined;

    before(async () => {
      // A journal of its own (unpruned), with read-only files and directory.
      roLog = join(tmp, 'ro-log');
      const journal = await FileJournal.create(roLog, 'test/read-only', {
        fragmentBytes: FRAGMENT_BYTES,
      });
      const recorder = await Recorder.open({
        journal,
        fsm: new FSM({ log: 'test/read-only', liveNodes: [], properties: [] }),
        author: AUTHOR,
        dir: join(tmp, 'ro-src'),
      });
      await mkdir(join(tmp, 'ro-src'));
      const fs = new RecordedFs(recorder, nodeFs);
      // Files replaced by rename, so that the early history is prunable.
      for (let i = 0; i < 40; i++) {
        const file = join(tmp, 'ro-src', `f${i % 4}`);
        await fs.writeFile(`${file}.tmp`, `file ${i} ${'y'.repeat(400)}`);
        await fs.rename(`${file}.tmp`, file);
      }
      await writeFile(join(tmp, 'ro-hints.json'), hintsToJSON(await recorder.buildHints()));
      await journal.close();
      for (const name of await readdir(roLog)) await chmod(join(roLog, name), 0o444);
      await chmod(roLog, 0o555);
    });

    after(() => {
      if (mountPoint !== undefined) {
        try {
          execFileSync('umount', [mountPoint], { stdio: 'pipe' });
        } catch (err) {
          console.log(`      could not unmount ${mountPoint}: ${(err as Error).message}`);
        }
      }
      // So that the suite's cleanup can remove it (as a non-root user).
      execFileSync('chmod', ['-R', 'u+w', roLog]);
    });

    /** Runs every read-only verb against `log`; each must succeed. */
    async function runReadOnlyVerbs(log: string, label: string): Promise<void> {
      const verbs: string[][] = [
        ['inspect', '--log', log],
        ['inspect', '--log', log, '--json'],
        ['export', '--log', log, '--out', join(tmp, `${label}.raw`)],
        ['hints', '--log', log],
        ['fragments', '--log', log],
        ['fragments', '--log', log, '--json'],
        ['play', '--log', log, '--dir', join(tmp, `${label}-play`)],
        [
          'play',
          '--log',
          log,
          '--hints',
          join(tmp, 'ro-hints.json'),
          '--dir',
          join(tmp, `${label}-hinted`),
        ],
        ['prune', '--log', log, '--hints', join(tmp, 'ro-hints.json'), '--dry-run'],
      ];
      for (const args of verbs) assertExit(await run(...args), 0, `${label}: ${args.join(' ')}`);
      assert.equal(
        treeDigest(await readTree(join(tmp, `${label}-play`))),
        treeDigest(await readTree(join(tmp, 'ro-src'))),
      );
      assert.equal(
        treeDigest(await readTree(join(tmp, `${label}-hinted`))),
        treeDigest(await readTree(join(tmp, 'ro-src'))),
      );
    }

    it('inspect, export, hints, fragments, play and prune --dry-run modify no file', async () => {
      const before = await snapshotDir(roLog);
      await runReadOnlyVerbs(roLog, 'plain');
      // One run through the real program too.
      assertExit(await cli('hints', '--log', roLog), 0, 'hints in a child process');
      assert.equal(await snapshotDir(roLog), before, 'a read-only verb changed the journal');
    });

    it('work on a read-only bind mount of the journal', async function () {
      const target = join(tmp, 'ro-mount');
      mkdirSync(target);
      try {
        execFileSync('mount', ['--bind', roLog, target], { stdio: 'pipe' });
        mountPoint = target;
        execFileSync('mount', ['-o', 'remount,bind,ro', target], { stdio: 'pipe' });
      } catch (err) {
        const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
        console.log(`      skipped: mount failed (${stderr || (err as Error).message})`);
        this.skip();
      }
      await assert.rejects(writeFile(join(target, 'probe'), 'x'), { code: 'EROFS' });
      const before = await snapshotDir(target);
      await runReadOnlyVerbs(target, 'mounted');
      assert.equal(await snapshotDir(target), before);
      // A prune that would delete fragments fails on the read-only file system (exit 1, a
      // typed error saying why), and leaves everything as it was.
      const dry = await run('prune', '--log', target, '--hints', join(tmp, 'ro-hints.json'));
      assertExit(dry, 1, 'prune on a read-only mount');
      assert.match(dry.stderr, /^recoverylog prune: journal .*could not prune .*EROFS/m);
      assert.equal(await snapshotDir(target), before);
    });
  });
});
