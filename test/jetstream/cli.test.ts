/**
 * The CLI against the real cluster: `--journal nats://...` on every verb that takes `--log`, and
 * `--hints kv://...` where hints files are taken. Read-only verbs append nothing (the stream's
 * last sequence is unchanged). Bad URLs are usage errors (exit 2) with examples.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JetStreamJournal } from '../../src/journal/jetstream.js';
import { JournalReadOnlyError, RegisterMismatchError } from '../../src/journal/errors.js';
import { KvHintsStore } from '../../src/kv-hints-store.js';
import { parseHintsUrl, parseJournalUrl } from '../../src/cli/journal-url.js';
import { UsageError } from '../../src/cli/args.js';
import { FSM, RecordedFs, Recorder } from '../../src/index.js';
import type { BaseFs } from '../../src/recorded-fs.js';
import { FileJournal } from '../../src/journal/file.js';
import type { Journal } from '../../src/journal/journal.js';
import { run } from '../helpers/cli-run.js';
import { snapshotTree } from '../crash/kill/tree.js';
import { cluster } from './cluster.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/** A long-running `recoverylog ARGS` (from source), its output collected as it comes. */
function startCli(...args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out.stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out.stderr += c));
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => resolve(code)),
  );
  return { child, out, exited };
}

/** Polls `check` until it returns true (or throws after `timeoutMs`, naming `what`). */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const readText = (file: string): Promise<string> => readFile(file, 'utf8');

/**
 * Records a few files into `journal` through RecordedFs (in `src`), runs `play --follow` on
 * `source` (the journal's flags) into `out`, records more while it follows, and checks that
 * the follower applies them, stops on SIGTERM with 143 and leaves exactly the recorded tree.
 */
async function followScenario(journal: Journal, source: string[], src: string, out: string) {
  await mkdir(src, { recursive: true });
  const recorder = await Recorder.open({
    journal,
    fsm: new FSM({ log: journal.name, liveNodes: [], properties: [] }),
    author: 0x5151,
    dir: src,
  });
  const rfs = new RecordedFs(recorder, fsp as unknown as BaseFs);
  await rfs.writeFile(`${src}/first.txt`, 'one\n');
  await recorder.barrier();

  const follower = startCli('play', ...source, '--dir', out, '--follow');
  try {
    await eventually('the follower to start tailing', async () =>
      /following /.test(follower.out.stderr),
    );
    assert.equal(await readText(join(out, 'first.txt')), 'one\n', follower.out.stderr);

    // New ops appear in place: creates in new directories, appends, links, renames, unlinks,
    // a property.
    await rfs.mkdir(`${src}/sub/deeper`, { recursive: true });
    await rfs.writeFile(`${src}/sub/deeper/second.txt`, 'two\n');
    await rfs.appendFile(`${src}/first.txt`, 'more\n');
    await rfs.link(`${src}/first.txt`, `${src}/sub/first.link`);
    await rfs.writeFile(`${src}/gone.txt`, 'soon gone');
    await rfs.unlink(`${src}/gone.txt`);
    await rfs.writeFile(`${src}/IDENTITY.tmp`, 'id-1\n');
    await rfs.rename(`${src}/IDENTITY.tmp`, `${src}/IDENTITY`);
    await rfs.writeFile(`${src}/big.bin`, Buffer.alloc(300_000, 9));
    await recorder.barrier();
    await eventually(
      'the follower to apply the new ops',
      async () =>
        (await readText(join(out, 'IDENTITY'))) === 'id-1\n' &&
        (await readFile(join(out, 'big.bin'))).equals(Buffer.alloc(300_000, 9)),
    );
    assert.equal(await readText(join(out, 'sub', 'deeper', 'second.txt')), 'two\n');
    assert.equal(await readText(join(out, 'sub', 'first.link')), 'one\nmore\n');
    assert.ok((await readdir(out)).includes('.fnodes'), 'the staging marker while following');

    // A renamed-away file and an emptied directory go too.
    await rfs.rename(`${src}/sub/deeper/second.txt`, `${src}/second.txt`);
    await recorder.barrier();
    await eventually(
      'the rename to land',
      async () => (await readText(join(out, 'second.txt'))) === 'two\n',
    );

    follower.child.kill('SIGTERM');
    assert.equal(await follower.exited, 143, follower.out.stderr);
    assert.match(follower.out.stdout, /followed .* more ops applied/);
    assert.deepEqual(await readdir(out).then((names) => names.includes('.fnodes')), false);
    const [got, want] = await Promise.all([snapshotTree(out), snapshotTree(src)]);
    assert.deepEqual(got.entries, want.entries);
  } finally {
    follower.child.kill('SIGKILL');
  }
  return { recorder, rfs };
}

describe('CLI with --journal nats:// and --hints kv:// on a 3-node cluster', function () {
  this.timeout(60_000);
  let tmp: string;
  let raw: Buffer;
  let journalName: string;
  let journalUrl: string;
  let hostList: string;
  let kvUrl: string;

  /** The stream's last sequence, read on a connection of its own. */
  async function lastSeq(name: string): Promise<number> {
    const { urls } = await cluster();
    const journal = await JetStreamJournal.open(name, { servers: urls, readOnly: true });
    try {
      return await journal.head();
    } finally {
      await journal.close();
    }
  }

  before(async function () {
    const { urls } = await cluster();
    hostList = urls.map((u) => u.replace(/^nats:\/\//, '')).join(',');
    tmp = await mkdtemp(join(tmpdir(), 'rl-js-cli-'));
    // A recorded tree in a file journal (snapshot), its raw bytes copied into JetStream.
    const src = join(tmp, 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'a.txt'), 'alpha\n');
    await writeFile(join(src, 'sub', 'b.bin'), Buffer.alloc(70_000, 7));
    journalName = `cli/js-${process.pid}/log`;
    const snap = await run(
      'snapshot',
      '--from',
      src,
      '--log',
      join(tmp, 'file-log'),
      '--name',
      journalName,
    );
    assert.equal(snap.code, 0, snap.stderr);
    const exported = await run('export', '--log', join(tmp, 'file-log'), '--out', join(tmp, 'raw'));
    assert.equal(exported.code, 0, exported.stderr);
    raw = await readFile(join(tmp, 'raw'));
    const journal = await JetStreamJournal.open(journalName, { servers: urls });
    await journal.append(raw);
    await journal.close();
    journalUrl = `nats://${hostList}/${journalName}`;
    kvUrl = `kv://${hostList}/rltest-cli-hints/shard-${process.pid}`;
  });

  after(async function () {
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  it('parses URLs and refuses bad ones with a usage error and examples', function () {
    assert.deepEqual(parseJournalUrl('nats://127.0.0.1:4222,h2:4223/a/b/c'), {
      servers: ['nats://127.0.0.1:4222', 'nats://h2:4223'],
      name: 'a/b/c',
    });
    assert.deepEqual(parseHintsUrl('kv://h:1/store'), { servers: ['nats://h:1'], store: 'store' });
    assert.deepEqual(parseHintsUrl('kv://h:1/bucket/store'), {
      servers: ['nats://h:1'],
      bucket: 'bucket',
      store: 'store',
    });
    for (const bad of ['http://h:1/x', 'nats://h/x', 'nats://h:1', 'nats://h:1/', 'nats://:1/x']) {
      assert.throws(
        () => parseJournalUrl(bad),
        (e: unknown) => e instanceof UsageError && /e\.g\. nats:\/\//.test(e.message),
      );
    }
    assert.throws(() => parseHintsUrl('kv://h:1/a/b/c'), UsageError);
  });

  it('bad URLs exit 2 on every verb, before connecting', async function () {
    const bad = 'nats://nohostport/x';
    const cases = [
      ['inspect', '--journal', bad],
      ['hints', '--journal', bad],
      ['export', '--journal', bad, '--out', join(tmp, 'x')],
      ['fragments', '--journal', bad],
      ['prune', '--journal', bad, '--hints', kvUrl, '--dry-run'],
      ['play', '--journal', bad, '--dir', join(tmp, 'never')],
      ['play', '--journal', journalUrl, '--hints', 'kv://h/x', '--dir', join(tmp, 'never')],
      ['inspect', '--journal', journalUrl, '--log', tmp],
    ];
    for (const args of cases) {
      const result = await run(...args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    }
  });

  it('read-only verbs read the JetStream journal and append nothing', async function () {
    const before = await lastSeq(journalName);
    assert.equal(before, raw.byteLength);

    const inspected = await run('inspect', '--journal', journalUrl, '--json');
    assert.equal(inspected.code, 0, inspected.stderr);
    const fromFile = await run('inspect', '--log', join(tmp, 'file-log'), '--json');
    assert.equal(inspected.stdout, fromFile.stdout);

    const out = join(tmp, 'exported');
    const exported = await run('export', '--journal', journalUrl, '--out', out);
    assert.equal(exported.code, 0, exported.stderr);
    assert.deepEqual(await readFile(out), raw);

    const hints = await run('hints', '--journal', journalUrl);
    assert.equal(hints.code, 0, hints.stderr);
    assert.equal(JSON.parse(hints.stdout).log, journalName);

    const fragments = await run('fragments', '--journal', journalUrl);
    assert.equal(fragments.code, 2);
    assert.match(fragments.stderr, /no fragments/);

    const dir = join(tmp, 'played-ro');
    const played = await run('play', '--journal', journalUrl, '--dir', dir);
    assert.equal(played.code, 0, played.stderr);
    assert.equal(await readFile(join(dir, 'a.txt'), 'utf8'), 'alpha\n');
    assert.deepEqual(await readFile(join(dir, 'sub', 'b.bin')), Buffer.alloc(70_000, 7));

    assert.equal(await lastSeq(journalName), before, 'a read-only verb appended');
    // A read-only open refuses appends outright, and does not create streams.
    const { urls } = await cluster();
    const ro = await JetStreamJournal.open(journalName, { servers: urls, readOnly: true });
    await assert.rejects(ro.append(new Uint8Array([1])), JournalReadOnlyError);
    await ro.close();
    const missing = await run(
      'inspect',
      '--journal',
      `nats://${hostList}/cli/missing-${process.pid}`,
    );
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /does not exist/);
  });

  it('hints --out kv://, play --hints kv://, prune --hints kv:// and play --handoff', async function () {
    const stored = await run('hints', '--journal', journalUrl, '--out', kvUrl);
    assert.equal(stored.code, 0, stored.stderr);
    const { servers, bucket, store } = parseHintsUrl(kvUrl);
    const kv = await KvHintsStore.open({ servers, bucket, name: store });
    try {
      assert.equal((await kv.fetch(journalName)).primary?.log, journalName);
    } finally {
      await kv.close();
    }

    const dir = join(tmp, 'played-kv');
    const played = await run('play', '--journal', journalUrl, '--hints', kvUrl, '--dir', dir);
    assert.equal(played.code, 0, played.stderr);
    assert.equal(await readFile(join(dir, 'a.txt'), 'utf8'), 'alpha\n');

    const dry = await run(
      'prune',
      '--journal',
      journalUrl,
      '--hints',
      kvUrl,
      '--dry-run',
      '--json',
    );
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(JSON.parse(dry.stdout).dryRun, true);
    const pruned = await run('prune', '--journal', journalUrl, '--hints', kvUrl);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout, /journal .*: the hints need offsets from \d+/);

    const before = await lastSeq(journalName);
    const handed = await run(
      'play',
      '--journal',
      journalUrl,
      '--hints',
      kvUrl,
      '--dir',
      join(tmp, 'played-handoff'),
      '--handoff',
      '0x1234',
    );
    assert.equal(handed.code, 0, handed.stderr);
    assert.match(handed.stdout, /hand-off by author 4660/);
    assert.ok((await lastSeq(journalName)) > before, 'the hand-off was not appended');
  });

  it('play --journal nats:// --follow: a hot standby applies new ops in place until SIGTERM (143)', async function () {
    const { urls } = await cluster();
    const name = `cli/follow-${process.pid}`;
    const journal = await JetStreamJournal.open(name, { servers: urls });
    try {
      const url = `nats://${hostList}/${name}`;
      const { recorder, rfs } = await followScenario(
        journal,
        ['--journal', url],
        join(tmp, 'follow-src'),
        join(tmp, 'follow-out'),
      );

      // --until-handoff: the standby stops (0) once another writer takes the log over.
      const out = join(tmp, 'follow-until');
      const follower = startCli(
        'play',
        '--journal',
        url,
        '--dir',
        out,
        '--follow',
        '--until-handoff',
      );
      await eventually('the second follower', async () => /following /.test(follower.out.stderr));
      const handed = await run(
        'play',
        '--journal',
        url,
        '--dir',
        join(tmp, 'follow-new-primary'),
        '--handoff',
        '4242',
      );
      assert.equal(handed.code, 0, handed.stderr);
      assert.equal(await follower.exited, 0, follower.out.stderr);
      assert.match(follower.out.stderr, /hand-off: author 4242 took/);
      assert.match(follower.out.stdout, /stopped at a hand-off/);
      // The old writer is fenced from now on.
      await assert.rejects(async () => {
        await rfs.writeFile(join(tmp, 'follow-src', 'late.txt'), 'late');
        await recorder.barrier();
      }, RegisterMismatchError);

      // Usage: --follow excludes --handoff and --if-not-exists; --until-handoff needs --follow.
      for (const args of [
        ['--follow', '--handoff', '7'],
        ['--follow', '--if-not-exists'],
        ['--until-handoff'],
      ]) {
        const bad = await run('play', '--journal', url, '--dir', join(tmp, 'never'), ...args);
        assert.equal(bad.code, 2, bad.stderr);
      }
    } finally {
      await journal.close();
    }
  });

  it('play --log DIR --follow tails a file journal the same way', async function () {
    const logDir = join(tmp, 'follow-file-log');
    const journal = await FileJournal.create(logDir, `cli/follow-file-${process.pid}`);
    try {
      const src = join(tmp, 'follow-file-src');
      const out = join(tmp, 'follow-file-out');
      await followScenario(journal, ['--log', logDir], src, out);

      // A follower killed outright leaves its staging directory: the target is then marked
      // unfinished (not taken for a restored tree, not reused without --force), and --force
      // rebuilds it.
      const killed = startCli('play', '--log', logDir, '--dir', out, '--follow', '--force');
      await eventually('the follower to start', async () => /following /.test(killed.out.stderr));
      killed.child.kill('SIGKILL');
      await killed.exited;
      assert.ok((await readdir(out)).includes('.fnodes'));
      const refused = await run('play', '--log', logDir, '--dir', out, '--if-not-exists');
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /killed before it finished/);
      const rebuilt = await run('play', '--log', logDir, '--dir', out, '--force');
      assert.equal(rebuilt.code, 0, rebuilt.stderr);
      const [got, want] = await Promise.all([snapshotTree(out), snapshotTree(src)]);
      assert.deepEqual(got.entries, want.entries);
    } finally {
      await journal.close();
    }
  });
});
