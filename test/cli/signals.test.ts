/**
 * The real `recoverylog` command, interrupted: SIGTERM/SIGINT in the middle of play, export,
 * snapshot, import and inspect on a big log must exit 143/130 and leave no partial output; a
 * SIGKILL leaves a partial output named after the dead process, which the next run reports and,
 * once it is old enough, removes (while partial outputs of live processes and other hosts stay).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  truncate,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  HOST,
  parsePartialName,
  partialPathFor,
  removeStalePartials,
} from '../../src/cli/partial.js';
import { handleSignals, InterruptedError } from '../../src/cli/signals.js';
import { FSM } from '../../src/fsm.js';
import { FileJournal } from '../../src/journal/file.js';
import { Recorder } from '../../src/recorder.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MARKER = '.recoverylog-partial.';
const MiB = 1024 * 1024;

/** A journal of `files` files of `fileMiB` MiB each (one 4 MiB random block repeated). */
async function makeBigLog(dir: string, name: string, files: number, fileMiB: number) {
  const journal = await FileJournal.create(dir, name);
  try {
    const recorder = await Recorder.open({
      journal,
      fsm: new FSM({ log: name, liveNodes: [], properties: [] }),
      author: 4242,
      dir: '/big',
    });
    const block = randomBytes(4 * MiB);
    for (let i = 0; i < files; i++) {
      const fnode = recorder.recordCreate(`/big/file-${i}`);
      for (let offset = 0; offset < fileMiB * MiB; offset += block.length) {
        recorder.recordWriteAt(fnode, block, offset);
      }
      await recorder.barrier();
    }
  } finally {
    await journal.close();
  }
}

interface Running {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `recoverylog ARGS` from source (stdin and stdout are pipes the test controls). */
function start(...args: string[]): Running {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args],
    {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stderr: () => stderr, exited };
}

/** Polls `check` until it returns a value (not undefined), failing after `ms`. */
async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function partialsIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.includes(MARKER)).map((n) => join(dir, n));
}

/** Waits until a partial output in `dir` passes `ready`, and returns its path. */
function partialReady(dir: string, ready: (path: string) => Promise<boolean>): Promise<string> {
  return waitFor(`a partial output in ${dir}`, async () => {
    for (const path of await partialsIn(dir)) if (await ready(path)) return path;
    return undefined;
  });
}

/** Asserts the run exited with `code` after the signal, saying so on stderr. */
async function assertInterrupted(run: Running, code: number, signal: string): Promise<void> {
  const { code: actual, signal: killedBy } = await run.exited;
  assert.equal(killedBy, null, `killed by ${killedBy}; stderr: ${run.stderr()}`);
  assert.equal(actual, code, `exit ${actual}; stderr: ${run.stderr()}`);
  assert.match(run.stderr(), new RegExp(`interrupted by ${signal}; partial outputs were removed`));
}

describe('recoverylog: SIGINT / SIGTERM / SIGKILL on the real command', function () {
  this.timeout(180_000);

  let tmp: string;
  let bigLog: string;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'recoverylog-signals-'));
    bigLog = join(tmp, 'big-log');
    // 256 MiB: a playback or export of it takes far longer than the test takes to react.
    await makeBigLog(bigLog, 'test/big', 32, 8);
  });

  after(() => rm(tmp, { recursive: true, force: true }));

  async function freshDir(name: string): Promise<string> {
    const dir = join(tmp, name);
    await mkdir(dir);
    return dir;
  }

  it('play: SIGTERM while staging files exits 143 and removes the partial tree (.fnodes)', async () => {
    const parent = await freshDir('play-term');
    const run = start('play', '--log', bigLog, '--dir', join(parent, 'out'));
    // Mid-run: the Player is writing staged files under the partial directory's .fnodes.
    await partialReady(parent, async (p) => (await readdir(join(p, '.fnodes'))).length > 0);
    run.child.kill('SIGTERM');
    await assertInterrupted(run, 143, 'SIGTERM');
    assert.deepEqual(await readdir(parent), []);
  });

  it('play: SIGINT leaves an existing (empty) --dir exactly as it was (exit 130)', async () => {
    const parent = await freshDir('play-int');
    const out = join(parent, 'out');
    await mkdir(out);
    const run = start('play', '--log', bigLog, '--dir', out);
    await partialReady(parent, async (p) => (await readdir(join(p, '.fnodes'))).length > 0);
    run.child.kill('SIGINT');
    await assertInterrupted(run, 130, 'SIGINT');
    assert.deepEqual(await readdir(parent), ['out']);
    assert.deepEqual(await readdir(out), []);
  });

  it('export --out FILE: SIGINT mid-copy exits 130, removes the partial file, keeps the old FILE', async () => {
    const parent = await freshDir('export-int');
    const out = join(parent, 'log.raw');
    await writeFile(out, 'the previous export');
    const run = start('export', '--log', bigLog, '--out', out);
    await partialReady(parent, async (p) => (await stat(p)).size > 0);
    run.child.kill('SIGINT');
    await assertInterrupted(run, 130, 'SIGINT');
    assert.deepEqual(await readdir(parent), ['log.raw']);
    assert.equal(await readFile(out, 'utf8'), 'the previous export');
  });

  it('export --out -: SIGTERM while blocked on a pipe nobody reads exits 143 at once', async () => {
    const run = start('export', '--log', bigLog, '--out', '-');
    // Nobody reads stdout: once the pipe and our side's buffer are full, the export waits.
    await waitFor('export output', async () =>
      run.child.stdout!.readableLength > 0 ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 300));
    const sent = Date.now();
    run.child.kill('SIGTERM');
    await assertInterrupted(run, 143, 'SIGTERM');
    // Well within the 10 s grace period: the wait for the reader was abandoned.
    assert.ok(Date.now() - sent < 5_000, `took ${Date.now() - sent} ms to stop`);
  });

  it('snapshot: SIGTERM mid-recording exits 143 and leaves no journal or partial directory', async () => {
    const parent = await freshDir('snapshot-term');
    const source = join(tmp, 'snapshot-source');
    await mkdir(source);
    // Sparse: reading it costs nothing, recording it writes 512 MiB to the journal.
    await writeFile(join(source, 'big.bin'), '');
    await truncate(join(source, 'big.bin'), 512 * MiB);
    const run = start(
      'snapshot',
      '--from',
      source,
      '--log',
      join(parent, 'log'),
      '--name',
      'test/snap',
    );
    await partialReady(parent, async (p) => {
      const sizes = await Promise.all(
        (await readdir(p)).map(async (n) => (await stat(join(p, n))).size),
      );
      return sizes.reduce((a, b) => a + b, 0) > 4 * MiB;
    });
    run.child.kill('SIGTERM');
    await assertInterrupted(run, 143, 'SIGTERM');
    assert.deepEqual(await readdir(parent), []);
  });

  it('import --raw -: SIGINT while waiting for more input exits 130 and leaves nothing', async () => {
    const parent = await freshDir('import-int');
    const run = start('import', '--raw', '-', '--log', join(parent, 'log'), '--name', 'test/stdin');
    run.child.stdin!.write(randomBytes(MiB)); // and the pipe stays open: import waits for more
    await partialReady(parent, async () => true);
    await new Promise((r) => setTimeout(r, 200));
    run.child.kill('SIGINT');
    await assertInterrupted(run, 130, 'SIGINT');
    assert.deepEqual(await readdir(parent), []);
    run.child.stdin!.destroy();
  });

  it('inspect --raw -: SIGTERM while waiting for the rest of a frame exits 143', async () => {
    const journal = await FileJournal.open(bigLog, { readOnly: true });
    let head: Uint8Array;
    try {
      // The first frames: a create, then a Write whose 4 MiB payload never arrives.
      head = (await journal.read(0, { blocking: false, maxBytes: 64 * 1024 })).bytes;
    } finally {
      await journal.close();
    }
    const run = start('inspect', '--raw', '-');
    let stdout = '';
    run.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    run.child.stdin!.write(head);
    // Its line printed: the command runs (signal handlers installed) and waits for more input.
    await waitFor('the first inspected frame', async () =>
      / create /.test(stdout) ? true : undefined,
    );
    run.child.kill('SIGTERM');
    await assertInterrupted(run, 143, 'SIGTERM');
    run.child.stdin!.destroy();
  });

  it('SIGKILL leaves a partial named after the dead process; later runs report it, then remove it once stale', async () => {
    const parent = await freshDir('killed');
    const out = join(parent, 'out');
    const killed = start('play', '--log', bigLog, '--dir', out);
    const partial = await partialReady(
      parent,
      async (p) => (await readdir(join(p, '.fnodes'))).length > 0,
    );
    killed.child.kill('SIGKILL');
    assert.equal((await killed.exited).signal, 'SIGKILL');
    // Recognisable: it names the process that made it, on this host.
    const owner = parsePartialName(partial.slice(parent.length + 1));
    assert.deepEqual(owner, { pid: killed.child.pid, host: HOST });

    // Partial outputs that must survive every run: one of a live process (this one) and one of
    // another host, both long untouched.
    const live = partialPathFor(join(parent, 'out'));
    const foreign = join(parent, `.out${MARKER}${killed.child.pid}.some-other-host.0badf00d`);
    const longAgo = new Date(Date.now() - 3600_000);
    for (const path of [live, foreign]) {
      await mkdir(path);
      await utimes(path, longAgo, longAgo);
    }

    // The next run (the same command) recovers; the dead run's partial is too recent to remove.
    const rerun = start('play', '--log', bigLog, '--dir', out);
    const first = await rerun.exited;
    assert.equal(first.code, 0, rerun.stderr());
    assert.match(
      rerun.stderr(),
      new RegExp(
        `note: ${escape(partial)} is a partial output left by process ${killed.child.pid} \\(no longer running\\)`,
      ),
    );
    assert.ok((await partialsIn(parent)).includes(partial));

    // Ten minutes later (its mtime moved back), a start-up script's run removes it.
    const elevenMinutesAgo = new Date(Date.now() - 11 * 60_000);
    await utimes(partial, elevenMinutesAgo, elevenMinutesAgo);
    const startup = start('play', '--log', bigLog, '--dir', out, '--if-not-exists');
    assert.equal((await startup.exited).code, 0, startup.stderr());
    assert.match(startup.stderr(), new RegExp(`note: removed ${escape(partial)}`));
    assert.match(startup.stderr(), /untouched for \d+ s/);
    assert.deepEqual((await partialsIn(parent)).sort(), [foreign, live].sort());
    assert.equal((await readdir(out)).length, 32);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('partial outputs and signal handling (in process)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'recoverylog-partials-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('names partial outputs by pid and host, and parses only such names', () => {
    const path = partialPathFor(join(dir, 'log.raw'));
    const name = path.slice(dir.length + 1);
    assert.match(name, new RegExp(`^\\.log\\.raw\\.recoverylog-partial\\.${process.pid}\\.`));
    assert.deepEqual(parsePartialName(name), { pid: process.pid, host: HOST });
    for (const other of [
      'log.raw',
      '.log.raw.tmp-1234',
      '.x.recoverylog-partial.12.host.zz',
      'x.recoverylog-partial.12.h.0badf00d',
    ]) {
      assert.equal(parsePartialName(other), undefined, other);
    }
  });

  it('removes only partials whose process is gone AND that are old (or from before boot)', async () => {
    const now = Date.now();
    const make = async (pid: number, host: string, ageMs: number) => {
      const path = join(dir, `.out${MARKER}${pid}.${host}.${randomBytes(4).toString('hex')}`);
      await mkdir(path);
      await writeFile(join(path, 'data'), 'x');
      const t = new Date(now - ageMs);
      await utimes(path, t, t);
      return path;
    };
    const dead = new Set([111, 222, 333, 444]);
    const isAlive = (pid: number) => !dead.has(pid);
    const deadOld = await make(111, HOST, 11 * 60_000);
    const deadYoung = await make(222, HOST, 60_000);
    const deadBeforeBoot = await make(333, HOST, 5 * 60_000);
    const aliveOld = await make(555, HOST, 24 * 3600_000);
    const otherHost = await make(444, `${HOST}-elsewhere`, 24 * 3600_000);
    const unrelated = join(dir, '.out.tmp-111-abc');
    await writeFile(unrelated, 'not ours');

    const found = await removeStalePartials(dir, {
      now,
      isAlive,
      bootedAt: now - 4 * 60_000, // booted 4 minutes ago: deadBeforeBoot predates it
    });
    const byPath = new Map(found.map((f) => [f.path, f.removed]));
    assert.equal(byPath.get(deadOld), true);
    assert.equal(byPath.get(deadBeforeBoot), true);
    assert.equal(byPath.get(deadYoung), false);
    assert.equal(byPath.has(aliveOld), false);
    assert.equal(byPath.has(otherHost), false);
    const left = (await readdir(dir)).map((n) => join(dir, n)).sort();
    assert.deepEqual(left, [aliveOld, deadYoung, otherHost, unrelated].sort());
  });

  it('first signal aborts with InterruptedError (130/143); a second one forces the exit', () => {
    const emitter = new EventEmitter();
    const controller = new AbortController();
    const forced: InterruptedError[] = [];
    const stop = handleSignals(controller, {
      target: emitter,
      graceMs: 60_000,
      forceExit: (reason) => forced.push(reason),
    });
    try {
      emitter.emit('SIGTERM', 'SIGTERM');
      assert.ok(controller.signal.aborted);
      const reason = controller.signal.reason as InterruptedError;
      assert.ok(reason instanceof InterruptedError);
      assert.equal(reason.code, 'Interrupted');
      assert.equal(reason.exitCode, 143);
      assert.deepEqual(forced, []);
      emitter.emit('SIGINT', 'SIGINT');
      assert.equal(forced.length, 1);
      assert.equal(forced[0], reason, 'the exit status is that of the first signal');
      emitter.emit('SIGINT', 'SIGINT');
      assert.equal(forced.length, 1);
    } finally {
      stop();
    }
    assert.equal(new InterruptedError('SIGINT').exitCode, 130);
  });

  it('forces the exit when the verb has not stopped within the grace period', async () => {
    const emitter = new EventEmitter();
    const forced: InterruptedError[] = [];
    const stop = handleSignals(new AbortController(), {
      target: emitter,
      graceMs: 50,
      forceExit: (reason) => forced.push(reason),
    });
    try {
      emitter.emit('SIGINT', 'SIGINT');
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(forced.length, 1);
      assert.equal(forced[0]!.signal, 'SIGINT');
    } finally {
      stop();
    }
  });
});
