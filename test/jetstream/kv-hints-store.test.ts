/**
 * KvHintsStore on the real cluster: CAS between concurrent writers (no lost rotation), reads
 * from the leader (a second connection sees the last write at once), and no going backwards.
 */
import assert from 'node:assert/strict';
import { HintsRegressionError, KvHintsStore } from '../../src/kv-hints-store.js';
import { StoredHintsError } from '../../src/hints-store.js';
import type { FSMHints } from '../../src/wire/types.js';
import { cluster, summary } from './cluster.js';

function hintsAt(log: string, offset: number, fnode = 3): FSMHints {
  return {
    log,
    liveNodes: [
      {
        fnode,
        segments: [
          {
            author: 0xbeef,
            firstSeqNo: fnode,
            firstOffset: offset,
            firstChecksum: 0x1,
            lastSeqNo: fnode + 1,
            lastOffset: 0,
            log: '',
          },
        ],
      },
    ],
    properties: [{ path: '/IDENTITY', content: `at ${offset}` }],
  };
}

describe('KvHintsStore on a 3-node cluster', function () {
  this.timeout(60_000);
  const stores: KvHintsStore[] = [];
  let storeCount = 0;
  async function open(name: string, backups = 2): Promise<KvHintsStore> {
    const { urls } = await cluster();
    const store = await KvHintsStore.open({ servers: urls, bucket: 'rltest-hints', name, backups });
    stores.push(store);
    return store;
  }
  const uniqueName = (label: string): string =>
    `shard/${label}-${process.pid}-${(storeCount += 1)}`;
  afterEach(async function () {
    await Promise.all(stores.splice(0).map((store) => store.close().catch(() => undefined)));
  });

  it('stores primary and rotated backups; another connection reads them at once', async function () {
    const name = uniqueName('basic');
    const writer = await open(name);
    const reader = await open(name);
    const log = 'app/log-one';
    assert.deepEqual(await reader.pick(log), { log, liveNodes: [], properties: [] });
    await writer.storeRecovered(hintsAt(log, 10), { writeHead: 10 });
    await writer.storeRecovered(hintsAt(log, 20), { writeHead: 20 });
    await writer.storeRecovered(hintsAt(log, 30), { writeHead: 30 });
    await writer.storePrimary(hintsAt(log, 40), { writeHead: 40 });
    const stored = await reader.fetch(log);
    assert.equal(stored.primary?.properties[0]?.content, 'at 40');
    assert.deepEqual(
      stored.backups.map((h) => h?.properties[0]?.content),
      ['at 30', 'at 20'],
    );
    assert.equal((await reader.pick(log)).properties[0]?.content, 'at 40');
    await assert.rejects(reader.fetch('app/other-log'), StoredHintsError);
    summary.acknowledgedOps += 4;
  });

  it('concurrent writers: every rotation lands (compare-and-set, no lost update)', async function () {
    const name = uniqueName('cas');
    const log = 'app/log-cas';
    const writers = await Promise.all(Array.from({ length: 4 }, () => open(name, 8)));
    await Promise.all(
      writers.map(async (store, w) => {
        for (let i = 0; i < 2; i += 1)
          await store.storeRecovered(hintsAt(log, 100 + w * 10 + i, 3));
      }),
    );
    const stored = await writers[0]!.fetch(log);
    const contents = stored.backups
      .map((h) => h?.properties[0]?.content)
      .filter((c) => c !== undefined);
    assert.equal(contents.length, 8, 'all 8 concurrent rotations are kept');
    assert.equal(new Set(contents).size, 8);
    summary.acknowledgedOps += 8;
  });

  it('never goes backwards: a stale primary is refused and pick takes the newest', async function () {
    const name = uniqueName('regress');
    const log = 'app/log-350';
    const zombie = await open(name);
    const successor = await open(name);
    await zombie.storePrimary(hintsAt(log, 100), { writeHead: 100 });
    // A new owner recovers at write head 200 and stores its recovered hints as a backup ...
    await successor.storeRecovered(hintsAt(log, 200), { writeHead: 200 });
    // ... so pick prefers that backup over the older primary (gazette/core#350),
    assert.equal((await successor.pick(log)).properties[0]?.content, 'at 200');
    // ... and the fenced old recorder cannot store older hints any more.
    await assert.rejects(
      zombie.storePrimary(hintsAt(log, 150), { writeHead: 150 }),
      (error: unknown) => {
        assert.ok(error instanceof HintsRegressionError);
        assert.equal(error.code, 'HintsRegression');
        assert.equal(error.storedWriteHead, 200);
        assert.match(error.message, /backup\.0/);
        return true;
      },
    );
    assert.equal((await zombie.fetch(log)).primary?.properties[0]?.content, 'at 100');
    // The new owner's own primary moves forward.
    await successor.storePrimary(hintsAt(log, 250), { writeHead: 250 });
    assert.equal((await zombie.pick(log)).properties[0]?.content, 'at 250');
    // Hints of another log (a log change) are not compared with this log's write heads.
    await successor.storePrimary(hintsAt('app/log-next', 5), { writeHead: 5 });
    assert.equal((await zombie.fetch()).primary?.log, 'app/log-next');
    summary.acknowledgedOps += 4;
  });
});
