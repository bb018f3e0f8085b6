/**
 * The CLI against the real cluster: `--journal nats://...` on every verb that takes `--log`, and
 * `--hints kv://...` where hints files are taken. Read-only verbs append nothing (the stream's
 * last sequence is unchanged). Bad URLs are usage errors (exit 2) with examples.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JetStreamJournal } from '../../src/journal/jetstream.js';
import { JournalReadOnlyError } from '../../src/journal/errors.js';
import { KvHintsStore } from '../../src/kv-hints-store.js';
import { parseHintsUrl, parseJournalUrl } from '../../src/cli/journal-url.js';
import { UsageError } from '../../src/cli/args.js';
import { run } from '../helpers/cli-run.js';
import { cluster } from './cluster.js';

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
});
