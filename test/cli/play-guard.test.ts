/**
 * `recoverylog play` deletes its target directory before playing into it (and again if playback
 * fails), so a --dir that is, holds or lies inside a --log directory would delete the journal it
 * reads. The verb must refuse it as a usage error before touching anything, --force or not.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { FSM } from '../../src/fsm.js';
import { FileJournal } from '../../src/journal/file.js';
import { Recorder } from '../../src/recorder.js';

const LOG_NAME = 'test/cli-play-guard';

/**
 * Runs `recoverylog ARGS` in this process; returns the exit status and the dispatcher's stderr.
 * The verb's own summary line (process.stdout) is swallowed.
 */
async function run(...args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    const code = await main(args, {
      stdout: () => undefined,
      stderr: (text) => (stderr += `${text}\n`),
    });
    return { code, stderr };
  } finally {
    process.stdout.write = write;
  }
}

/** Every file below `dir` with its bytes (base64), to show that nothing changed. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true })) {
    const path = join(dir, entry);
    if ((await stat(path)).isFile()) out[entry] = (await readFile(path)).toString('base64');
  }
  return out;
}

describe('recoverylog play: --dir must stay clear of every --log directory', function () {
  this.timeout(30_000);

  let tmp: string;
  /** D: the directory a careless `play --force --dir D` would wipe. */
  let parent: string;
  /** The journal, inside D. */
  let logDir: string;
  /** A symlink to D. */
  let linkToParent: string;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'recoverylog-play-guard-'));
    parent = join(tmp, 'data');
    logDir = join(parent, 'log');
    linkToParent = join(tmp, 'data-link');
    const journal = await FileJournal.create(logDir, LOG_NAME);
    try {
      const recorder = await Recorder.open({
        journal,
        fsm: new FSM({ log: LOG_NAME, liveNodes: [], properties: [] }),
        author: 1234,
        dir: join(tmp, 'recorded'),
      });
      recorder.recordCreate(join(tmp, 'recorded', 'a.txt'));
      await recorder.barrier();
    } finally {
      await journal.close();
    }
    await symlink(parent, linkToParent);
  });

  after(() => rm(tmp, { recursive: true, force: true }));

  const cases: { what: string; dir: () => string; log: () => string; relation: string }[] = [
    { what: 'D holds the journal', dir: () => parent, log: () => logDir, relation: 'contains' },
    { what: 'D is the journal', dir: () => logDir, log: () => logDir, relation: 'is' },
    {
      what: 'D lies inside the journal (not created yet)',
      dir: () => join(logDir, 'restored'),
      log: () => logDir,
      relation: 'lies inside',
    },
    {
      what: 'D is a symlink to a parent of the journal',
      dir: () => linkToParent,
      log: () => logDir,
      relation: 'contains',
    },
    {
      what: 'the journal is named through a symlink',
      dir: () => parent,
      log: () => join(linkToParent, 'log'),
      relation: 'contains',
    },
  ];
  for (const { what, dir, log, relation } of cases) {
    it(`refuses play --force when ${what}, with exit 2 and the journal intact`, async () => {
      const before = await snapshot(logDir);
      assert.ok(Object.keys(before).length > 0);
      const r = await run('play', '--force', '--log', log(), '--dir', dir());
      assert.equal(r.code, 2, r.stderr);
      assert.ok(
        r.stderr.includes(`--dir ${dir()} ${relation} the --log directory ${log()};`),
        r.stderr,
      );
      assert.match(r.stderr, /nothing was deleted/);
      assert.deepEqual(await snapshot(logDir), before);
      await assert.rejects(stat(join(logDir, 'restored')), { code: 'ENOENT' });
      const journal = await FileJournal.open(logDir);
      try {
        assert.ok((await journal.head()) > 0);
      } finally {
        await journal.close();
      }
    });
  }

  it('still plays into a sibling of the journal directory', async () => {
    const out = join(parent, 'restored');
    const r = await run('play', '--force', '--log', logDir, '--dir', out);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readdir(out), ['a.txt']);
  });
});
