/**
 * The command as scripts and operators use it: `--version`, standard input and output ("-"),
 * `--out` that replaces regular files only, `play --if-not-exists`, a play that fails or is
 * refused leaving the target as it was, and operating-system errors as typed errors that name
 * the file (regressions of issue 9: `/dev/full` replaced by a file, a file named "-", raw
 * EACCES/ENOENT).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { typedError, FileSystemError } from '../../src/cli/file-errors.js';
import { journalChunks } from '../../src/cli/inspect-log.js';
import { packageVersion } from '../../src/cli/main.js';
import { FSM } from '../../src/fsm.js';
import { decodeHints, hintsFromJSON } from '../../src/hints.js';
import { FileJournal } from '../../src/journal/file.js';
import { Recorder } from '../../src/recorder.js';
import { assertExit, cli, cliRaw, run } from '../helpers/cli-run.js';

const LOG_NAME = 'test/scripting';
const MARKER = '.recoverylog-partial.';

async function journalBytes(dir: string): Promise<Buffer> {
  const journal = await FileJournal.open(dir, { readOnly: true });
  try {
    const parts: Uint8Array[] = [];
    for await (const chunk of journalChunks(journal)) parts.push(chunk);
    return Buffer.concat(parts);
  } finally {
    await journal.close();
  }
}

/** Names in `dir` that are partial outputs. */
async function partials(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.includes(MARKER));
}

describe('recoverylog for scripts and operators', function () {
  this.timeout(120_000);

  let tmp: string;
  let logDir: string;
  let raw: Buffer;
  const files: Record<string, string> = {
    'a.txt': 'alpha\n',
    'sub/b.txt': 'bravo\n',
    'sub/deeper/c.bin': randomBytes(70_000).toString('base64'),
  };

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'recoverylog-scripting-'));
    logDir = join(tmp, 'log');
    const journal = await FileJournal.create(logDir, LOG_NAME);
    try {
      const recorder = await Recorder.open({
        journal,
        fsm: new FSM({ log: LOG_NAME, liveNodes: [], properties: [] }),
        author: 99,
        dir: '/rec',
      });
      for (const [path, content] of Object.entries(files)) {
        const fnode = recorder.recordCreate(`/rec/${path}`);
        recorder.recordWriteAt(fnode, Buffer.from(content), 0);
      }
      await recorder.barrier();
    } finally {
      await journal.close();
    }
    raw = await journalBytes(logDir);
  });

  after(() => rm(tmp, { recursive: true, force: true }));

  async function assertRecovered(dir: string): Promise<void> {
    for (const [path, content] of Object.entries(files)) {
      assert.equal(await readFile(join(dir, path), 'utf8'), content, path);
    }
  }

  describe('--version', () => {
    it('prints the package.json version and exits 0', async () => {
      const pkg = JSON.parse(
        await readFile(new URL('../../package.json', import.meta.url), 'utf8'),
      );
      assert.equal(packageVersion(), pkg.version);
      const inProcess = await run('--version');
      assertExit(inProcess, 0, '--version');
      assert.equal(inProcess.stdout, `recoverylog ${pkg.version}\n`);
      const child = await cli('-V');
      assertExit(child, 0, '-V');
      assert.equal(child.stdout, `recoverylog ${pkg.version}\n`);
    });
  });

  describe('standard input and output', () => {
    it('export --out - writes the exact bytes to stdout (summary on stderr), and no file "-"', async () => {
      const r = await cliRaw(['export', '--log', logDir, '--out', '-']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.equals(raw), 'stdout differs from the journal bytes');
      assert.match(r.stderr, new RegExp(`exported ${raw.length} bytes .* to standard output`));
      await assert.rejects(stat(join(tmp, '-')), { code: 'ENOENT' });
      await assert.rejects(stat(join(process.cwd(), '-')), { code: 'ENOENT' });
    });

    it('import --raw - reads the log from stdin; it plays back', async () => {
      const imported = join(tmp, 'from-stdin');
      const r = await cliRaw(['import', '--raw', '-', '--log', imported, '--name', 'test/stdin'], {
        input: raw,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout.toString(), /imported \d+ bytes .* from standard input/);
      assert.ok((await journalBytes(imported)).equals(raw));
      assertExit(await run('play', '--log', imported, '--dir', join(tmp, 'stdin-out')), 0, 'play');
      await assertRecovered(join(tmp, 'stdin-out'));
    });

    it('export - | import - round-trips a log larger than one transfer chunk', async () => {
      const big = randomBytes(9 * 1024 * 1024);
      const bigRaw = join(tmp, 'big.raw');
      await writeFile(bigRaw, big);
      assertExit(
        await cli('import', '--raw', bigRaw, '--log', join(tmp, 'big1'), '--name', 'a/big'),
        0,
        'import',
      );
      const exported = await cliRaw(['export', '--log', join(tmp, 'big1'), '--out', '-']);
      assert.equal(exported.code, 0, exported.stderr);
      const again = await cliRaw(
        ['import', '--raw', '-', '--log', join(tmp, 'big2'), '--name', 'a/big'],
        {
          input: exported.stdout,
        },
      );
      assert.equal(again.code, 0, again.stderr);
      assert.ok((await journalBytes(join(tmp, 'big2'))).equals(big));
    });

    it('hints --out - prints JSON or protobuf hints to stdout', async () => {
      const json = await cliRaw(['hints', '--log', logDir, '--out', '-']);
      assert.equal(json.code, 0, json.stderr);
      const proto = await cliRaw(['hints', '--log', logDir, '--out', '-', '--format', 'protobuf']);
      assert.equal(proto.code, 0, proto.stderr);
      assert.deepEqual(decodeHints(proto.stdout), hintsFromJSON(json.stdout.toString()));
    });
  });

  describe('--out replaces regular files only', () => {
    it('refuses a symlink, FIFO, character device and directory (exit 2), touching nothing', async () => {
      const dir = join(tmp, 'outs');
      await mkdir(dir);
      const regular = join(dir, 'regular.raw');
      await writeFile(regular, 'keep');
      const link = join(dir, 'link.raw');
      await symlink(regular, link);
      const fifo = join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      const subdir = join(dir, 'subdir');
      await mkdir(subdir);
      const cases: [string, RegExp][] = [
        [link, /is a symbolic link/],
        [fifo, /is a FIFO/],
        ['/dev/full', /is a character device/],
        ['/dev/null', /is a character device/],
        [subdir, /is a directory/],
      ];
      for (const [out, kind] of cases) {
        const r = await run('export', '--log', logDir, '--out', out);
        assertExit(r, 2, `export --out ${out}`);
        assert.match(r.stderr, kind);
        assert.match(r.stderr, /nothing was written/);
      }
      // A FIFO is refused before it is opened (which would block): the child exits too.
      const child = await cliRaw(['hints', '--log', logDir, '--out', fifo]);
      assert.equal(child.code, 2, child.stderr);
      const snap = await run(
        'snapshot',
        '--from',
        join(tmp, 'outs'),
        '--log',
        join(tmp, 'never-made'),
        '--name',
        'a/b/c',
        '--hints-out',
        link,
      );
      assertExit(snap, 2, 'snapshot --hints-out symlink');
      await assert.rejects(stat(join(tmp, 'never-made')), { code: 'ENOENT' });

      assert.equal(await readlink(link), regular);
      assert.equal(await readFile(regular, 'utf8'), 'keep');
      assert.ok((await lstat(fifo)).isFIFO());
      assert.ok((await lstat('/dev/full')).isCharacterDevice());
      assert.deepEqual(await readdir(subdir), []);
      assert.deepEqual((await readdir(dir)).sort(), ['fifo', 'link.raw', 'regular.raw', 'subdir']);
    });

    it('replaces a regular file whole, leaving no partial file', async () => {
      const out = join(tmp, 'replace.raw');
      await writeFile(out, 'old content, longer than nothing');
      assertExit(await run('export', '--log', logDir, '--out', out), 0, 'export');
      assert.ok((await readFile(out)).equals(raw));
      assert.deepEqual(await partials(tmp), []);
    });
  });

  describe('play --if-not-exists, and a target left as it was', () => {
    it('plays into an absent or empty --dir; leaves a restored tree untouched (exit 0)', async () => {
      const out = join(tmp, 'startup');
      const first = await run('play', '--log', logDir, '--dir', out, '--if-not-exists');
      assertExit(first, 0, 'first start-up');
      assert.match(first.stdout, /^played /);
      await assertRecovered(out);
      // The application runs and changes its directory...
      await writeFile(join(out, 'a.txt'), 'changed by the application');
      await writeFile(join(out, 'new.txt'), 'written by the application');
      // ...and the next start-up leaves it alone.
      const second = await run('play', '--log', logDir, '--dir', out, '--if-not-exists');
      assertExit(second, 0, 'second start-up');
      assert.match(
        second.stdout,
        /already holds a restored tree: nothing done \(--if-not-exists\)/,
      );
      assert.equal(await readFile(join(out, 'a.txt'), 'utf8'), 'changed by the application');
      assert.equal(await readFile(join(out, 'new.txt'), 'utf8'), 'written by the application');

      const empty = join(tmp, 'startup-empty');
      await mkdir(empty);
      assertExit(await run('play', '--log', logDir, '--dir', empty, '--if-not-exists'), 0, 'empty');
      await assertRecovered(empty);
    });

    it('does not take a killed in-place playback (.fnodes) for a restore', async () => {
      const out = join(tmp, 'half');
      await mkdir(join(out, '.fnodes'), { recursive: true });
      await writeFile(join(out, '.fnodes', '7'), 'half a file');
      const refused = await run('play', '--log', logDir, '--dir', out, '--if-not-exists');
      assertExit(refused, 1, 'refused');
      assert.match(refused.stderr, /holds \.fnodes: a playback into it was killed/);
      assert.deepEqual(await readdir(out), ['.fnodes']);
      const forced = await run('play', '--log', logDir, '--dir', out, '--if-not-exists', '--force');
      assertExit(forced, 0, '--force');
      await assertRecovered(out);
      assert.equal((await readdir(out)).includes('.fnodes'), false);
    });

    it('a failed play --force leaves the old --dir as it was', async () => {
      const garbageLog = join(tmp, 'garbage-log');
      const garbage = join(tmp, 'garbage.raw');
      await writeFile(garbage, randomBytes(4096));
      assertExit(
        await run('import', '--raw', garbage, '--log', garbageLog, '--name', 'a/junk'),
        0,
        'import',
      );
      const out = join(tmp, 'precious');
      await mkdir(out);
      await writeFile(join(out, 'precious.txt'), 'keep me');
      const r = await run('play', '--log', garbageLog, '--dir', out, '--force');
      assertExit(r, 1, 'strict play of garbage');
      assert.deepEqual(await readdir(out), ['precious.txt']);
      assert.equal(await readFile(join(out, 'precious.txt'), 'utf8'), 'keep me');
      assert.deepEqual(await partials(tmp), []);
    });

    it('plays into the directory a symlinked --dir points to, keeping the link', async () => {
      const real = join(tmp, 'real-target');
      await mkdir(real);
      const link = join(tmp, 'link-target');
      await symlink(real, link);
      assertExit(await run('play', '--log', logDir, '--dir', link), 0, 'play via a symlink');
      assert.ok((await lstat(link)).isSymbolicLink());
      await assertRecovered(real);
    });
  });

  describe('operating-system errors are typed and name the file', () => {
    it('ENOENT: a missing --raw, --from, --out directory or --hints file', async () => {
      const missing = join(tmp, 'no-such');
      const cases: [string[], RegExp][] = [
        [
          ['import', '--raw', join(missing, 'x.raw'), '--log', join(tmp, 'n1'), '--name', 'a/b/c'],
          /cannot read .*no-such\/x\.raw \(--raw\): no such file or directory \(ENOENT\); check the path/,
        ],
        [
          ['snapshot', '--from', missing, '--log', join(tmp, 'n2'), '--name', 'a/b/c'],
          /cannot read .*no-such \(--from\): no such file or directory \(ENOENT\)/,
        ],
        [
          ['export', '--log', logDir, '--out', join(missing, 'x.raw')],
          /cannot write into the directory .*no-such \(--out\): no such file or directory \(ENOENT\)/,
        ],
        [
          ['play', '--log', logDir, '--hints', join(missing, 'h.json'), '--dir', join(tmp, 'n3')],
          /cannot read the hints file .*no-such\/h\.json \(--hints\): no such file or directory/,
        ],
      ];
      for (const [args, message] of cases) {
        const r = await run(...args);
        assertExit(r, 1, args.join(' '));
        assert.match(r.stderr, message);
      }
    });

    it('EACCES: an unwritable --out or --dir directory, an unreadable --raw file', async function () {
      const locked = join(tmp, 'locked');
      await mkdir(locked);
      await writeFile(join(locked, 'secret.raw'), raw);
      await chmod(join(locked, 'secret.raw'), 0o600);
      await chmod(locked, 0o755);
      await chmod(tmp, 0o755);
      // As root, permissions do not apply: run the command as "nobody" instead.
      const asUser =
        process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : ({} as Record<string, never>);
      if (process.getuid?.() !== 0) await chmod(locked, 0o555);
      const cases: [string[], RegExp][] = [
        [
          ['export', '--log', logDir, '--out', join(locked, 'x.raw')],
          /cannot create .*locked\/\.x\.raw\.recoverylog-partial\.\S+ \(--out\): permission denied \(EACCES\); check the permissions/,
        ],
        [
          ['play', '--log', logDir, '--dir', join(locked, 'out')],
          /cannot create a directory in .*locked \(--dir\): permission denied \(EACCES\)/,
        ],
        [
          [
            'import',
            '--raw',
            join(locked, 'secret.raw'),
            '--log',
            join(tmp, 'n4'),
            '--name',
            'a/b/c',
          ],
          /cannot read .*locked\/secret\.raw \(--raw\): permission denied \(EACCES\)/,
        ],
      ];
      try {
        for (const [args, message] of cases) {
          const r = await cliRaw(args, asUser);
          assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
          assert.match(r.stderr, message);
          assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
        }
        assert.deepEqual((await readdir(locked)).sort(), ['secret.raw']);
      } finally {
        await chmod(locked, 0o755);
      }
    });

    it('the dispatcher types any operating-system error that reaches it', () => {
      const raw = Object.assign(new Error("EACCES: permission denied, open '/x/y'"), {
        code: 'EACCES',
        syscall: 'open',
        path: '/x/y',
      });
      const typed = typedError(raw);
      assert.ok(typed instanceof FileSystemError);
      assert.equal(typed.code, 'FileSystem');
      assert.equal(typed.errno, 'EACCES');
      assert.equal(typed.path, '/x/y');
      assert.match(
        typed.message,
        /^cannot open \/x\/y: permission denied \(EACCES\); check the permissions/,
      );
      const other = new Error('not an OS error');
      assert.equal(typedError(other), other);
    });
  });
});
