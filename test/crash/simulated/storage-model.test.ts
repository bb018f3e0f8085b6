/**
 * Tests of the fault injector itself (LazyFS and Jepsen found bugs in theirs): the DiskModel's
 * persistence rules, the crash fates, FaultyFs's behaviour next to the real file system for
 * everything that is not a crash, and the FileJournal on FaultyFs keeping what it acknowledged.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import * as realFs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { FileJournal } from '../../../src/journal/file.js';
import { fatesFor, tearPoints, tornCuts } from '../lib/crash-modes.js';
import { DiskModel, ROOT_INO } from '../lib/disk-model.js';
import { FaultyFs } from '../lib/faulty-fs.js';

const KEEP = { op: () => ({ kind: 'keep' }) as const, keepDirChanges: () => true };
const DROP = { op: () => ({ kind: 'drop' }) as const, keepDirChanges: () => false };
const text = (bytes: Uint8Array | undefined): string | undefined =>
  bytes === undefined ? undefined : Buffer.from(bytes).toString();

async function fileOn(fs: FaultyFs, path: string, content: string, sync: boolean): Promise<void> {
  const handle = await fs.open(path, 'wx');
  await handle.write(Buffer.from(content), 0, content.length, 0);
  if (sync) await handle.sync();
  await handle.close();
}

describe('simulated crashes: the storage model', function () {
  it('loses unsynced writes and unsynced directory entries, keeps synced ones', async function () {
    const fs = new FaultyFs();
    await fs.mkdir('/d', { recursive: true });
    await (await fs.open('/', 'r')).sync();
    await fileOn(fs, '/d/synced', 'kept', true);
    await (await fs.open('/d', 'r')).sync();
    await fileOn(fs, '/d/unsynced-entry', 'data synced, entry not', true);
    const handle = await fs.open('/d/synced', 'r+');
    await handle.write(Buffer.from('XX'), 0, 2, 0);
    const crashed = fs.model.crash(DROP).files();
    assert.equal(text(crashed.get('/d/synced')), 'kept');
    assert.equal(crashed.has('/d/unsynced-entry'), false);
    const kept = fs.model.crash(KEEP).files();
    assert.equal(text(kept.get('/d/synced')), 'XXpt');
    assert.equal(text(kept.get('/d/unsynced-entry')), 'data synced, entry not');
  });

  it('disk faults: a lying sync and a no-op directory fsync make nothing durable, across reboots', async function () {
    for (const [faults, lost] of [
      [{ lyingSync: true }, 'bytes'],
      [{ noDirSync: true }, 'entry'],
    ] as const) {
      let fs = new FaultyFs(new DiskModel(), { faults });
      for (let boot = 0; boot < 2; boot++) {
        const path = `/f${boot}`;
        await fileOn(fs, path, 'synced?', true);
        await (await fs.open('/', 'r')).sync();
        const crashed = fs.model.crash(DROP).files();
        if (lost === 'bytes') assert.equal(text(crashed.get(path)), '', `boot ${boot}`);
        else assert.equal(crashed.has(path), false, `boot ${boot}`);
        // The syncs resolved as usual: nothing tells the code above that they lied.
        assert.equal(text(fs.model.crash(KEEP).files().get(path)), 'synced?');
        fs = fs.crash(KEEP);
        assert.deepEqual(fs.faults, faults);
      }
    }
  });

  it('a sync covers the writes issued before it was called, not those issued while it runs', async function () {
    const fs = new FaultyFs();
    await fileOn(fs, '/f', 'aaaa', false);
    await (await fs.open('/', 'r')).sync();
    const handle = await fs.open('/f', 'r+');
    const syncing = handle.sync();
    await handle.write(Buffer.from('bb'), 0, 2, 4);
    await syncing;
    assert.equal(text(fs.model.crash(DROP).files().get('/f')), 'aaaa');
    assert.equal(text(fs.model.crash(KEEP).files().get('/f')), 'aaaabb');
  });

  it('a sync takes effect only when its promise settles (so an early ack is visible)', async function () {
    const fs = new FaultyFs();
    await fileOn(fs, '/f', 'abc', false);
    const handle = await fs.open('/f', 'r+');
    const syncing = handle.sync();
    await Promise.resolve();
    assert.equal(fs.syncsInFlight, 1);
    assert.equal(fs.model.crash(DROP).files().has('/f'), false);
    await syncing;
    assert.equal(fs.syncsInFlight, 0);
  });

  it('tears, garbles and zeroes the last pending write; keeps prefixes and subsets in order', async function () {
    const fs = new FaultyFs();
    await fileOn(fs, '/f', '', true);
    await (await fs.open('/', 'r')).sync();
    const handle = await fs.open('/f', 'r+');
    await handle.write(Buffer.from('0123456789'), 0, 10, 0);
    await handle.write(Buffer.from('abcdef'), 0, 6, 10);
    const crash = (mode: Parameters<typeof fatesFor>[0]) =>
      text(fs.model.crash(fatesFor(mode, fs.model)).files().get('/f'));
    assert.equal(crash({ kind: 'torn-last', bytes: 2, grain: 1, dirs: 'keep' }), '0123456789ab');
    assert.equal(crash({ kind: 'prefix', keep: 1, dirs: 'keep' }), '0123456789');
    assert.equal(crash({ kind: 'prefix', keep: 0, dirs: 'keep' }), '');
    assert.equal(crash({ kind: 'subset', mask: 0b10, dirs: 'keep' }), '\0'.repeat(10) + 'abcdef');
    assert.equal(crash({ kind: 'zeros-last', dirs: 'keep' }), '0123456789' + '\0'.repeat(6));
    const garbage = crash({ kind: 'garbage-last', seed: 7, dirs: 'keep' })!;
    assert.equal(garbage.length, 16);
    assert.notEqual(garbage.slice(10), 'abcdef');
  });

  it('tears at sector and page boundaries of the file, not of the write', function () {
    assert.deepEqual(tornCuts(500, 600, 512), [12, 524]);
    assert.deepEqual(tornCuts(4000, 5000, 4096), [96, 4192]);
    const points = tearPoints(0, 5000, true);
    assert.ok(points.some((p) => p.bytes === 4096 && p.grain === 4096));
    assert.ok(points.some((p) => p.bytes === 512 && p.grain === 512));
    assert.ok(points.some((p) => p.bytes === 1 && p.grain === 1));
    assert.ok(points.every((p) => p.bytes > 0 && p.bytes < 5000));
  });

  it('a crashed machine refuses every call, syncs in flight included; the rebooted one has a new boot id', async function () {
    const fs = new FaultyFs();
    await fileOn(fs, '/f', 'x', false);
    const handle = await fs.open('/f', 'r+');
    const syncing = handle.sync();
    const rebooted = fs.crash(KEEP);
    await assert.rejects(syncing, /EIO/);
    await assert.rejects(fs.stat('/f'), /EIO/);
    assert.notEqual(rebooted.bootId(), fs.bootId());
    assert.equal(text(await rebooted.readFile('/f')), 'x');
  });

  it('behaves like node:fs for everything but crashes (random operation sequences)', async function () {
    const names = ['a', 'b', 'c'];
    const op = fc.oneof(
      fc.record({ t: fc.constant('create' as const), n: fc.constantFrom(...names) }),
      fc.record({
        t: fc.constant('write' as const),
        n: fc.constantFrom(...names),
        at: fc.nat({ max: 20 }),
        data: fc.string({ minLength: 1, maxLength: 8 }),
      }),
      fc.record({
        t: fc.constant('truncate' as const),
        n: fc.constantFrom(...names),
        size: fc.nat({ max: 12 }),
      }),
      fc.record({
        t: fc.constant('rename' as const),
        n: fc.constantFrom(...names),
        to: fc.constantFrom(...names),
      }),
      fc.record({
        t: fc.constant('link' as const),
        n: fc.constantFrom(...names),
        to: fc.constantFrom(...names),
      }),
      fc.record({ t: fc.constant('unlink' as const), n: fc.constantFrom(...names) }),
    );
    const root = await mkdtemp(join(tmpdir(), 'recoverylog-faultyfs-'));
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 12 }), async (ops) => {
          const dir = join(root, String(run++));
          await realFs.mkdir(dir);
          const sim = new FaultyFs();
          await sim.mkdir('/r', { recursive: true });
          const apply = async (
            fs: Pick<FaultyFs, 'open' | 'rename' | 'link' | 'unlink'>,
            base: string,
            o: (typeof ops)[number],
          ): Promise<string> => {
            const p = (n: string) => join(base, n);
            try {
              switch (o.t) {
                case 'create':
                  await (await fs.open(p(o.n), 'wx')).close();
                  break;
                case 'write': {
                  const h = await fs.open(p(o.n), 'r+');
                  const bytes = Buffer.from(o.data);
                  await h.write(bytes, 0, bytes.length, o.at);
                  await h.close();
                  break;
                }
                case 'truncate': {
                  const h = await fs.open(p(o.n), 'r+');
                  await h.truncate(o.size);
                  await h.close();
                  break;
                }
                case 'rename':
                  await fs.rename(p(o.n), p(o.to));
                  break;
                case 'link':
                  await fs.link(p(o.n), p(o.to));
                  break;
                case 'unlink':
                  await fs.unlink(p(o.n));
                  break;
              }
              return 'ok';
            } catch (error) {
              return String((error as { code?: string }).code);
            }
          };
          for (const o of ops) {
            const real = await apply(realFs as unknown as FaultyFs, dir, o);
            const simulated = await apply(sim, '/r', o);
            assert.equal(simulated, real, `outcome of ${JSON.stringify(o)}`);
          }
          for (const n of names) {
            const real = await realFs.readFile(join(dir, n)).then(String, () => undefined);
            const simulated = await sim.readFile(`/r/${n}`).then(String, () => undefined);
            assert.equal(simulated, real, `content of ${n}`);
          }
          assert.deepEqual(await sim.readdir('/r'), (await realFs.readdir(dir)).sort());
        }),
        { numRuns: 300 },
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('the FileJournal on it keeps every acknowledged append through a crash that drops the rest', async function () {
    const fs = new FaultyFs();
    await fs.mkdir('/disk', { recursive: true });
    fs.model.apply({ t: 'dirsync', ino: ROOT_INO, entries: fs.model.dir(ROOT_INO).entries });
    const journal = await FileJournal.create('/disk/j', 'test/journal', { storage: fs });
    const acked = await journal.append(Buffer.from('hello '));
    const pending = journal.append(Buffer.from('world')).catch(() => undefined);
    const rebooted = fs.crash(DROP);
    await pending;
    const reopened = await FileJournal.open('/disk/j', { storage: rebooted });
    assert.ok((await reopened.head()) >= acked.end);
    const { bytes } = await reopened.read(0, { blocking: false });
    assert.equal(text(bytes.subarray(0, acked.end)), 'hello ');
    await reopened.close();
  });

  it('rebuilds a disk from its files (corpus cases)', function () {
    const disk = DiskModel.fromFiles(new Map([['/x/y/z', Buffer.from('q')]]));
    assert.equal(disk.hasUnsynced(), false);
    assert.equal(text(disk.crash(DROP).files().get('/x/y/z')), 'q');
  });
});
