/**
 * The file journal's commit path at concurrency 1 while this process holds the lock and its
 * epoch (issue 11, item 2): every call to storage and every timer counted. A commit is its
 * synchronous write + read-back and one fdatasync; the lock's doorbell, its linger and the idle
 * confirmation run on timers of their own, never once per commit. And a reader in another
 * process still sees each commit as it is made.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileJournal } from '../../src/journal/file.js';
import { dataFile, indexFile } from '../../src/journal/fragment-layout.js';
import { nodeStorage, type JournalStorage } from '../../src/journal/storage.js';
import { bytesOf } from '../helpers/journal-contract.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const TAIL_CHILD = fileURLToPath(new URL('./tail-child.ts', import.meta.url));

const scratch: string[] = [];
async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rl-lean-commit-'));
  scratch.push(dir);
  return dir;
}
after(async function () {
  await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
});

const HANDLE_CALLS = [
  'read',
  'write',
  'writev',
  'stat',
  'datasync',
  'sync',
  'readFile',
  'writeFile',
  'truncate',
  'close',
] as const;

/**
 * node:fs with every call counted: the storage's own (stat, open, readdir, link, …, as
 * `stat`, `open`, …) and those on opened files (as `file.read`, `file.datasync`, …). The
 * handles stay node:fs's own (methods replaced on the object), so the journal sees real files
 * and writes small commits with synchronous syscalls exactly as in production.
 */
function countingStorage(counts: Map<string, number>): JournalStorage {
  const count = (name: string): void => {
    counts.set(name, (counts.get(name) ?? 0) + 1);
  };
  const storage: Record<string, unknown> = { ...nodeStorage };
  for (const [name, original] of Object.entries(nodeStorage)) {
    if (typeof original !== 'function' || name === 'bootId' || name === 'pidNamespace') continue;
    storage[name] = (...args: unknown[]) => {
      count(name);
      return (original as (...a: unknown[]) => unknown)(...args);
    };
  }
  storage.open = async (path: string, flags: Parameters<JournalStorage['open']>[1]) => {
    count('open');
    const handle = await nodeStorage.open(path, flags);
    const methods = handle as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const name of HANDLE_CALLS) {
      const original = methods[name]!.bind(handle);
      methods[name] = (...args: unknown[]) => {
        count(`file.${name}`);
        return original(...args);
      };
    }
    return handle;
  };
  return storage as unknown as JournalStorage;
}

/**
 * Replaces the global setTimeout while installed: every timer is counted, and while `gate` is
 * closed one that comes due is held (its callback runs once the gate opens) instead of running.
 * So a measured stretch sees only what the commits themselves do, on any machine however slow.
 * Mocha keeps its own reference to the real setTimeout.
 */
class TimerGate {
  armed = 0;
  closed = false;
  private readonly held: Array<() => void> = [];
  private readonly real = globalThis.setTimeout;

  install(): void {
    const real = this.real;
    const gated = (callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      this.armed += 1;
      return real(() => {
        if (this.closed) this.held.push(() => callback(...args));
        else callback(...args);
      }, ms);
    };
    globalThis.setTimeout = gated as unknown as typeof setTimeout;
  }

  open(): void {
    this.closed = false;
    for (const callback of this.held.splice(0)) callback();
  }

  uninstall(): void {
    globalThis.setTimeout = this.real;
    this.open();
  }
}

function nonZero(counts: Map<string, number>): [string, number][] {
  return [...counts].filter(([, n]) => n !== 0).sort(([a], [b]) => a.localeCompare(b));
}

describe('FileJournal lean commit path (concurrency 1)', function () {
  this.timeout(30_000);
  const gate = new TimerGate();
  afterEach(() => gate.uninstall());

  it('100 commits cost 100 fdatasyncs and nothing else: no stat, no open, no timer per commit (found by issue 11)', async function () {
    gate.install();
    const counts = new Map<string, number>();
    const dir = join(await scratchDir(), 'log');
    let window: Map<string, number> | undefined;
    const journal = await FileJournal.create(dir, 'lean/calls', {
      storage: countingStorage(counts),
      // Calls from the commit's write to its resolution belong to that commit.
      hooks: { beforeWrite: () => void (window = new Map(counts)) },
    });
    const commitCalls = (): [string, number][] =>
      nonZero(new Map([...counts].map(([name, n]) => [name, n - (window?.get(name) ?? 0)])));
    const idle = async (): Promise<void> => {
      // Until the writer confirmed its last commit (one more fdatasync) and let the lock go.
      counts.clear();
      const deadline = Date.now() + 10_000;
      while ((await readdir(dir)).includes('lock') || (counts.get('file.datasync') ?? 0) < 1) {
        assert.ok(Date.now() < deadline, 'the idle writer neither confirmed nor released the lock');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(counts.get('file.datasync'), 1, 'one confirmation');
    };
    await journal.append(bytesOf(100, 0)); // makes the lock and the epoch
    await idle();
    gate.closed = true;
    await journal.append(bytesOf(100, 1)); // takes the lock again and arms its watch

    // Back to back (the next append queued as the previous resolves), then with the caller
    // yielding to the event loop between appends (the previous batch has fully ended).
    for (const pause of [false, true]) {
      counts.clear();
      gate.armed = 0;
      for (let i = 0; i < 100; i += 1) {
        await journal.append(bytesOf(100, i));
        assert.deepEqual(commitCalls(), [['file.datasync', 1]], `commit ${i}: its calls`);
        if (pause) await new Promise((resolve) => setImmediate(resolve));
      }
      await new Promise((resolve) => setImmediate(resolve)); // the last batch has ended
      assert.deepEqual(nonZero(counts), [['file.datasync', 100]], `all calls, pause ${pause}`);
      // At most the idle confirmation's timer, armed once: no timer is armed per commit.
      assert.ok(gate.armed <= 1, `${gate.armed} timers armed by 100 commits, pause ${pause}`);
    }

    // Idle, the timers run: the last commit is confirmed and the lock let go after its linger.
    gate.open();
    await idle();
    await journal.close();
    const again = await FileJournal.open(dir);
    assert.equal(await again.head(), 202 * 100);
    await again.close();
  });

  it('a reader in another process sees each commit of a writer at concurrency 1', async function () {
    const dir = join(await scratchDir(), 'log');
    const journal = await FileJournal.create(dir, 'lean/tail');
    await journal.append(bytesOf(10, 0)); // the writer holds the lock and its epoch from here
    const child: ChildProcessWithoutNullStreams = spawn(
      process.execPath,
      ['--import', 'tsx', TAIL_CHILD, dir],
      { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    try {
      let seen = -1;
      let output = '';
      let wake: (() => void) | undefined;
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        output += chunk;
        for (const match of output.matchAll(/^seen (\d+)$/gm)) seen = Number(match[1]);
        wake?.();
      });
      child.on('exit', () => wake?.());
      const until = async (what: string, done: () => boolean): Promise<void> => {
        while (!done()) {
          assert.equal(child.exitCode, null, `the reader exited before ${what}: ${output}`);
          await new Promise<void>((resolve) => (wake = resolve));
        }
        wake = undefined;
      };
      await until('ready', () => output.includes('ready'));
      for (let i = 1; i <= 40; i += 1) {
        const { end } = await journal.append(bytesOf(10 + i, i));
        // Nothing else happens meanwhile: the reader learns of this commit by itself.
        await until(`commit ${i}`, () => seen >= end);
        assert.equal(seen, end, `commit ${i}: the reader saw exactly up to it`);
      }
    } finally {
      child.kill('SIGKILL');
      await journal.close();
    }
  });

  it("a reader blocked in the writer's process: changes to our own fragment start no refresh, another writer's take-over wakes it", async function () {
    const counts = new Map<string, number>();
    const changes: Array<(file: string | null) => void> = [];
    const counting = countingStorage(counts);
    const storage: JournalStorage = {
      ...counting,
      watch: (dir, onChange) => {
        changes.push(onChange);
        return nodeStorage.watch?.(dir, onChange);
      },
    };
    const dir = join(await scratchDir(), 'log');
    const journal = await FileJournal.create(dir, 'lean/watch', {
      storage,
      pollIntervalMs: 600_000,
    });
    const other = await FileJournal.open(dir);
    try {
      const { end } = await journal.append(bytesOf(100, 1)); // epoch 1 is ours
      const blocked = journal.read(end, { blocking: true });
      while (changes.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      // The read's own refresh is over, the writer idle: its lock released after its linger.
      while ((await readdir(dir)).includes('lock')) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      counts.clear();
      // What our own commits look like to the directory watch: no refresh, so no stat.
      for (const change of changes) {
        change(indexFile(1));
        change(dataFile(1));
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(nonZero(counts), [], 'calls after changes to our own fragment');
      // Another writer fences epoch 1 and commits in epoch 2: the blocked reader learns of it
      // from the watch alone (polling is off).
      const theirs = await other.append(bytesOf(50, 2));
      assert.equal(theirs.begin, end);
      const { bytes } = await blocked;
      assert.deepEqual(bytes, bytesOf(50, 2));
    } finally {
      await other.close();
      await journal.close();
    }
  });
});
