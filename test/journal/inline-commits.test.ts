/**
 * INLINE commits (format version 3, issue 11): a small batch is one record followed by its data
 * in the index file, one write and one fdatasync. Byte-level cases: a tear at every byte of the
 * last one, damage in an older one (reported), damage in the last unconfirmed one (the documented
 * window), a FENCE's bytes inside a commit's data, a take-over after a torn one, and version 2
 * journals (COMMIT records, data in the data file) still read and continued.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32c } from '../../src/crc32c.js';
import { JournalCorruptError } from '../../src/journal/errors.js';
import { FileJournal } from '../../src/journal/file.js';
import {
  COMMIT,
  FENCE,
  START,
  decodeRecord,
  encodeRecord,
  type Decoded,
} from '../../src/journal/fragment-record.js';
import { FORMAT, FORMAT_VERSION } from '../../src/journal/journal-meta.js';
import { bytesOf, concatBytes, readAll } from '../helpers/journal-contract.js';

const scratch: string[] = [];
async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rl-inline-'));
  scratch.push(dir);
  return dir;
}
after(async function () {
  await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
});

const INDEX_1 = '0000000001.index';
const DATA_1 = '0000000001.data';
const a = bytesOf(30, 1);
const b = bytesOf(40, 2);

function recordsOf(bytes: Uint8Array): Decoded[] {
  const out: Decoded[] = [];
  for (let at = 0; at < bytes.byteLength;) {
    const decoded = decodeRecord(bytes, at, 0);
    if (decoded.kind !== 'record') break;
    out.push(decoded.record);
    at += decoded.record.length;
  }
  return out;
}

/**
 * A journal whose writer committed `a` then `b` inline and confirmed `b` (START, INLINE a,
 * INLINE b, empty COMMIT), then "crashed": its files, read while it is still open.
 */
async function writtenFiles(
  first: Uint8Array = a,
): Promise<{ meta: Buffer; index: Buffer; records: Decoded[] }> {
  const dir = join(await scratchDir(), 'log');
  const journal = await FileJournal.create(dir, 'inline/log');
  await journal.append(first);
  await journal.append(b);
  await new Promise((resolve) => setTimeout(resolve, 60)); // the idle confirmation lands
  const index = await readFile(join(dir, INDEX_1));
  const meta = await readFile(join(dir, 'journal.json'));
  await journal.close();
  const records = recordsOf(index);
  assert.deepEqual(
    records.map((r) => [r.kind, r.kind === COMMIT ? r.payloadAt !== undefined : undefined]),
    [
      [START, undefined],
      [COMMIT, true],
      [COMMIT, true],
      [COMMIT, false],
    ],
    'START, two INLINE commits, an empty confirmation',
  );
  return { meta, index, records };
}

/** A journal directory holding `index` as fragment 1 (and an empty data file). */
async function journalWith(meta: Buffer, index: Uint8Array): Promise<string> {
  const dir = join(await scratchDir(), 'copy');
  await mkdir(dir);
  await writeFile(join(dir, 'journal.json'), meta);
  await writeFile(join(dir, INDEX_1), index);
  await writeFile(join(dir, DATA_1), new Uint8Array(0));
  return dir;
}

async function contentOf(dir: string): Promise<{ head: number; bytes: Uint8Array }> {
  const journal = await FileJournal.open(dir, { readOnly: true });
  try {
    return { head: await journal.head(), bytes: await readAll(journal) };
  } finally {
    await journal.close();
  }
}

function flipped(bytes: Uint8Array, at: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] = (copy[at] as number) ^ 0x10;
  return copy;
}

describe('FileJournal INLINE commits (format version 3)', function () {
  this.timeout(60_000);

  it('a small commit is one INLINE record with its data after it; the data file stays empty', async function () {
    const { index, records } = await writtenFiles();
    const [, first, second] = records as [
      Decoded,
      Decoded & { payloadAt: number },
      Decoded & { payloadAt: number },
    ];
    assert.deepEqual(index.subarray(first.payloadAt, first.payloadAt + a.length), Buffer.from(a));
    assert.deepEqual(index.subarray(second.payloadAt, second.payloadAt + b.length), Buffer.from(b));
  });

  it('a tear at every byte of the last INLINE commit reads as an unfinished write', async function () {
    const { meta, index, records } = await writtenFiles();
    const last = records[2] as Decoded;
    for (let cut = last.position; cut < last.position + last.length; cut += 1) {
      const dir = await journalWith(meta, index.subarray(0, cut));
      const { head, bytes } = await contentOf(dir);
      assert.equal(head, 30, `cut at ${cut}`);
      assert.deepEqual(bytes, a, `cut at ${cut}`);
    }
    // Whole but unconfirmed: committed.
    const dir = await journalWith(meta, index.subarray(0, last.position + last.length));
    assert.deepEqual((await contentOf(dir)).bytes, concatBytes([a, b]));
  });

  it('a bit flip in the data of a confirmed INLINE commit is a JournalCorruptError naming the index file', async function () {
    const { meta, index, records } = await writtenFiles();
    for (const i of [1, 2]) {
      const record = records[i] as Decoded & { payloadAt: number };
      const dir = await journalWith(meta, flipped(index, record.payloadAt + 5));
      const journal = await FileJournal.open(dir, { readOnly: true });
      assert.equal(await journal.head(), 70, 'the commits stand: a later record confirms them');
      const offset = i === 1 ? 0 : 30;
      await assert.rejects(journal.read(offset, { blocking: false }), (error: unknown) => {
        assert.ok(error instanceof JournalCorruptError, String(error));
        assert.equal(error.file, join(dir, INDEX_1));
        assert.equal(error.offset, record.payloadAt);
        return true;
      });
      await journal.close();
    }
  });

  it('a flip in the last INLINE commit before any confirmation reads as never written (the documented window)', async function () {
    const { meta, index, records } = await writtenFiles();
    const last = records[2] as Decoded & { payloadAt: number };
    const unconfirmed = index.subarray(0, last.position + last.length);
    for (const at of [last.position + 20, last.payloadAt, last.payloadAt + b.length - 1]) {
      const dir = await journalWith(meta, flipped(unconfirmed, at));
      assert.deepEqual(await contentOf(dir), { head: 30, bytes: a }, `flip at ${at}`);
    }
  });

  it("damage to an older INLINE commit's header is corruption even when its data holds a FENCE record", async function () {
    // The user's data is a valid FENCE record: a reader resynchronising past the damaged header
    // must not take it for a take-over (that would cut every later commit silently).
    for (const prevCrc of [0, 0x12345678]) {
      const fenceBytes = encodeRecord({ kind: FENCE, epoch: 9, token: 'x' }, prevCrc);
      const { meta, index, records } = await writtenFiles(fenceBytes);
      const first = records[1] as Decoded;
      const dir = await journalWith(meta, flipped(index, first.position + 20));
      await assert.rejects(FileJournal.open(dir, { readOnly: true }), (error: unknown) => {
        assert.ok(error instanceof JournalCorruptError, String(error));
        assert.equal(error.offset, first.position);
        return true;
      });
    }
  });

  it('a take-over after a torn INLINE commit fills its data, fences after it and continues before it', async function () {
    const { meta, index, records } = await writtenFiles();
    const last = records[2] as Decoded & { payloadAt: number };
    for (const cut of [last.position + 10, last.payloadAt + 1, last.payloadAt + b.length - 1]) {
      const torn = index.subarray(0, cut);
      const dir = await journalWith(meta, torn);
      const journal = await FileJournal.open(dir);
      assert.deepEqual(await journal.append(bytesOf(9, 3)), { begin: 30, end: 39 }, `cut ${cut}`);
      await journal.close();
      const after = await readFile(join(dir, INDEX_1));
      assert.deepEqual(after.subarray(0, torn.byteLength), torn, 'no byte was changed');
      const fence = recordsOf(after).at(-1);
      // A torn header is skipped as before; a whole header's data is filled first.
      if (cut > last.payloadAt) assert.equal(fence?.kind, FENCE, `cut ${cut}: the FENCE follows`);
      assert.deepEqual(await contentOf(dir), {
        head: 39,
        bytes: concatBytes([a, bytesOf(9, 3)]),
      });
    }
  });

  it('a large batch still goes to the data file (COMMIT record, no data inline)', async function () {
    const dir = join(await scratchDir(), 'log');
    const journal = await FileJournal.create(dir, 'inline/large');
    const big = bytesOf(100_000, 4);
    await journal.append(a);
    await journal.append(big);
    await journal.close();
    assert.equal((await stat(join(dir, DATA_1))).size, 30 + big.length, 'a hole, then the batch');
    assert.ok((await stat(join(dir, INDEX_1))).size < 1000);
    assert.deepEqual((await contentOf(dir)).bytes, concatBytes([a, big]));
  });

  it('a version 2 journal (data in the data file) is read, continued inline, and upgraded to version 3', async function () {
    const dir = join(await scratchDir(), 'v2');
    await mkdir(dir);
    await writeFile(
      join(dir, 'journal.json'),
      `${JSON.stringify({ format: FORMAT, version: 2, name: 'old/log' })}\n`,
    );
    const crcOf = (record: Buffer): number => record.readUInt32LE(record.byteLength - 4);
    const start = encodeRecord(
      {
        kind: START,
        epoch: 1,
        token: 'cafe',
        begin: 0,
        prevEpoch: 0,
        prevDataCrc: 0,
        registers: {},
      },
      0,
    );
    const c1 = encodeRecord({ kind: COMMIT, begin: 0, end: 30, dataCrc: crc32c(a) }, crcOf(start));
    const c2 = encodeRecord({ kind: COMMIT, begin: 30, end: 70, dataCrc: crc32c(b) }, crcOf(c1));
    await writeFile(join(dir, INDEX_1), Buffer.concat([start, c1, c2]));
    await writeFile(join(dir, DATA_1), concatBytes([a, b]));
    assert.deepEqual(await contentOf(dir), { head: 70, bytes: concatBytes([a, b]) });

    const journal = await FileJournal.open(dir);
    await journal.append(bytesOf(9, 3));
    await journal.close();
    const meta = JSON.parse(await readFile(join(dir, 'journal.json'), 'utf8')) as {
      version: number;
    };
    assert.equal(meta.version, FORMAT_VERSION);
    assert.equal(FORMAT_VERSION, 3);
    assert.ok((await readdir(dir)).includes('0000000002.index'));
    assert.deepEqual((await contentOf(dir)).bytes, concatBytes([a, b, bytesOf(9, 3)]));
  });
});
