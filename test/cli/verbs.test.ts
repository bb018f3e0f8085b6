import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as nodeFs } from 'node:fs';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { lstat, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hintsAtWriteHead } from '../../src/cli/hints.js';
import { writeFileAtomically } from '../../src/durable-file.js';
import { importJournal } from '../../src/cli/import-export.js';
import { journalChunks } from '../../src/cli/inspect-log.js';
import { parseAuthor } from '../../src/cli/play.js';
import { createProgress, formatBytes, renderProgressLine } from '../../src/cli/progress.js';
import { ShadowFs } from '../../src/cli/shadow-fs.js';
import { readTree, treeDigest } from '../../src/demo/tree.js';
import { authorFence, FSM } from '../../src/fsm.js';
import { decodeHints, hintsFromJSON, hintsToJSON } from '../../src/hints.js';
import { FileJournal } from '../../src/journal/file.js';
import { RecordedFs } from '../../src/recorded-fs.js';
import { Recorder } from '../../src/recorder.js';
import type { FSMHints } from '../../src/wire/types.js';
import { assertExit, cli, run } from '../helpers/cli-run.js';

const LOG_NAME = 'test/cli-verbs';
const AUTHOR = 1234;

async function hintsOf(dir: string): Promise<FSMHints> {
  const journal = await FileJournal.open(dir);
  try {
    return (await hintsAtWriteHead(journal)).hints;
  } finally {
    await journal.close();
  }
}

async function readAll(journal: FileJournal): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of journalChunks(journal)) parts.push(chunk);
  return Buffer.concat(parts);
}

/** Byte offset of the `n`th frame magic word in `bytes` (0-based). */
function nthFrameOffset(bytes: Uint8Array, n: number): number {
  const magic = Buffer.from([0x66, 0x33, 0x93, 0x36]);
  let at = -1;
  for (let i = 0; i <= n; i++) {
    at = Buffer.from(bytes).indexOf(magic, at + 1);
    assert.ok(at >= 0, `frame ${n} not found`);
  }
  return at;
}

describe('recoverylog CLI verbs', function () {
  this.timeout(60_000);

  let tmp: string;
  /** The recorded directory: what a full recovery must reproduce. */
  let srcDir: string;
  let logDir: string;
  /** Hints built part-way through recording (older than the write head). */
  let midHints: FSMHints;
  let midHintsFile: string;
  let raw: Uint8Array;
  let rawFile: string;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'recoverylog-cli-'));
    srcDir = join(tmp, 'src');
    logDir = join(tmp, 'log');
    await mkdir(srcDir);
    const journal = await FileJournal.create(logDir, LOG_NAME);
    const recorder = await Recorder.open({
      journal,
      fsm: new FSM({ log: LOG_NAME, liveNodes: [], properties: [] }),
      author: AUTHOR,
      dir: srcDir,
    });
    const fs = new RecordedFs(recorder, nodeFs);
    const p = (rel: string) => join(srcDir, rel);
    await fs.writeFile(p('IDENTITY.tmp'), 'db-identity-42\n');
    await fs.rename(p('IDENTITY.tmp'), p('IDENTITY'));
    // Durable before the rest, so the Recorder's lower-bound offsets of later ops move past it.
    await recorder.barrier();
    await fs.mkdir(p('sub/deeper'), { recursive: true });
    await fs.writeFile(p('a.txt'), 'alpha');
    await fs.writeFile(p('sub/b.bin'), randomBytes(100_000));
    await fs.writeFile(p('dead.txt'), 'deleted before the hints');
    await fs.unlink(p('dead.txt'));
    await fs.writeFile(p('MANIFEST.tmp'), 'manifest 1');
    await fs.rename(p('MANIFEST.tmp'), p('MANIFEST'));
    await fs.link(p('sub/b.bin'), p('sub/deeper/b-link.bin'));
    const log = await fs.open(p('wal.log'), 'a');
    for (let i = 0; i < 5; i++) await log.write(`record ${i}\n`);
    await log.sync();
    midHints = await recorder.buildHints();
    // After the hints: more history the Player must read past them.
    for (let i = 5; i < 8; i++) await log.write(`record ${i}\n`);
    await log.close();
    await fs.writeFile(p('MANIFEST.tmp'), 'manifest 2');
    await fs.rename(p('MANIFEST.tmp'), p('MANIFEST'));
    await fs.writeFile(p('late.txt'), 'written after the hints');
    await recorder.barrier();
    raw = await readAll(journal);
    await journal.close();

    midHintsFile = join(tmp, 'mid-hints.json');
    await writeFile(midHintsFile, hintsToJSON(midHints));
    rawFile = join(tmp, 'log.raw');
    await writeFile(rawFile, raw);
  });

  after(() => rmSync(tmp, { recursive: true, force: true }));

  describe('help and usage', () => {
    it('lists every verb, and each verb prints its usage with exit 0', async () => {
      const verbs = [
        'inspect',
        'hints',
        'play',
        'import',
        'export',
        'snapshot',
        'fragments',
        'prune',
      ];
      // The real program once (exit status, entry point), then each verb's help in-process.
      const top = await cli('--help');
      assertExit(top, 0, '--help');
      for (const v of verbs) assert.match(top.stdout, new RegExp(`^  ${v} `, 'm'));
      for (const v of verbs) {
        const r = await run(v, '--help');
        assertExit(r, 0, `${v} --help`);
        assert.match(r.stdout, new RegExp(`^Usage: recoverylog ${v} `));
      }
      assert.match((await run('inspect', '--help')).stdout, /--log DIR/);
    });

    it('exits 2 with a message on bad command lines', async () => {
      const cases: [string[], RegExp][] = [
        [['play', '--dir', join(tmp, 'x')], /missing --log DIR/],
        [['play', '--log', logDir], /missing --dir OUT/],
        [['play', '--log', logDir, '--dir', join(tmp, 'x'), '--handoff', '0'], /--handoff/],
        [['import', '--raw', rawFile, '--log', join(tmp, 'never')], /missing --name NAME/],
        [['export', '--log', logDir], /missing --out FILE/],
        [['hints', '--log', logDir, '--bogus'], /unknown flag --bogus/],
        [['inspect', '--log', logDir, '--raw', rawFile], /either --raw FILE or --log DIR/],
        [['inspect'], /--raw FILE or --log DIR/],
        [['snapshot', '--from', srcDir, '--log', join(tmp, 'never')], /missing --name NAME/],
        [['fragments'], /missing --log DIR/],
        [['fragments', '--log', logDir, 'extra'], /unexpected argument "extra"/],
        [['prune', '--log', logDir], /missing --hints FILE/],
        [['prune', '--log', logDir, '--dry-run'], /missing --hints FILE/],
        [['prune', '--hints', midHintsFile], /missing --log DIR/],
      ];
      // One through the real program (its exit status), the rest in-process.
      const child = await cli(...cases[0][0]);
      assertExit(child, 2, 'child process');
      assert.match(child.stderr, cases[0][1]);
      for (const [args, message] of cases) {
        const r = await run(...args);
        assertExit(r, 2, args.join(' '));
        assert.match(r.stderr, message);
      }
      assert.equal(existsSync(join(tmp, 'never')), false);
    });
  });

  describe('import / export', () => {
    it('round-trips bytes exactly, across several chunked appends', async () => {
      // Random bytes (import does not interpret content) larger than one 8 MiB transfer chunk.
      const big = randomBytes(8 * 1024 * 1024 + 12_345);
      const bigFile = join(tmp, 'big.raw');
      await writeFile(bigFile, big);
      const imported = await cli(
        'import',
        '--raw',
        bigFile,
        '--log',
        join(tmp, 'big-log'),
        '--name',
        'test/big',
      );
      assertExit(imported, 0, 'import');
      assert.match(imported.stdout, new RegExp(`imported ${big.length} bytes`));
      const journal = await FileJournal.open(join(tmp, 'big-log'));
      try {
        assert.equal(journal.name, 'test/big');
        assert.equal(await journal.head(), big.length);
      } finally {
        await journal.close();
      }
      const out = join(tmp, 'big.out');
      const exported = await run('export', '--log', join(tmp, 'big-log'), '--out', out);
      assertExit(exported, 0, 'export');
      assert.ok(Buffer.from(await readFile(out)).equals(big), 'exported bytes differ');
      // No temporary file is left next to the output.
      const leftovers = (await nodeFs.readdir(tmp)).filter(
        (n) => n.startsWith('big.out.tmp') || n.includes('.recoverylog-partial.'),
      );
      assert.deepEqual(leftovers, []);
    });

    it('exports a recorded journal as exactly its bytes, and an import of them plays back', async () => {
      const out = join(tmp, 'exported.raw');
      assertExit(await run('export', '--log', logDir, '--out', out), 0, 'export');
      assert.ok(Buffer.from(await readFile(out)).equals(Buffer.from(raw)));

      const imported = join(tmp, 'imported-log');
      assertExit(
        await run('import', '--raw', out, '--log', imported, '--name', 'test/imported'),
        0,
        'import',
      );
      const played = await cli('play', '--log', imported, '--dir', join(tmp, 'from-import'));
      assertExit(played, 0, 'play of the imported log');
      assert.equal(
        treeDigest(await readTree(join(tmp, 'from-import'))),
        treeDigest(await readTree(srcDir)),
      );
    });

    it('refuses to import over an existing journal, a bad name, or a missing file (exit 1)', async () => {
      const existing = await cli(
        'import',
        '--raw',
        rawFile,
        '--log',
        logDir,
        '--name',
        'test/again',
      );
      const badName = await run(
        'import',
        '--raw',
        rawFile,
        '--log',
        join(tmp, 'bad-name'),
        '--name',
        '/abs/name',
      );
      const missing = await run(
        'import',
        '--raw',
        join(tmp, 'nope.raw'),
        '--log',
        join(tmp, 'nope'),
        '--name',
        'a/b/c',
      );
      assertExit(existing, 1, 'import over a journal');
      assert.match(existing.stderr, /already exists and is not empty/);
      assertExit(badName, 1, 'import with a bad name');
      assert.match(badName.stderr, /invalid journal name "\/abs\/name"/);
      assertExit(missing, 1, 'import of a missing file');
      assert.match(missing.stderr, /nope\.raw/);
      // Nothing half-built is left behind.
      assert.equal(existsSync(join(tmp, 'bad-name')), false);
      assert.equal(existsSync(join(tmp, 'nope')), false);
      const staging = (await nodeFs.readdir(tmp)).filter(
        (n) => n.includes('.building-') || n.includes('.recoverylog-partial.'),
      );
      assert.deepEqual(staging, []);
      // The existing journal is untouched.
      const journal = await FileJournal.open(logDir);
      try {
        assert.ok(Buffer.from(await readAll(journal)).equals(Buffer.from(raw)));
      } finally {
        await journal.close();
      }
    });

    it('fails export of a directory that holds no journal (exit 1)', async () => {
      const r = await run('export', '--log', join(tmp, 'no-journal'), '--out', join(tmp, 'x.raw'));
      assertExit(r, 1, 'export');
      assert.match(r.stderr, /no-journal/);
      assert.equal(existsSync(join(tmp, 'x.raw')), false);
    });
  });

  describe('inspect --log', () => {
    it('prints the same lines as inspect --raw over the exported bytes', async () => {
      const [fromLog, fromRaw] = await Promise.all([
        cli('inspect', '--log', logDir, '--json'),
        run('inspect', '--raw', rawFile, '--json'),
      ]);
      assertExit(fromLog, 0, 'inspect --log');
      assertExit(fromRaw, 0, 'inspect --raw');
      assert.equal(fromLog.stdout, fromRaw.stdout);
      const lines = fromLog.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { op: string; end: number });
      assert.ok(lines.some((l) => l.op === 'property'));
      assert.equal(lines[lines.length - 1].end, raw.length);
    });
  });

  describe('hints', () => {
    it('prints Gazette JSON hints that recover the log, computed without writing files', async () => {
      const r = await cli('hints', '--log', logDir);
      assertExit(r, 0, 'hints');
      const hints = hintsFromJSON(r.stdout.trim());
      assert.equal(hints.log, LOG_NAME);
      // Gazette JSON key names and order.
      assert.match(r.stdout, /^\{"log":"test\/cli-verbs","live_nodes":\[\{"fnode":/);
      assert.deepEqual(hints.properties, [{ path: '/IDENTITY', content: 'db-identity-42\n' }]);

      // The same as an in-process replay; and the recorder's view of the live files agrees.
      const journal = await FileJournal.open(logDir);
      try {
        const local = await hintsAtWriteHead(journal);
        assert.deepEqual(hints, local.hints);
        assert.equal(local.stats.bytesRead, raw.length);
      } finally {
        await journal.close();
      }

      // Playing with them recovers the whole tree.
      const hintsFile = join(tmp, 'head-hints.json');
      await writeFile(hintsFile, r.stdout);
      const played = await run(
        'play',
        '--log',
        logDir,
        '--hints',
        hintsFile,
        '--dir',
        join(tmp, 'from-head-hints'),
      );
      assertExit(played, 0, 'play --hints');
      assert.equal(
        treeDigest(await readTree(join(tmp, 'from-head-hints'))),
        treeDigest(await readTree(srcDir)),
      );
    });

    it('writes protobuf hints atomically with --out', async () => {
      const out = join(tmp, 'hints.pb');
      const r = await run('hints', '--log', logDir, '--out', out, '--format', 'protobuf');
      assertExit(r, 0, 'hints --out');
      const bytes = await readFile(out);
      assert.notEqual(bytes[0], 0x7b, 'protobuf, not JSON');
      const fromJson = await run('hints', '--log', logDir);
      assert.deepEqual(decodeHints(bytes), hintsFromJSON(fromJson.stdout));
    });
  });

  describe('play', () => {
    it('recovers from offset 0 and prints the one-line summary', async () => {
      const out = join(tmp, 'from-zero');
      const r = await run('play', '--log', logDir, '--dir', out);
      assertExit(r, 0, 'play');
      assert.match(
        r.stdout,
        new RegExp(
          `^played ${LOG_NAME} into ${out}: \\d+ ops applied, \\d+ skipped.*, ${raw.length} of ` +
            `${raw.length} journal bytes read, \\d+ files, \\d+\\.\\d{3} s\\n$`,
        ),
      );
      assert.equal(treeDigest(await readTree(out)), treeDigest(await readTree(srcDir)));
      // Hard links are recovered as hard links.
      const [a, b] = await Promise.all([
        lstat(join(out, 'sub/b.bin')),
        lstat(join(out, 'sub/deeper/b-link.bin')),
      ]);
      assert.equal(a.ino, b.ino);
    });

    it('refuses to replace a non-empty directory unless --force', async () => {
      const out = join(tmp, 'occupied');
      await mkdir(out);
      await writeFile(join(out, 'precious.txt'), 'keep me');
      const refused = await run('play', '--log', logDir, '--dir', out);
      assertExit(refused, 1, 'play into a non-empty directory');
      assert.match(refused.stderr, /occupied exists and is not empty.*--force/);
      assert.equal(await readFile(join(out, 'precious.txt'), 'utf8'), 'keep me');
      assertExit(await run('play', '--log', logDir, '--dir', out, '--force'), 0, 'play --force');
      assert.equal(treeDigest(await readTree(out)), treeDigest(await readTree(srcDir)));
    });

    it('recovers from older hints, reading past them to the write head', async () => {
      const out = join(tmp, 'from-mid');
      const r = await run('play', '--log', logDir, '--hints', midHintsFile, '--dir', out);
      assertExit(r, 0, 'play --hints');
      assert.equal(treeDigest(await readTree(out)), treeDigest(await readTree(srcDir)));
      // Reading starts at the first hinted segment: the history before it is never read.
      const start = Math.min(
        ...midHints.liveNodes.flatMap((n) => n.segments.map((g) => g.firstOffset)),
      );
      assert.ok(start > 0);
      const [, read, total] = /(\d+) of (\d+) journal bytes read/.exec(r.stdout)!.map(Number);
      assert.equal(total, raw.length);
      assert.equal(read, raw.length - start);
      assert.equal(await readFile(join(out, 'late.txt'), 'utf8'), 'written after the hints');
    });

    it('--handoff fences the log for the given author', async () => {
      const copy = join(tmp, 'handoff-log');
      assertExit(
        await run('import', '--raw', rawFile, '--log', copy, '--name', LOG_NAME),
        0,
        'import',
      );
      const r = await cli(
        'play',
        '--log',
        copy,
        '--dir',
        join(tmp, 'handoff-out'),
        '--handoff',
        '0x2a',
      );
      assertExit(r, 0, 'play --handoff');
      assert.match(r.stdout, /hand-off by author 42/);
      const journal = await FileJournal.open(copy);
      try {
        assert.deepEqual({ ...(await journal.registers()) }, { ...authorFence(42) });
        // The no-op was appended after the recorded history.
        assert.ok((await journal.head()) > raw.length);
      } finally {
        await journal.close();
      }
      assert.equal(
        treeDigest(await readTree(join(tmp, 'handoff-out'))),
        treeDigest(await readTree(srcDir)),
      );
    });

    it('fails on corrupt logs with the log name and offset (strict), and --lenient skips garbage', async () => {
      // Garbage between two frames.
      const cut = nthFrameOffset(raw, 6);
      const garbage = Buffer.concat([
        raw.subarray(0, cut),
        Buffer.from('... garbage data ...'),
        raw.subarray(cut),
      ]);
      // A flipped bit inside the 100 000-byte Write payload.
      const flipped = Buffer.from(raw);
      const bigWrite = Buffer.from(raw).indexOf(Buffer.from('/sub/b.bin'));
      flipped[bigWrite + 200] ^= 0x01;
      // A log cut in the middle of its last frame.
      const truncated = raw.subarray(0, raw.length - 5);
      const files = { garbage, flipped, truncated };
      for (const [name, bytes] of Object.entries(files)) {
        await writeFile(join(tmp, `${name}.raw`), bytes);
        assertExit(
          await run(
            'import',
            '--raw',
            join(tmp, `${name}.raw`),
            '--log',
            join(tmp, `${name}-log`),
            '--name',
            `test/${name}`,
          ),
          0,
          `import ${name}`,
        );
      }
      const strictGarbage = await cli(
        'play',
        '--log',
        join(tmp, 'garbage-log'),
        '--dir',
        join(tmp, 'g1'),
      );
      const lenientGarbage = await run(
        'play',
        '--log',
        join(tmp, 'garbage-log'),
        '--dir',
        join(tmp, 'g2'),
        '--lenient',
      );
      const flippedLenient = await run(
        'play',
        '--log',
        join(tmp, 'flipped-log'),
        '--dir',
        join(tmp, 'f1'),
        '--lenient',
      );
      const truncatedStrict = await run(
        'play',
        '--log',
        join(tmp, 'truncated-log'),
        '--dir',
        join(tmp, 't1'),
      );

      assertExit(strictGarbage, 1, 'strict play of garbage');
      assert.match(strictGarbage.stderr, new RegExp(`test/garbage at offset ${cut}\\b`));
      assert.match(strictGarbage.stderr, /--lenient/);
      assert.equal(existsSync(join(tmp, 'g1')), false, 'a failed play leaves no directory');

      assertExit(lenientGarbage, 0, 'lenient play of garbage');
      assert.match(lenientGarbage.stdout, /skipped \(.*garbage 1/);
      assert.match(lenientGarbage.stderr, new RegExp(`warning: test/garbage at offset ${cut}`));
      assert.equal(treeDigest(await readTree(join(tmp, 'g2'))), treeDigest(await readTree(srcDir)));

      assertExit(flippedLenient, 1, 'play of a damaged payload, even lenient');
      assert.match(flippedLenient.stderr, /test\/flipped/);
      assert.match(flippedLenient.stderr, /CRC-32C/);
      assert.equal(existsSync(join(tmp, 'f1')), false);

      assertExit(truncatedStrict, 1, 'play of a truncated log');
      assert.match(truncatedStrict.stderr, /test\/truncated at offset \d+/);

      // The other verbs that read a log report the same places.
      const inspectTruncated = await run('inspect', '--log', join(tmp, 'truncated-log'));
      assertExit(inspectTruncated, 1, 'inspect of a truncated log');
      assert.match(inspectTruncated.stderr, /journal test\/truncated: .*offset \d+/);
      assert.match(inspectTruncated.stdout, /create seq=1 /, 'what is readable is printed');
      const hintsGarbage = await run('hints', '--log', join(tmp, 'garbage-log'));
      assertExit(hintsGarbage, 1, 'strict hints of garbage');
      assert.match(hintsGarbage.stderr, new RegExp(`test/garbage at offset ${cut}\\b`));
      const hintsLenient = await run('hints', '--log', join(tmp, 'garbage-log'), '--lenient');
      assertExit(hintsLenient, 0, 'lenient hints of garbage');
      assert.equal(
        hintsFromJSON(hintsLenient.stdout).liveNodes.length,
        (await hintsOf(logDir)).liveNodes.length,
      );
    });

    it('resolves journals by name among several --log directories', async () => {
      const other = join(tmp, 'other-log');
      await importJournal(rawFile, other, 'test/other');
      const unknown = await run(
        'play',
        '--log',
        other,
        '--hints',
        midHintsFile,
        '--dir',
        join(tmp, 'u'),
      );
      const duplicate = await run(
        'play',
        '--log',
        logDir,
        '--log',
        logDir,
        '--dir',
        join(tmp, 'd'),
      );
      assertExit(unknown, 1, 'hints naming a journal not given');
      assert.match(
        unknown.stderr,
        new RegExp(`no journal named ${LOG_NAME} was given.*test/other`),
      );
      assertExit(duplicate, 1, 'the same journal twice');
      assert.match(duplicate.stderr, /more than one --log/);

      // The hinted journal need not be the first one.
      const r = await run(
        'play',
        '--log',
        other,
        '--log',
        logDir,
        '--hints',
        midHintsFile,
        '--dir',
        join(tmp, 'two'),
      );
      assertExit(r, 0, 'play with two logs');
      assert.equal(
        treeDigest(await readTree(join(tmp, 'two'))),
        treeDigest(await readTree(srcDir)),
      );
    });

    it('rejects unreadable hints files (exit 1, naming the file)', async () => {
      const bad = join(tmp, 'bad-hints.json');
      await writeFile(bad, '{"log": 12}');
      const r = await run('play', '--log', logDir, '--hints', bad, '--dir', join(tmp, 'b'));
      assertExit(r, 1, 'play with bad hints');
      assert.match(r.stderr, /hints file .*bad-hints\.json/);
    });
  });

  describe('snapshot', () => {
    it('records a tree (hard links, IDENTITY, nested and empty files) that play reproduces', async () => {
      const from = join(tmp, 'snap-src');
      await mkdir(join(from, 'x/y'), { recursive: true });
      await mkdir(join(from, 'empty-dir'));
      await writeFile(join(from, 'IDENTITY'), 'snap-id\n');
      await writeFile(join(from, 'x/y/data.bin'), randomBytes(70_000));
      await nodeFs.link(join(from, 'x/y/data.bin'), join(from, 'hard.bin'));
      await writeFile(join(from, 'x/empty'), '');
      await writeFile(join(from, 'top.txt'), 'top');
      const hintsOut = join(tmp, 'snap-hints.json');
      const r = await cli(
        'snapshot',
        '--from',
        from,
        '--log',
        join(tmp, 'snap-log'),
        '--name',
        'test/snap',
        '--hints-out',
        hintsOut,
      );
      assertExit(r, 0, 'snapshot');
      assert.match(r.stdout, /3 files, 1 extra hard links, 1 properties, 70003 bytes/);
      assert.match(r.stderr, /empty directory \/empty-dir is not recorded/);
      const hints = hintsFromJSON(await readFile(hintsOut, 'utf8'));
      assert.deepEqual(hints.properties, [{ path: '/IDENTITY', content: 'snap-id\n' }]);
      assert.equal(hints.liveNodes.length, 3);

      const out = join(tmp, 'snap-out');
      assertExit(
        await run('play', '--log', join(tmp, 'snap-log'), '--hints', hintsOut, '--dir', out),
        0,
        'play of the snapshot',
      );
      await nodeFs.rmdir(join(from, 'empty-dir'));
      assert.equal(treeDigest(await readTree(out)), treeDigest(await readTree(from)));
    });

    it('fails on a symbolic link, leaving no journal behind (exit 1)', async () => {
      const from = join(tmp, 'snap-symlink');
      await mkdir(from);
      await writeFile(join(from, 'a'), 'a');
      await symlink('a', join(from, 'b'));
      const r = await run(
        'snapshot',
        '--from',
        from,
        '--log',
        join(tmp, 'snap-bad'),
        '--name',
        'test/bad',
      );
      assertExit(r, 1, 'snapshot of a symlink');
      assert.match(r.stderr, /symbolic link/);
      assert.equal(existsSync(join(tmp, 'snap-bad')), false);
    });
  });
});

describe('CLI helpers', () => {
  it('parseAuthor accepts decimal and hex uint32 authors, refuses 0 and overflow', () => {
    assert.equal(parseAuthor('1234'), 1234);
    assert.equal(parseAuthor('0xFFFFFFFF'), 0xffffffff);
    for (const bad of ['0', '4294967296', '-1', '12abc', '0x', '']) {
      assert.throws(() => parseAuthor(bad), /--handoff needs an author/, bad);
    }
  });

  it('renders progress lines and draws only on a TTY after the delay', () => {
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(10), '10 B');
    const line = renderProgressLine('playing', 512, 1024, 2);
    assert.match(line, /^playing \[#{20}-{20}\]  50\.0% 512 B\/1\.0 KiB 256 B\/s$/);

    const written: string[] = [];
    let now = 0;
    const tty = { isTTY: true, columns: 200, write: (t: string) => written.push(t) > 0 };
    const bar = createProgress({ label: 'x', total: 100, stream: tty, now: () => now });
    bar.update(10);
    assert.deepEqual(written, [], 'nothing drawn before the delay');
    now = 600;
    bar.update(50);
    assert.equal(written.length, 1);
    assert.match(written[0], /50\.0%/);
    now = 650;
    bar.update(60);
    assert.equal(written.length, 1, 'redraws are rate-limited');
    bar.finish();
    assert.equal(written[written.length - 1], '\r\x1b[K');

    const piped: string[] = [];
    const notTty = { write: (t: string) => piped.push(t) > 0 };
    const silent = createProgress({ label: 'x', total: 1, stream: notTty, now: () => 10_000 });
    silent.update(1);
    silent.finish();
    assert.deepEqual(piped, []);
  });

  it('ShadowFs keeps names, sizes and hard links but only retained contents', async () => {
    const shadow = new ShadowFs();
    shadow.retain('/r/keep');
    const a = await shadow.open('/r/drop', 'wx');
    await a.write(new Uint8Array(10), 0, 10, null);
    assert.equal(Number((await shadow.lstat('/r/drop')).size), 10);
    await assert.rejects(shadow.readFile('/r/drop'), /keeps no content/);
    const k = await shadow.open('/r/keep', 'w');
    await k.write(Buffer.from('hello'), 0, 5, 0);
    assert.equal(Buffer.from(await shadow.readFile('/r/keep')).toString(), 'hello');
    await shadow.link('/r/drop', '/r/drop2');
    assert.equal(Number((await shadow.lstat('/r/drop2')).size), 10);
    await shadow.unlink('/r/drop');
    await assert.rejects(shadow.lstat('/r/drop'), { code: 'ENOENT' });
    await assert.rejects(shadow.open('/r/drop2', 'wx'), { code: 'EEXIST' });
  });

  it('writeFileAtomically replaces a file whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'recoverylog-atomic-'));
    try {
      const file = join(dir, 'f');
      await writeFileAtomically(file, Buffer.from('one'));
      await writeFileAtomically(file, Buffer.from('two'));
      assert.equal(await readFile(file, 'utf8'), 'two');
      assert.deepEqual(await nodeFs.readdir(dir), ['f']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
