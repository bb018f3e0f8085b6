/**
 * The durable path of RecordedFs (issue 11), with RecorderOptions.flushDelayMs: the writes
 * between two fsyncs travel to the journal in ONE append, issued by the fsync while the file's own sync runs, rather than one commit per
 * write that the fsync then queues behind. Counted with a journal that records its appends and a
 * base whose file sync resolves only when the test says so (no timers).
 */
import assert from 'node:assert/strict';
import { Volume } from 'memfs';
import { FSM } from '../../src/fsm.js';
import type {
  AppendOptions,
  AppendResult,
  Journal,
  ReadOptions,
  ReadResult,
  Registers,
} from '../../src/journal/journal.js';
import { MemoryJournal } from '../../src/journal/memory.js';
import { RecordedFs, type BaseFileHandle, type BaseFs } from '../../src/recorded-fs.js';
import { Recorder } from '../../src/recorder.js';
import { readAllOps } from '../helpers/raw-log.js';

const LOG = 'tests/recorded-fs/sync-path';
const DIR = '/srv/data';

/** A journal that notes every append that carries bytes. */
class CountingJournal implements Journal {
  readonly dataAppends: number[] = [];
  constructor(readonly inner: Journal) {}
  get name(): string {
    return this.inner.name;
  }
  append(data: Uint8Array | readonly Uint8Array[], options?: AppendOptions): Promise<AppendResult> {
    const size = data instanceof Uint8Array ? data.length : data.reduce((n, c) => n + c.length, 0);
    if (size > 0) this.dataAppends.push(size);
    return this.inner.append(data, options);
  }
  read(offset: number, options: ReadOptions): Promise<ReadResult> {
    return this.inner.read(offset, options);
  }
  head(): Promise<number> {
    return this.inner.head();
  }
  registers(): Promise<Registers> {
    return this.inner.registers();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** memfs, whose file handles' sync and datasync wait for `release()`. */
function gatedBase(): { base: BaseFs; pendingSyncs: () => number; release: () => void } {
  const vol = new Volume();
  vol.mkdirSync(DIR, { recursive: true });
  const waiting: (() => void)[] = [];
  const gate = (): Promise<void> => new Promise((resolve) => waiting.push(resolve));
  const open = async (...args: unknown[]): Promise<BaseFileHandle> => {
    const handle = await (vol.promises.open as (...a: unknown[]) => Promise<BaseFileHandle>)(
      ...args,
    );
    return new Proxy(handle, {
      get(target, key) {
        if (key === 'sync' || key === 'datasync') return gate;
        const value = Reflect.get(target, key, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };
  const base = new Proxy(vol.promises, {
    get(target, key) {
      return key === 'open' ? open : Reflect.get(target, key, target);
    },
  }) as unknown as BaseFs;
  return {
    base,
    pendingSyncs: () => waiting.length,
    release: () => {
      for (const wake of waiting.splice(0)) wake();
    },
  };
}

async function setup() {
  const journal = new CountingJournal(new MemoryJournal(LOG));
  const fsm = new FSM({ log: LOG, liveNodes: [], properties: [] });
  // With a flush delay (RecorderOptions.flushDelayMs): writes wait for the sync's barrier.
  const recorder = await Recorder.open({ journal, fsm, author: 77, dir: DIR, flushDelayMs: 5 });
  const gated = gatedBase();
  return { journal, recorder, fs: new RecordedFs(recorder, gated.base), ...gated };
}

describe('RecordedFs durable path', () => {
  for (const call of ['sync', 'datasync'] as const) {
    it(`${call}: the writes since the last sync go in one journal append, issued while the file syncs`, async () => {
      const { journal, fs, pendingSyncs, release } = await setup();
      const handle = await fs.open(`${DIR}/wal`, 'w');
      await handle.write('put a=1\n');
      await handle.write('put b=2\n');
      await handle.write('put c=3\n');
      // Nothing is acknowledged yet, so nothing needed a commit of its own.
      assert.deepEqual(journal.dataAppends, []);

      const synced = handle[call]();
      // The journal append is issued at once, alongside the file's sync, not after it.
      assert.equal(pendingSyncs(), 1);
      assert.equal(journal.dataAppends.length, 1);
      let done = false;
      void synced.then(() => (done = true));
      await Promise.resolve();
      await Promise.resolve();
      assert.equal(done, false, 'acknowledged before the file sync finished');
      release();
      await synced;

      const ops = await readAllOps(journal);
      const writes = ops.filter((e) => e.op.write).map((e) => Buffer.from(e.payload!).toString());
      assert.deepEqual(writes, ['put a=1\n', 'put b=2\n', 'put c=3\n']);
      assert.equal(journal.dataAppends.length, 1);
      await handle.close();
    });
  }

  it('a failed journal append fails the sync (nothing acknowledged is lost)', async () => {
    const { journal, fs, release } = await setup();
    const handle = await fs.open(`${DIR}/wal`, 'w');
    await handle.write('x');
    await journal.inner.close(); // every later append rejects
    const synced = handle.sync();
    release();
    await assert.rejects(synced);
  });
});
