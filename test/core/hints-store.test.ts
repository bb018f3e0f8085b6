import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HintsStore, HintsWriteError, StoredHintsError } from '../../src/hints-store.js';
import type { FSMHints } from '../../src/wire/types.js';

const LOG = 'examples/recovery-log';

function hintsAt(seq: number): FSMHints {
  return {
    log: LOG,
    liveNodes: [
      {
        fnode: seq,
        segments: [
          {
            author: 1234,
            firstSeqNo: seq,
            firstOffset: seq * 10,
            firstChecksum: 0,
            lastSeqNo: seq + 1,
            lastOffset: 0,
            log: '',
          },
        ],
      },
    ],
    properties: [{ path: '/IDENTITY', content: 'id' }],
  };
}

describe('HintsStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hints-store-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('falls back to replay-from-zero hints when nothing is stored', async () => {
    const store = new HintsStore(dir, 'shard');
    assert.deepEqual(await store.pick(LOG), { log: LOG, liveNodes: [], properties: [] });
  });

  it('prefers the primary, then the newest backup', async () => {
    const store = new HintsStore(dir, 'shard', { backups: 3 });
    await store.storeRecovered(hintsAt(1));
    assert.deepEqual(await store.pick(LOG), hintsAt(1));
    await store.storePrimary(hintsAt(5));
    assert.deepEqual(await store.pick(LOG), hintsAt(5));
  });

  it('rotates backups newest first and drops the oldest', async () => {
    const store = new HintsStore(dir, 'shard', { backups: 3 });
    for (const seq of [1, 2, 3, 4]) await store.storeRecovered(hintsAt(seq));
    const { primary, backups } = await store.fetch(LOG);
    assert.equal(primary, undefined);
    assert.deepEqual(backups, [hintsAt(4), hintsAt(3), hintsAt(2)]);
  });

  it('stops rotating at the first empty slot, as Gazette does', async () => {
    const store = new HintsStore(dir, 'shard', { backups: 3 });
    for (const seq of [1, 2, 3]) await store.storeRecovered(hintsAt(seq));
    await rm(store.backupPath(1));
    await store.storeRecovered(hintsAt(9));
    const { backups } = await store.fetch(LOG);
    assert.deepEqual(backups, [hintsAt(9), hintsAt(3), hintsAt(1)]);
  });

  it('writes JSON by default and protobuf on request; reads either', async () => {
    const json = new HintsStore(dir, 'j');
    await json.storePrimary(hintsAt(1));
    assert.equal((await readFile(json.primaryPath, 'utf8'))[0], '{');
    const proto = new HintsStore(dir, 'p', { format: 'protobuf' });
    await proto.storePrimary(hintsAt(2));
    assert.notEqual((await readFile(proto.primaryPath))[0], '{'.charCodeAt(0));
    assert.deepEqual(await proto.pick(LOG), hintsAt(2));
  });

  it('names the file and says what to do when stored hints are unusable', async () => {
    const store = new HintsStore(dir, 'shard');
    await writeFile(store.primaryPath, '{"log": 12');
    await assert.rejects(store.pick(LOG), (err: unknown) => {
      assert.ok(err instanceof StoredHintsError);
      assert.equal(err.code, 'StoredHints');
      assert.match(err.message, /shard\.primary/);
      assert.match(err.message, /Remove or replace/);
      return true;
    });
  });

  it('gives typed errors for unreadable files and failed writes', async () => {
    const store = new HintsStore(dir, 'shard');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(store.primaryPath); // a directory where the primary hints file should be
    await assert.rejects(store.pick(LOG), (err: unknown) => {
      assert.ok(err instanceof StoredHintsError);
      assert.match(err.message, /cannot be read/);
      return true;
    });
    await assert.rejects(store.storePrimary(hintsAt(1)), (err: unknown) => {
      assert.ok(err instanceof HintsWriteError);
      assert.equal(err.code, 'HintsWrite');
      assert.match(err.message, /shard\.primary/);
      return true;
    });
  });

  it('rejects hints recorded for another log', async () => {
    const store = new HintsStore(dir, 'shard');
    await store.storePrimary({ ...hintsAt(1), log: 'other/log' });
    await assert.rejects(store.pick(LOG), /hints are for log other\/log/);
  });

  it('leaves no temporary files behind', async () => {
    const store = new HintsStore(dir, 'shard');
    await store.storePrimary(hintsAt(1));
    await store.storeRecovered(hintsAt(2));
    const { readdir } = await import('node:fs/promises');
    assert.deepEqual((await readdir(dir)).sort(), ['shard.backup.0', 'shard.primary']);
  });
});
