/**
 * The file journal's fragments (format v2 and v3), tried the way an adversary would: damage anywhere,
 * torn tails, two writers that both believe they hold the lock, a paused holder, read-only
 * storage, pruning, and a version 1 journal. Each case listed in issue 8 is a test here.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  appendFile,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileJournal } from '../../src/journal/file.js';
import {
  JournalCorruptError,
  JournalReadOnlyError,
  RegisterMismatchError,
} from '../../src/journal/errors.js';
import {
  COMMIT,
  FRAGMENT_RECORD_MAGIC,
  START,
  encodeRecord,
  decodeRecord,
} from '../../src/journal/fragment-record.js';
import { encodeCommitRecord } from '../../src/journal/legacy-record.js';
import { crc32c } from '../../src/crc32c.js';
import { FORMAT_VERSION } from '../../src/journal/journal-meta.js';
import { nodeStorage, type JournalStorage } from '../../src/journal/storage.js';
import { bytesOf, concatBytes, readAll } from '../helpers/journal-contract.js';
import type { FSMHints } from '../../src/wire/types.js';
import { Volume } from 'memfs';
import { FSM } from '../../src/fsm.js';
import { Player } from '../../src/player.js';
import { Recorder } from '../../src/recorder.js';

const scratch: string[] = [];
async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rl-fragments-'));
  scratch.push(dir);
  return dir;
}
after(async function () {
  await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
});

const INDEX_1 = '0000000001.index';
const DATA_1 = '0000000001.data';

/** Every file's bytes and mtime, and the directory listing: to prove a call changed nothing. */
async function snapshot(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const entry of (await readdir(dir)).sort()) {
    const info = await stat(join(dir, entry));
    hash.update(`${entry} ${info.size} ${info.mtimeMs}\n`);
    if (info.isFile()) hash.update(await readFile(join(dir, entry)));
  }
  return hash.digest('hex');
}

/** The records of an index file, parsed in order. */
async function recordsOf(
  path: string,
): Promise<{ kind: number; position: number; length: number }[]> {
  const bytes = await readFile(path);
  const out: { kind: number; position: number; length: number }[] = [];
  for (let at = 0; at < bytes.byteLength;) {
    const decoded = decodeRecord(bytes, at, 0);
    if (decoded.kind !== 'record') break;
    out.push({ kind: decoded.record.kind, position: at, length: decoded.record.length });
    at += decoded.record.length;
  }
  return out;
}

async function flipBit(path: string, position: number): Promise<void> {
  const bytes = await readFile(path);
  bytes[position] = (bytes[position] as number) ^ 0x10;
  await writeFile(path, bytes);
}

/** Waits for the idle writer's confirmation (an empty COMMIT after the last one). */
async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 60));
}

const first = bytesOf(300, 1);
const second = bytesOf(200, 2);

/** A journal with two commits whose writer "crashed" (never closed): its fragment is open. */
async function crashedJournal(): Promise<string> {
  const dir = join(await scratchDir(), 'log');
  const journal = await FileJournal.create(dir, 'torn/log');
  await journal.append(first, { unionRegisters: { author: 'a' } });
  await journal.append(second);
  await settle(); // the confirmation lands; then the process "dies" without close()
  return dir;
}

describe('FileJournal fragments', function () {
  this.timeout(20_000);

  describe('torn tails and damage', function () {
    it('a torn tail is never cut and never read; the next writer starts a fragment of its own', async function () {
      const dir = await crashedJournal();
      await appendFile(join(dir, DATA_1), bytesOf(777, 9)); // an unfinished batch's bytes
      await appendFile(join(dir, INDEX_1), Buffer.alloc(30, 0xab)); // a torn record
      const tornIndex = await readFile(join(dir, INDEX_1));
      const tornData = await readFile(join(dir, DATA_1));

      const journal = await FileJournal.open(dir);
      assert.equal(await journal.head(), 500);
      assert.deepEqual(await journal.registers(), { author: 'a' });
      assert.deepEqual(await readAll(journal), concatBytes([first, second]));
      assert.deepEqual(await journal.append(bytesOf(9, 3)), { begin: 500, end: 509 });
      await journal.close();
      // Nothing was cut: the old fragment's files still start with every byte they held.
      const index = await readFile(join(dir, INDEX_1));
      assert.deepEqual(index.subarray(0, tornIndex.byteLength), tornIndex);
      assert.deepEqual(await readFile(join(dir, DATA_1)), tornData);
      const again = await FileJournal.open(dir);
      assert.deepEqual(await readAll(again), concatBytes([first, second, bytesOf(9, 3)]));
      await again.close();
    });

    it('reading never modifies a file, even after a crash left a torn tail', async function () {
      const dir = await crashedJournal();
      await appendFile(join(dir, INDEX_1), Buffer.alloc(30, 0xab));
      const before = await snapshot(dir);
      for (const options of [{}, { readOnly: true }]) {
        const journal = await FileJournal.open(dir, options);
        await readAll(journal);
        await journal.head();
        await journal.registers();
        await journal.fragments();
        await journal.append(new Uint8Array(0)); // a barrier writes nothing either
        await journal.close();
      }
      assert.equal(await snapshot(dir), before);
    });

    it('read-only: refuses appends with a typed error and works on storage that refuses writes', async function () {
      const dir = await crashedJournal();
      const refuse = (): never => {
        throw Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS' });
      };
      const readOnlyDisk: JournalStorage = {
        ...nodeStorage,
        open: (path, flags) => (flags === 'r' ? nodeStorage.open(path, flags) : refuse()),
        writeFile: refuse,
        link: refuse,
        rename: refuse,
        unlink: refuse,
        mkdir: refuse,
      };
      const journal = await FileJournal.open(dir, { storage: readOnlyDisk, readOnly: true });
      assert.deepEqual(await readAll(journal), concatBytes([first, second]));
      assert.deepEqual(await journal.append(new Uint8Array(0)), { begin: 500, end: 500 });
      await assert.rejects(journal.append(bytesOf(1, 1)), JournalReadOnlyError);
      await journal.close();
    });

    it('one bit flipped in the LAST commit record, once confirmed, is a JournalCorruptError', async function () {
      const dir = await crashedJournal();
      const records = await recordsOf(join(dir, INDEX_1));
      // START, COMMIT(first), COMMIT(second), COMMIT(empty: the confirmation)
      assert.deepEqual(
        records.map((r) => r.kind),
        [START, COMMIT, COMMIT, COMMIT],
      );
      const last = records[2]!;
      const before = await snapshot(dir);
      await flipBit(join(dir, INDEX_1), last.position + 20);
      const damaged = await snapshot(dir);
      assert.notEqual(damaged, before);
      await assert.rejects(FileJournal.open(dir, { readOnly: true }), (error: unknown) => {
        assert.ok(error instanceof JournalCorruptError);
        assert.equal(error.file, join(dir, INDEX_1));
        assert.equal(error.offset, last.position);
        return true;
      });
      assert.equal(await snapshot(dir), damaged, 'the evidence is kept');
    });

    it('a sealed fragment: one bit flipped in its last commit record is a JournalCorruptError', async function () {
      const dir = join(await scratchDir(), 'log');
      const journal = await FileJournal.create(dir, 'sealed/log');
      await journal.append(first);
      await journal.append(second);
      await journal.close(); // SEAL: confirms the last commit and checksums the fragment
      const records = await recordsOf(join(dir, INDEX_1));
      const lastData = records.filter((r) => r.kind === COMMIT).at(-1)!;
      await flipBit(join(dir, INDEX_1), lastData.position + 17);
      await assert.rejects(FileJournal.open(dir), JournalCorruptError);
    });

    it('the documented window: a damaged last commit record that nothing confirms reads as unfinished', async function () {
      // What a writer that died between an acknowledgement and its confirmation leaves, with the
      // last record then damaged by the medium: indistinguishable from a torn write (README).
      const dir = join(await scratchDir(), 'log');
      await (await FileJournal.create(dir, 'window/log')).close();
      const start = encodeRecord(
        {
          kind: START,
          epoch: 1,
          token: 'deadbeefdeadbeef',
          begin: 0,
          prevEpoch: 0,
          prevDataCrc: 0,
          registers: {},
        },
        0,
      );
      const c1 = encodeRecord(
        { kind: COMMIT, begin: 0, end: 300, dataCrc: crc32c(first) },
        start.readUInt32LE(start.byteLength - 4),
      );
      const c2 = encodeRecord(
        { kind: COMMIT, begin: 300, end: 500, dataCrc: crc32c(second) },
        c1.readUInt32LE(c1.byteLength - 4),
      );
      c2[20] ^= 0x10;
      await writeFile(join(dir, INDEX_1), Buffer.concat([start, c1, c2]));
      await writeFile(join(dir, DATA_1), concatBytes([first, second]));
      const journal = await FileJournal.open(dir, { readOnly: true });
      assert.equal(await journal.head(), 300);
      await journal.close();
    });

    /** Index records START, COMMIT(first), COMMIT(second) [+ a confirmation], written by hand. */
    function handMadeIndex(confirmed: boolean): Buffer {
      const crcOf = (record: Buffer): number => record.readUInt32LE(record.byteLength - 4);
      const start = encodeRecord(
        {
          kind: START,
          epoch: 1,
          token: 'deadbeefdeadbeef',
          begin: 0,
          prevEpoch: 0,
          prevDataCrc: 0,
          registers: {},
        },
        0,
      );
      const c1 = encodeRecord(
        { kind: COMMIT, begin: 0, end: 300, dataCrc: crc32c(first) },
        crcOf(start),
      );
      const c2 = encodeRecord(
        { kind: COMMIT, begin: 300, end: 500, dataCrc: crc32c(second) },
        crcOf(c1),
      );
      const confirm = encodeRecord({ kind: COMMIT, begin: 500, end: 500, dataCrc: 0 }, crcOf(c2));
      return Buffer.concat(confirmed ? [start, c1, c2, confirm] : [start, c1, c2]);
    }

    it('a crash that kept the last record but lost its data: the commit reads as unfinished, and the next writer continues before it', async function () {
      // Data and record are synced together (one flush of latency): after a power cut the
      // record may be durable without its data. It was never acknowledged.
      const dir = join(await scratchDir(), 'log');
      await (await FileJournal.create(dir, 'lost/data')).close();
      await writeFile(join(dir, INDEX_1), handMadeIndex(false));
      await writeFile(join(dir, DATA_1), concatBytes([first, new Uint8Array(200)]));
      const reader = await FileJournal.open(dir, { readOnly: true });
      assert.equal(await reader.head(), 300);
      await reader.close();
      const writer = await FileJournal.open(dir);
      assert.deepEqual(await writer.append(bytesOf(9, 3)), { begin: 300, end: 309 });
      await writer.close();
      const again = await FileJournal.open(dir, { readOnly: true });
      assert.deepEqual(await readAll(again), concatBytes([first, bytesOf(9, 3)]));
      await again.close();
    });

    it('a FENCE never completes a torn record: the commit the first reader dropped stays dropped (found by Layer 1)', async function () {
      // A crash tore the last commit record one byte short, its data whole. The next writer's
      // FENCE lands right after the torn bytes; when the FENCE's first byte ("R" of its magic)
      // is the missing one, the torn record read whole, and the takeover continued after a
      // commit that every reader before it had dropped (about one run in 256 of the simulated
      // layer: the START's random token decides the commit's CRC). Here: a token for which it is.
      const crcOf = (record: Buffer): number => record.readUInt32LE(record.byteLength - 4);
      let records: Buffer[] | undefined;
      for (let i = 0; records === undefined && i < 10_000; i += 1) {
        const start = encodeRecord(
          {
            kind: START,
            epoch: 1,
            token: `torn-fence-${i}`,
            begin: 0,
            prevEpoch: 0,
            prevDataCrc: 0,
            registers: {},
          },
          0,
        );
        const c1 = encodeRecord(
          { kind: COMMIT, begin: 0, end: 300, dataCrc: crc32c(first) },
          crcOf(start),
        );
        const c2 = encodeRecord(
          { kind: COMMIT, begin: 300, end: 500, dataCrc: crc32c(second) },
          crcOf(c1),
        );
        if (c2[c2.byteLength - 1] === FRAGMENT_RECORD_MAGIC % 256) records = [start, c1, c2];
      }
      assert.ok(records !== undefined, 'no token gives a commit CRC ending in the magic byte');
      const [start, c1, c2] = records;
      const dir = join(await scratchDir(), 'log');
      await (await FileJournal.create(dir, 'torn/fence')).close();
      await writeFile(
        join(dir, INDEX_1),
        Buffer.concat([start!, c1!, c2!.subarray(0, c2!.byteLength - 1)]),
      );
      await writeFile(join(dir, DATA_1), concatBytes([first, second]));
      const reader = await FileJournal.open(dir, { readOnly: true });
      assert.equal(await reader.head(), 300);
      await reader.close();
      const writer = await FileJournal.open(dir);
      assert.deepEqual(await writer.append(bytesOf(9, 3)), { begin: 300, end: 309 });
      await writer.close();
      const again = await FileJournal.open(dir, { readOnly: true });
      assert.deepEqual(await readAll(again), concatBytes([first, bytesOf(9, 3)]));
      await again.close();
    });

    it('once confirmed, the same missing data is a JournalCorruptError', async function () {
      const dir = join(await scratchDir(), 'log');
      await (await FileJournal.create(dir, 'lost/confirmed')).close();
      await writeFile(join(dir, INDEX_1), handMadeIndex(true));
      await writeFile(join(dir, DATA_1), concatBytes([first, new Uint8Array(200)]));
      const reader = await FileJournal.open(dir, { readOnly: true });
      assert.equal(await reader.head(), 500);
      await assert.rejects(reader.read(300, { blocking: false }), JournalCorruptError);
      await reader.close();
    });

    it('bit rot in an OLD commit record followed by a torn tail is corruption, never a truncation', async function () {
      const dir = join(await scratchDir(), 'log');
      const journal = await FileJournal.create(dir, 'rot/log');
      for (let i = 0; i < 20; i += 1) await journal.append(bytesOf(10, i));
      await settle();
      const records = await recordsOf(join(dir, INDEX_1));
      await flipBit(join(dir, INDEX_1), records[1]!.position + 18); // the first commit
      await appendFile(join(dir, INDEX_1), Buffer.alloc(25, 0x5a)); // and an ordinary torn tail
      const damaged = await snapshot(dir);
      await assert.rejects(FileJournal.open(dir), (error: unknown) => {
        assert.ok(error instanceof JournalCorruptError);
        assert.equal(error.offset, records[1]!.position);
        return true;
      });
      assert.equal(await snapshot(dir), damaged);
    });

    it('a damaged data byte anywhere is a JournalCorruptError when read, naming file and offset', async function () {
      const dir = await crashedJournal();
      // Small commits carry their data inline: the first one's bytes follow its record.
      const records = await recordsOf(join(dir, INDEX_1));
      const payloadAt = records[1]!.position + records[1]!.length - first.length;
      await flipBit(join(dir, INDEX_1), payloadAt + 100); // inside the first, old commit
      const journal = await FileJournal.open(dir, { readOnly: true });
      assert.equal(await journal.head(), 500);
      await assert.rejects(journal.read(0, { blocking: false }), (error: unknown) => {
        assert.ok(error instanceof JournalCorruptError);
        assert.equal(error.file, join(dir, INDEX_1));
        assert.equal(error.offset, payloadAt);
        return true;
      });
      // Bytes of an intact commit are still served.
      assert.deepEqual((await journal.read(300, { blocking: false })).bytes, second);
      await journal.close();
    });
  });

  describe('two writers', function () {
    /** node:fs, except that taking the append lock always succeeds: both "hold" it. */
    const brokenLock: JournalStorage = {
      ...nodeStorage,
      link: async (existing, path) => {
        if (path.endsWith('/lock') || path.endsWith('/lock-want')) return;
        await nodeStorage.link(existing, path);
      },
      unlink: async (path) => {
        if (path.endsWith('/lock') || path.endsWith('/lock-want')) return;
        await nodeStorage.unlink(path);
      },
    };

    it('two writers that both believe they hold the lock never lose or overwrite an acknowledged append', async function () {
      const dir = join(await scratchDir(), 'log');
      await (await FileJournal.create(dir, 'race/log')).close();
      const a = await FileJournal.open(dir, { storage: brokenLock });
      const b = await FileJournal.open(dir, { storage: brokenLock });
      const acked: { bytes: Uint8Array; begin: number; end: number }[] = [];
      const writer = async (journal: FileJournal, seed: number): Promise<void> => {
        for (let i = 0; i < 60; i += 1) {
          const bytes = bytesOf(17 + ((i * 7) % 50), seed * 1000 + i);
          const result = await journal.append(bytes);
          acked.push({ bytes, ...result });
        }
      };
      await Promise.all([writer(a, 1), writer(b, 2)]);
      await Promise.all([a.close(), b.close()]);
      const reader = await FileJournal.open(dir, { readOnly: true });
      const content = await readAll(reader);
      assert.equal(content.byteLength, await reader.head());
      await reader.close();
      // Every acknowledged append sits whole at the offsets it was given; they tile the journal.
      acked.sort((x, y) => x.begin - y.begin);
      let offset = 0;
      for (const { bytes, begin, end } of acked) {
        assert.equal(begin, offset, 'acknowledged ranges tile the journal');
        assert.equal(end - begin, bytes.byteLength);
        assert.deepEqual(content.subarray(begin, end), bytes);
        offset = end;
      }
      assert.equal(offset, content.byteLength);
      const fragments = (await readdir(dir)).filter((entry) => entry.endsWith('.index'));
      assert.ok(fragments.length >= 2, `the writers took turns (${fragments.length} fragments)`);
    });

    it('a paused lock holder loses the lock after the lease; fencing keeps it out when it resumes', async function () {
      const dir = join(await scratchDir(), 'log');
      await (await FileJournal.create(dir, 'paused/log')).close();
      let resume!: () => void;
      const paused = new Promise<void>((resolve) => (resume = resolve));
      let pause = false;
      let reached!: () => void;
      const atPause = new Promise<void>((resolve) => (reached = resolve));
      const zombie = await FileJournal.open(dir, {
        hooks: {
          beforeSync: async () => {
            if (!pause) return;
            reached();
            await paused; // SIGSTOP between its write and its sync, holding the lock
          },
        },
      });
      await zombie.append(bytesOf(10, 1), { unionRegisters: { author: 'zombie' } });
      pause = true;
      const stuck = zombie.append(bytesOf(10, 2), { checkRegisters: { author: 'zombie' } });
      await atPause;

      const successor = await FileJournal.open(dir, { lockLeaseMs: 200, lockTimeoutMs: 10_000 });
      const started = performance.now();
      assert.deepEqual(
        await successor.append(bytesOf(5, 3), { unionRegisters: { author: 'successor' } }),
        { begin: 10, end: 15 },
      );
      assert.ok(performance.now() - started < 5_000, 'the lease, not the zombie, bounds the wait');

      resume();
      await assert.rejects(stuck, RegisterMismatchError);
      await zombie.close();
      assert.deepEqual(await readAll(successor), concatBytes([bytesOf(10, 1), bytesOf(5, 3)]));
      await successor.close();
      const reader = await FileJournal.open(dir, { readOnly: true });
      assert.deepEqual(await reader.registers(), { author: 'successor' });
      assert.deepEqual(await readAll(reader), concatBytes([bytesOf(10, 1), bytesOf(5, 3)]));
      await reader.close();
    });
  });

  describe('roll and prune', function () {
    function hintsAt(offset: number): FSMHints {
      return {
        log: 'prune/log',
        liveNodes: [
          {
            fnode: 1,
            segments: [
              {
                author: 1,
                firstSeqNo: 1,
                lastSeqNo: 1,
                firstOffset: offset,
                firstChecksum: 0,
                lastOffset: 0,
                log: '',
              },
            ],
          },
        ],
        properties: [],
      };
    }

    it('rolls fragments at fragmentBytes and prunes whole fragments below what every hints need', async function () {
      const dir = join(await scratchDir(), 'log');
      const journal = await FileJournal.create(dir, 'prune/log', { fragmentBytes: 1000 });
      const parts: Uint8Array[] = [];
      for (let i = 0; i < 40; i += 1) {
        parts.push(bytesOf(100, i));
        await journal.append(parts[i]!);
      }
      const fragments = await journal.fragments();
      assert.equal(fragments.length, 4);
      fragments.forEach((f, i) => {
        assert.equal(f.begin, i * 1000);
        assert.equal(f.end, Math.min(4000, (i + 1) * 1000));
        assert.equal(f.state, i < 3 ? 'sealed' : 'open');
      });

      const dry = await journal.prune([hintsAt(2500), hintsAt(3100)], { dryRun: true });
      assert.deepEqual(
        dry.deleted.map((f) => f.begin),
        [0, 1000],
      );
      assert.equal((await journal.fragments()).length, 4, 'a dry run deletes nothing');

      // A backup that still needs offset 1200 keeps the fragment [1000, 2000).
      const result = await journal.prune([hintsAt(2500), hintsAt(1200)]);
      assert.deepEqual(
        result.deleted.map((f) => f.begin),
        [0],
      );
      assert.equal(result.bytesBefore, 4000);
      assert.equal(result.bytesAfter, 3000);
      assert.equal(journal.low, 1000);
      assert.ok(!(await readdir(dir)).includes(INDEX_1));

      // A read below the first fragment held jumps to it (the caller decides: a Player errors).
      const jumped = await journal.read(0, { blocking: false });
      assert.equal(jumped.offset, 1000);
      assert.deepEqual(await readAll(journal, 1000), concatBytes(parts.slice(10)));
      await journal.append(bytesOf(7, 99));
      await journal.close();

      const reopened = await FileJournal.open(dir);
      assert.equal(reopened.low, 1000);
      assert.equal(await reopened.head(), 4007);
      // The newest fragment is never pruned, whatever the hints say.
      const all = await reopened.prune([hintsAt(10_000)]);
      assert.equal((await reopened.fragments()).length, 1);
      assert.equal(all.kept.length, 1);
      assert.equal(reopened.low, all.kept[0]!.begin);
      assert.deepEqual((await readAll(reopened, reopened.low)).subarray(-7), bytesOf(7, 99));
      await reopened.close();
    });

    it('prunes while the same journal keeps appending and rolling, and a reader keeps reading (found by Layer 3)', async function () {
      const dir = join(await scratchDir(), 'log');
      const journal = await FileJournal.create(dir, 'prune/log', { fragmentBytes: 64 });
      const reader = await FileJournal.open(dir, { readOnly: true });
      let stop = false;
      const appending = (async () => {
        for (let i = 0; !stop; i += 1) await journal.append(bytesOf(40, i));
      })();
      // At least 30 rounds, and until the appender wrote 2,000 bytes (30 fragments): on a loaded
      // machine 30 rounds alone could pass before anything old enough to prune was written.
      for (let round = 0; round < 30 || (await journal.head()) < 2_000; round += 1) {
        const head = await journal.head();
        await journal.prune([hintsAt(Math.max(0, head - 200))]);
        const low = reader.low;
        const at = await reader.head();
        if (at > low) await reader.read(Math.max(low, at - 100), { blocking: false });
      }
      stop = true;
      await appending;
      const head = await journal.head();
      await journal.close();
      assert.equal(await reader.head(), head);
      assert.ok(reader.low > 0);
      await reader.close();
      const reopened = await FileJournal.open(dir, { readOnly: true });
      assert.equal(await reopened.head(), head);
      assert.equal((await readAll(reopened, reopened.low)).byteLength, head - reopened.low);
      await reopened.close();
    });

    it('a listing that prunes keep racing fails typed (JournalIO), never with an internal error', async function () {
      const dir = join(await scratchDir(), 'log');
      const journal = await FileJournal.create(dir, 'prune/log', { fragmentBytes: 100 });
      for (let i = 0; i < 5; i += 1) await journal.append(bytesOf(100, i));
      await journal.close();
      // The oldest index file keeps vanishing between the directory listing and its loading, as
      // if another process pruned it every time.
      let vanish = false;
      const racedDisk: JournalStorage = {
        ...nodeStorage,
        stat: ((path: string, options?: unknown) =>
          vanish && path.endsWith('0000000001.index')
            ? Promise.reject(Object.assign(new Error('ENOENT: gone'), { code: 'ENOENT' }))
            : (nodeStorage.stat as (p: string, o?: unknown) => Promise<unknown>)(
                path,
                options,
              )) as JournalStorage['stat'],
      };
      const reader = await FileJournal.open(dir, { storage: racedDisk, readOnly: true });
      vanish = true;
      await assert.rejects(reader.fragments(), { code: 'JournalIO' });
      await reader.close();
    });

    it('refuses to prune with hints that do not name the journal', async function () {
      const dir = join(await scratchDir(), 'log');
      const journal = await FileJournal.create(dir, 'prune/log', { fragmentBytes: 100 });
      for (let i = 0; i < 5; i += 1) await journal.append(bytesOf(100, i));
      await assert.rejects(journal.prune([{ ...hintsAt(400), log: 'other/log' }]), {
        code: 'PruneRefused',
      });
      await assert.rejects(journal.prune([]), { code: 'PruneRefused' });
      assert.equal((await journal.fragments()).length, 5);
      await journal.close();
    });
  });

  describe('version 1 journals', function () {
    it('reads a version 1 journal, continues it in a fragment, and never changes its files', async function () {
      const dir = join(await scratchDir(), 'v1');
      await mkdir(dir);
      await writeFile(
        join(dir, 'journal.json'),
        JSON.stringify({ format: 'recoverylog-file-journal', version: 1, name: 'old/log' }),
      );
      const r1 = encodeCommitRecord({
        begin: 0,
        end: 300,
        dataCrc: crc32c(first),
        registersAt: 0,
        registers: { author: 'v1' },
      });
      const r2 = encodeCommitRecord({
        begin: 300,
        end: 500,
        dataCrc: crc32c(second),
        registersAt: 0,
      });
      await writeFile(join(dir, 'commits'), Buffer.concat([r1, r2]));
      await writeFile(join(dir, 'data'), concatBytes([first, second]));
      const journal = await FileJournal.open(dir);
      assert.equal(await journal.head(), 500);
      assert.deepEqual(await journal.registers(), { author: 'v1' });
      assert.deepEqual(await readAll(journal), concatBytes([first, second]));
      assert.deepEqual(await journal.append(bytesOf(9, 3), { checkRegisters: { author: 'v1' } }), {
        begin: 500,
        end: 509,
      });
      await journal.close();
      assert.deepEqual(
        await readFile(join(dir, 'data')),
        Buffer.from(concatBytes([first, second])),
      );
      const meta = JSON.parse(await readFile(join(dir, 'journal.json'), 'utf8')) as {
        version: number;
      };
      assert.equal(
        meta.version,
        FORMAT_VERSION,
        'version 1 readers now refuse the journal instead of missing bytes',
      );
      const again = await FileJournal.open(dir, { readOnly: true });
      assert.deepEqual(await readAll(again), concatBytes([first, second, bytesOf(9, 3)]));
      await again.close();
    });
  });
});

describe('hinted playback after prune', function () {
  it('hints without live files play on a pruned journal from the first op it still holds (found by Layer 1)', async function () {
    const dir = join(await scratchDir(), 'log');
    const journal = await FileJournal.create(dir, 'empty/hints', { fragmentBytes: 64 });
    const recorder = await Recorder.open({
      journal,
      fsm: new FSM({ log: journal.name, liveNodes: [], properties: [] }),
      author: 7,
      dir: '/data',
    });
    const t = recorder.recordCreate('/data/t');
    recorder.recordWriteAt(t, Buffer.from('a temporary file, long enough to roll a fragment'), 0);
    recorder.recordRemove('/data/t');
    await recorder.barrier();
    const a = recorder.recordCreate('/data/a');
    recorder.recordWriteAt(a, Buffer.from('a'), 0);
    await journal.prune([await recorder.buildHints()]); // drops t's fragments, keeps a's history
    assert.ok(journal.low > 0, 'the first fragments were pruned');
    recorder.recordRemove('/data/a');
    const empty = await recorder.buildHints(); // no live files: needs no op before it
    assert.equal(empty.liveNodes.length, 0);
    const b = recorder.recordCreate('/data/b');
    recorder.recordWriteAt(b, Buffer.from('second'), 0);
    await recorder.barrier();
    await journal.prune([empty]); // hints without live files need offset 0: nothing goes

    const target = Volume.fromJSON({});
    const player = new Player({ fs: target.promises });
    player.finishAtWriteHead();
    const result = await player.play({ hints: empty, dir: '/restore', journals: () => journal });
    assert.deepEqual(target.toJSON(), { '/restore/b': 'second' });
    assert.equal(result.fsm.nextSeqNo, recorder.fsm.nextSeqNo);
    await journal.close();
  });
});

describe('hinted playback reads verified bytes', function () {
  it('one bit flipped in the write offset of an op hinted playback reads is a typed error, never wrong bytes', async function () {
    // On v1, `play --hints` exited 0 with "AAAAAABB" for "AABBAAAA": nothing checked the op.
    const dir = join(await scratchDir(), 'log');
    const journal = await FileJournal.create(dir, 'hinted/flip');
    const recorder = await Recorder.open({
      journal,
      fsm: new FSM({ log: journal.name, liveNodes: [], properties: [] }),
      author: 9,
      dir: '/data',
    });
    const f = recorder.recordCreate('/data/f');
    recorder.recordWriteAt(f, Buffer.from('AAAAAAAA'), 0);
    await recorder.barrier();
    recorder.recordWriteAt(f, Buffer.from('BB'), 2); // the last op before the hinted gap
    await recorder.barrier();
    const g = recorder.recordCreate('/data/g'); // a dead file: its ops are a gap hints skip
    recorder.recordWriteAt(g, Buffer.from('g'.repeat(100)), 0);
    recorder.recordRemove('/data/g');
    await recorder.barrier();
    const h = recorder.recordCreate('/data/h');
    recorder.recordWriteAt(h, Buffer.from('h'), 0);
    const hints = await recorder.buildHints();
    const segments = hints.liveNodes.flatMap((node) => node.segments);
    assert.deepEqual(
      segments.map((segment) => [segment.firstSeqNo, segment.lastSeqNo]),
      [
        [1, 3],
        [7, 8],
      ],
      'a hinted gap',
    );
    await journal.close();
    // Flip the low bit of the byte before "BB": the op's last field, the write's offset 2 -> 3
    // (small commits carry their data inline, in the index file).
    const data = await readFile(join(dir, INDEX_1));
    const at = data.indexOf(Buffer.from('BB')) - 1;
    data[at] = (data[at] as number) ^ 0x01;
    await writeFile(join(dir, INDEX_1), data);
    const reopened = await FileJournal.open(dir, { readOnly: true });
    const target = Volume.fromJSON({});
    const player = new Player({ fs: target.promises });
    player.finishAtWriteHead();
    await assert.rejects(
      player.play({ hints, dir: '/restore', journals: () => reopened }),
      (error: unknown) => {
        assert.ok(error instanceof JournalCorruptError, String(error));
        return true;
      },
    );
    assert.deepEqual(target.toJSON(), {}, 'no wrong byte reached the target');
    await reopened.close();
  });
});
