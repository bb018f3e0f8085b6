/**
 * JetStreamJournal beyond the shared contract, on the real cluster: fencing between two writers
 * (separate connections, as two machines would have), multi-part appends read atomically, parts
 * orphaned by a writer that died between them, reopening, and pruning by purge.
 */
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { JetStreamJournal, type JetStreamJournalOptions } from '../../src/journal/jetstream.js';
import {
  OffsetNotYetAvailableError,
  PruneRefusedError,
  RegisterMismatchError,
} from '../../src/journal/errors.js';
import { partHeaders } from '../../src/journal/jetstream-parts.js';
import type { FSMHints } from '../../src/wire/types.js';
import { bytesOf, concatBytes, readAll } from '../helpers/journal-contract.js';
import { cluster, summary, uniqueLocation } from './cluster.js';

describe('JetStreamJournal on a 3-node cluster', function () {
  this.timeout(120_000);
  const opened: JetStreamJournal[] = [];

  async function open(
    name: string,
    location: { stream: string; subject: string },
    options: Partial<JetStreamJournalOptions> = {},
  ): Promise<JetStreamJournal> {
    const { urls } = await cluster();
    const journal = await JetStreamJournal.open(name, { servers: urls, ...location, ...options });
    opened.push(journal);
    return journal;
  }

  afterEach(async function () {
    await Promise.all(opened.splice(0).map((journal) => journal.close().catch(() => undefined)));
  });

  describe('fencing', function () {
    it('a stale writer is rejected after a hand-off; nothing acknowledged is lost', async function () {
      const location = uniqueLocation('fence');
      const a = await open('fence/zombie', location);
      const acknowledged: { begin: number; bytes: Uint8Array }[] = [];
      const first = bytesOf(40, 1);
      acknowledged.push({
        begin: (await a.append(first, { unionRegisters: { author: 'a' } })).begin,
        bytes: first,
      });
      for (let i = 2; i < 6; i += 1) {
        const data = bytesOf(30 + i, i);
        const result = await a.append(data, { checkRegisters: { author: 'a' } });
        acknowledged.push({ begin: result.begin, bytes: data });
      }
      // Another machine takes over: a barrier that sets the author register.
      const b = await open('fence/zombie', location);
      const handoff = await b.append(new Uint8Array(0), {
        checkRegisters: { author: 'a' },
        unionRegisters: { author: 'b' },
      });
      assert.equal(handoff.begin, await a.head());
      const bData = bytesOf(77, 9);
      const bResult = await b.append(bData, { checkRegisters: { author: 'b' } });
      acknowledged.push({ begin: bResult.begin, bytes: bData });

      // The zombie still believes the old tip: its publish is refused by the expected sequence,
      // and after re-reading the tip its register check fails. Its barrier fails too.
      await assert.rejects(
        a.append(bytesOf(500, 3), { checkRegisters: { author: 'a' } }),
        (error: unknown) => {
          assert.ok(error instanceof RegisterMismatchError);
          assert.deepEqual(error.actual, { author: 'b' });
          return true;
        },
      );
      await assert.rejects(
        a.append(new Uint8Array(0), { checkRegisters: { author: 'a' } }),
        RegisterMismatchError,
      );
      const reader = await open('fence/zombie', location);
      const all = await readAll(reader);
      assert.deepEqual(all, concatBytes(acknowledged.map((entry) => entry.bytes)));
      for (const entry of acknowledged) {
        assert.deepEqual(
          all.subarray(entry.begin, entry.begin + entry.bytes.byteLength),
          entry.bytes,
        );
      }
      assert.deepEqual(await reader.registers(), { author: 'b' });
      summary.acknowledgedOps += acknowledged.length;
    });

    it('two writers racing without registers: every acknowledged append is present exactly once', async function () {
      const location = uniqueLocation('race');
      const writers = [await open('race/two', location), await open('race/two', location)];
      const acknowledged: { begin: number; end: number; bytes: Uint8Array }[] = [];
      await Promise.all(
        writers.map(async (journal, w) => {
          for (let i = 0; i < 40; i += 1) {
            const data = bytesOf(10 + ((i * 7) % 50), w * 1000 + i);
            const pending = journal.append(data);
            if (i % 3 !== 2) {
              const result = await pending;
              acknowledged.push({ ...result, bytes: data });
            } else {
              // Some appends overlap with the next one from the same writer.
              void pending.then((result) => acknowledged.push({ ...result, bytes: data }));
            }
          }
          // Let the unawaited ones settle.
          await journal.append(new Uint8Array(0));
        }),
      );
      assert.equal(acknowledged.length, 80);
      acknowledged.sort((x, y) => x.begin - y.begin);
      let end = 0;
      for (const entry of acknowledged) {
        assert.equal(entry.begin, end, 'acknowledged appends tile the journal without gaps');
        end = entry.end;
      }
      const all = await readAll(writers[0] as JetStreamJournal);
      assert.deepEqual(all, concatBytes(acknowledged.map((entry) => entry.bytes)));
      summary.acknowledgedOps += acknowledged.length;
    });
  });

  describe('multi-message appends', function () {
    it('an append larger than a message is read whole or not at all', async function () {
      const location = uniqueLocation('multi');
      const writer = await open('multi/part', location, { maxPartBytes: 1000 });
      const reader = await open('multi/part', location);
      const sizes = [10_500, 3, 4_000, 2_001, 12_345];
      const ends = new Set<number>([0]);
      let total = 0;
      for (const size of sizes) ends.add((total += size));
      let writing = true;
      const observed: number[] = [];
      const watcher = (async () => {
        while (writing) {
          const seen = (await readAll(reader)).byteLength;
          observed.push(seen);
          assert.ok(ends.has(seen), `a reader saw ${seen} bytes: not a whole number of appends`);
        }
      })();
      const parts = sizes.map((size, i) => bytesOf(size, 50 + i));
      for (const part of parts) await writer.append(part);
      writing = false;
      await watcher;
      assert.ok(observed.length > 0);
      assert.deepEqual(await readAll(reader), concatBytes(parts));
      // Reads at any offset inside a multi-part commit return its bytes.
      const middle = await reader.read(7_777, { blocking: false });
      assert.equal(middle.offset, 7_777);
      // (A read may go on into the following whole commits.)
      assert.deepEqual(
        middle.bytes,
        concatBytes(parts).subarray(7_777, 7_777 + middle.bytes.byteLength),
      );
      summary.acknowledgedOps += sizes.length;
    });

    it('appends beyond max_payload (3 MiB) are split and read back exactly', async function () {
      const location = uniqueLocation('big');
      const journal = await open('multi/big', location);
      const big = bytesOf(3 * 1024 * 1024 + 17, 5);
      assert.deepEqual(await journal.append(big), { begin: 0, end: big.byteLength });
      const small = bytesOf(9, 6);
      await journal.append(small);
      const reader = await open('multi/big', location);
      assert.deepEqual(await readAll(reader), concatBytes([big, small]));
      summary.acknowledgedOps += 2;
    });

    it('parts orphaned by a writer that died between them are never read', async function () {
      const location = uniqueLocation('orphan');
      const journal = await open('multi/orphan', location);
      const first = bytesOf(100, 1);
      await journal.append(first, { unionRegisters: { author: 'a' } });
      // A writer dies after part 0 of 2: publish that part alone, as it would have.
      const { urls } = await cluster();
      const nc = await connect({ servers: urls });
      try {
        const h = headers();
        for (const [key, value] of partHeaders({
          commit: 'dead-writer.1.1',
          begin: 100,
          end: 300,
          index: 0,
          count: 2,
          offset: 100,
          registers: { author: 'a' },
        })) {
          h.set(key, value);
        }
        await jetstream(nc).publish(location.subject, bytesOf(100, 2), {
          headers: h,
          expect: { lastSubjectSequence: 1 },
        });
      } finally {
        await nc.close();
      }
      const reader = await open('multi/orphan', location);
      assert.equal(await reader.head(), 100);
      assert.deepEqual(await reader.registers(), { author: 'a' });
      await assert.rejects(reader.read(100, { blocking: false }), OffsetNotYetAvailableError);
      // The next writer appends after the orphan, at the same offset.
      const next = bytesOf(50, 3);
      assert.deepEqual(await reader.append(next, { checkRegisters: { author: 'a' } }), {
        begin: 100,
        end: 150,
      });
      // The first journal's cached tip is stale: its append is fenced, re-planned and lands after.
      const later = bytesOf(20, 4);
      assert.deepEqual(await journal.append(later), { begin: 150, end: 170 });
      const fresh = await open('multi/orphan', location);
      assert.deepEqual(await readAll(fresh), concatBytes([first, next, later]));
      assert.deepEqual(await readAll(fresh, 120), concatBytes([next, later]).subarray(20));
    });
  });

  describe('batched reads', function () {
    /** Reads `journal` from `from` to `to` with blocking reads of at most `maxBytes`. */
    async function readRange(
      journal: JetStreamJournal,
      from: number,
      to: number,
      maxBytes?: number,
    ): Promise<Uint8Array> {
      const pieces: Uint8Array[] = [];
      for (let offset = from; offset < to;) {
        const result = await journal.read(offset, { blocking: true, maxBytes });
        assert.equal(result.offset, offset, 'a read neither skips nor goes backwards');
        pieces.push(result.bytes);
        offset += result.bytes.byteLength;
      }
      return concatBytes(pieces);
    }

    it('multi-message commits are read whole, in batches, at any read size', async function () {
      const location = uniqueLocation('batchmulti');
      const writer = await open('batch/multi', location, { maxPartBytes: 700 });
      const appends = [5_000, 1, 2_100, 700, 9_999, 3].map((size, i) => bytesOf(size, 10 + i));
      for (const data of appends) await writer.append(data);
      const all = concatBytes(appends);
      for (const maxBytes of [undefined, 333, 4096]) {
        const reader = await open('batch/multi', location);
        assert.deepEqual(await readRange(reader, 0, all.byteLength, maxBytes), all);
        const stats = reader.readStats;
        assert.ok(
          stats.fetches > 0 && stats.parts > 0,
          `no batched fetch: ${JSON.stringify(stats)}`,
        );
        assert.ok(stats.leaderGets < 10, `too many single gets: ${JSON.stringify(stats)}`);
      }
      summary.acknowledgedOps += appends.length;
    });

    it('a read across many commits is served by a few fetches, not a get per message', async function () {
      const location = uniqueLocation('batchmany');
      const writer = await open('batch/many', location);
      // Concurrent appends become fewer, larger commits: await each to get one message each.
      const appends: Uint8Array[] = [];
      for (let i = 0; i < 300; i += 1) {
        const data = bytesOf(20 + (i % 37), i);
        appends.push(data);
        await writer.append(data);
      }
      const all = concatBytes(appends);
      const reader = await open('batch/many', location);
      assert.deepEqual(await readRange(reader, 0, all.byteLength, 1024), all);
      const stats = reader.readStats;
      assert.ok(stats.parts >= 250, `the feed brought ${stats.parts} of 300 messages`);
      assert.ok(stats.fetches <= 30, `${stats.fetches} fetches for 300 messages`);
      assert.ok(stats.leaderGets <= 20, `${stats.leaderGets} single gets for 300 messages`);
      // A read from the middle (a seek) starts over there.
      assert.deepEqual(await readRange(reader, 4321, all.byteLength), all.subarray(4321));
      summary.acknowledgedOps += appends.length;
    });

    it('a reader racing appends sees whole commits, in order, without gaps', async function () {
      const location = uniqueLocation('batchrace');
      const writer = await open('batch/race', location, { maxPartBytes: 900 });
      const reader = await open('batch/race', location);
      const appends: Uint8Array[] = [];
      const ends = new Set<number>([0]);
      let total = 0;
      for (let i = 0; i < 60; i += 1) {
        const data = bytesOf(i % 5 === 0 ? 2_500 + i : 50 + i, 100 + i);
        appends.push(data);
        ends.add((total += data.byteLength));
      }
      const writing = (async () => {
        for (const data of appends) await writer.append(data);
      })();
      const seen: Uint8Array[] = [];
      let offset = 0;
      while (offset < total) {
        try {
          const result = await reader.read(offset, { blocking: false, maxBytes: 1500 });
          assert.equal(result.offset, offset, 'a read neither skips nor goes backwards');
          seen.push(result.bytes);
          offset += result.bytes.byteLength;
        } catch (error) {
          if (!(error instanceof OffsetNotYetAvailableError)) throw error;
          // Caught up with the writer: only at the end of a whole commit.
          assert.ok(ends.has(offset), `a reader stopped at ${offset}, inside a commit`);
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
      }
      await writing;
      assert.deepEqual(concatBytes(seen), concatBytes(appends));
      summary.acknowledgedOps += appends.length;
    });
  });

  describe('durability across reopen, and pruning', function () {
    function hintsNeeding(log: string, offset: number): FSMHints {
      return {
        log,
        liveNodes: [
          {
            fnode: 5,
            segments: [
              {
                author: 0x1234,
                firstSeqNo: 5,
                firstOffset: offset,
                firstChecksum: 0x11,
                lastSeqNo: 6,
                lastOffset: 0,
                log: '',
              },
            ],
          },
        ],
        properties: [],
      };
    }

    it('a reopened journal has the same bytes, head and registers', async function () {
      const location = uniqueLocation('reopen');
      const journal = await open('reopen/log', location);
      await journal.append(bytesOf(10, 1), { unionRegisters: { author: 'x', zone: 'z' } });
      await journal.append(new Uint8Array(0), { unionRegisters: { author: 'y' } });
      await journal.close();
      const again = await open('reopen/log', location, { create: false });
      assert.equal(await again.head(), 10);
      assert.deepEqual(await again.registers(), { author: 'y', zone: 'z' });
      assert.deepEqual(await readAll(again), bytesOf(10, 1));
    });

    it('prune purges below the lowest hinted offset and keeps head, registers and needed bytes', async function () {
      const location = uniqueLocation('prune');
      const name = 'prune/log';
      const journal = await open(name, location);
      const parts: Uint8Array[] = [];
      for (let i = 0; i < 10; i += 1) {
        const part = bytesOf(100, i);
        parts.push(part);
        await journal.append(part, i === 0 ? { unionRegisters: { author: 'p' } } : {});
      }
      const all = concatBytes(parts);
      await assert.rejects(journal.prune([hintsNeeding('other/log', 0)]), PruneRefusedError);
      const dry = await journal.prune([hintsNeeding(name, 450)], { dryRun: true });
      assert.equal(dry.purged, 4);
      assert.equal(await readAll(journal).then((b) => b.byteLength), 1000);
      const result = await journal.prune([hintsNeeding(name, 450), hintsNeeding(name, 720)]);
      assert.equal(result.needed, 450);
      assert.equal(result.purged, 4);
      assert.equal(result.firstOffset, 400);
      const reader = await open(name, location);
      const jumped = await reader.read(0, { blocking: false });
      assert.equal(jumped.offset, 400, 'a read below the pruned range jumps to what is held');
      assert.deepEqual(await readAll(reader, 450), all.subarray(450));
      // Hints needing nothing below the head: everything but the last commit goes.
      const last = await journal.prune([hintsNeeding(name, 5000)]);
      assert.equal(last.purged, 5);
      assert.equal(await reader.head(), 1000);
      assert.deepEqual(await reader.registers(), { author: 'p' });
      assert.deepEqual(await readAll(reader, 900), all.subarray(900));
      assert.deepEqual(await journal.append(bytesOf(5, 99), { checkRegisters: { author: 'p' } }), {
        begin: 1000,
        end: 1005,
      });
    });
  });
});
