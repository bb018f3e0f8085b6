/**
 * The file journal reading into a lent buffer (ReadOptions.into, issue 11 item 3): a reader that
 * reuses its buffers never touches fresh memory, and every byte handed out still lies in a commit
 * whose CRC was checked. Also: loading an index skips the data of large INLINE commits instead
 * of reading the whole index file into memory.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FSM } from '../../src/fsm.js';
import { JournalCorruptError, OffsetNotYetAvailableError } from '../../src/journal/errors.js';
import { FileJournal } from '../../src/journal/file.js';
import { COMMIT, decodeRecord, type Decoded } from '../../src/journal/fragment-record.js';
import type { Journal, ReadOptions, ReadResult } from '../../src/journal/journal.js';
import { nodeStorage, type JournalStorage } from '../../src/journal/storage.js';
import { Player } from '../../src/player.js';
import { Recorder } from '../../src/recorder.js';
import { bytesOf, concatBytes, readAll } from '../helpers/journal-contract.js';
import { PLAY_TARGETS } from '../helpers/log-builder.js';

const scratch: string[] = [];
async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rl-read-into-'));
  scratch.push(dir);
  return dir;
}
after(async function () {
  await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
});

const KiB = 1024;

/**
 * Appends of every kind: INLINE (small), data-file (over 64 KiB) and one of 300 KiB, larger
 * than most lent buffers below; `fragmentBytes` small enough that the journal rolls.
 */
const SIZES = [1000, 700, 100 * KiB, 3, 300 * KiB, 5000, 90 * KiB, 1, 2000, 70 * KiB, 800];

async function mixedJournal(fragmentBytes: number): Promise<{ dir: string; all: Uint8Array }> {
  const dir = join(await scratchDir(), 'log');
  const journal = await FileJournal.create(dir, 'into/log', { fragmentBytes });
  const parts = SIZES.map((size, i) => bytesOf(size, i + 1));
  for (const part of parts) await journal.append(part);
  await journal.close();
  return { dir, all: concatBytes(parts) };
}

/** Commit boundaries of SIZES (where each append begins). */
function boundaries(): number[] {
  const out = [0];
  for (const size of SIZES) out.push((out.at(-1) as number) + size);
  return out;
}

/** Reads from `from` to the head with `into` lent every time; checks each result is a view. */
async function readThrough(journal: Journal, from: number, into: Uint8Array): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let offset = from; ;) {
    let result: ReadResult;
    try {
      result = await journal.read(offset, { blocking: false, maxBytes: into.byteLength, into });
    } catch (error) {
      if (error instanceof OffsetNotYetAvailableError) return concatBytes(parts);
      throw error;
    }
    assert.equal(result.offset, offset);
    assert.ok(result.bytes.byteLength > 0 && result.bytes.byteLength <= into.byteLength);
    assert.equal(result.bytes.buffer, into.buffer, `the read at ${offset} is a view of into`);
    assert.ok(!Buffer.isBuffer(result.bytes), 'a plain Uint8Array');
    parts.push(result.bytes.slice()); // `into` is read over by the next read
    offset += result.bytes.byteLength;
  }
}

/** The records of an index file, in order. */
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

describe('FileJournal reads into a lent buffer (ReadOptions.into)', function () {
  this.timeout(120_000);

  it('returns views of `into` holding the same bytes as reads without it, for every commit kind and across rolls', async function () {
    for (const fragmentBytes of [32 * 1024 * 1024, 150 * KiB]) {
      const { dir, all } = await mixedJournal(fragmentBytes);
      const journal = await FileJournal.open(dir, { readOnly: true });
      try {
        assert.deepEqual(await readAll(journal), all, 'without into');
        if (fragmentBytes < all.byteLength) {
          assert.ok((await journal.fragments()).length > 2, 'the journal rolled');
        }
        // Lent buffers smaller than an INLINE commit, than a data commit, and larger than all.
        for (const size of [100, 4 * KiB, 70 * KiB, 1024 * KiB]) {
          const into = new Uint8Array(size);
          assert.deepEqual(await readThrough(journal, 0, into), all, `into of ${size} B`);
          // Reads starting mid-commit (and at the last byte of one).
          for (const begin of boundaries().slice(0, -1)) {
            for (const from of [begin + 1, begin + 7]) {
              if (from >= all.byteLength) continue;
              const { offset, bytes } = await journal.read(from, {
                blocking: false,
                maxBytes: size,
                into,
              });
              assert.equal(offset, from);
              assert.equal(bytes.buffer, into.buffer, `into of ${size} B from ${from}`);
              assert.deepEqual(bytes, all.subarray(from, from + bytes.byteLength));
            }
          }
        }
      } finally {
        await journal.close();
      }
    }
  });

  it('honours maxBytes below the size of `into`, also inside a commit already checked', async function () {
    const { dir, all } = await mixedJournal(32 * 1024 * 1024);
    const journal = await FileJournal.open(dir, { readOnly: true });
    try {
      const into = new Uint8Array(512 * KiB);
      const parts: Uint8Array[] = [];
      for (let offset = 0; offset < all.byteLength;) {
        const { bytes } = await journal.read(offset, { blocking: false, maxBytes: 3000, into });
        assert.ok(bytes.byteLength <= 3000);
        assert.equal(bytes.buffer, into.buffer);
        parts.push(bytes.slice());
        offset += bytes.byteLength;
      }
      assert.deepEqual(concatBytes(parts), all);
    } finally {
      await journal.close();
    }
  });

  it('a flipped byte in a committed commit is a JournalCorruptError through `into`, wherever the read starts', async function () {
    const { dir, all } = await mixedJournal(32 * 1024 * 1024);
    const starts = boundaries();
    const index = await readFile(join(dir, '0000000001.index'));
    const inline = recordsOf(index).filter(
      (r): r is Decoded & { payloadAt: number } => r.kind === COMMIT && r.payloadAt !== undefined,
    );
    assert.ok(inline.length >= 5, 'the small appends are INLINE commits');
    // [file, position, a journal offset inside the damaged commit] (the data file of fragment 1
    // holds journal offset p at position p).
    const damage: [string, number, number][] = [
      ['0000000001.data', (starts[2] as number) + 100 * KiB - 1, (starts[2] as number) + 10],
      ['0000000001.data', (starts[4] as number) + 250 * KiB, (starts[4] as number) + 5],
      ['0000000001.index', (inline[1] as { payloadAt: number }).payloadAt + 3, starts[1] as number],
    ];
    for (const [file, position, inside] of damage) {
      const copy = join(await scratchDir(), 'copy');
      await mkdir(copy);
      for (const name of ['journal.json', '0000000001.index', '0000000001.data']) {
        const bytes = await readFile(join(dir, name));
        if (name === file) bytes[position] = (bytes[position] as number) ^ 0x40;
        await writeFile(join(copy, name), bytes);
      }
      for (const size of [100, 64 * KiB, 1024 * KiB]) {
        const journal = await FileJournal.open(copy, { readOnly: true });
        try {
          assert.equal(await journal.head(), all.byteLength);
          await assert.rejects(
            journal.read(inside, { blocking: false, maxBytes: size, into: new Uint8Array(size) }),
            (error: unknown) => {
              assert.ok(error instanceof JournalCorruptError, `${file}@${position}: ${error}`);
              assert.equal(error.file, join(copy, file));
              return true;
            },
          );
        } finally {
          await journal.close();
        }
      }
    }
  });

  it('loading an index of large INLINE commits skips their data', async function () {
    const dir = join(await scratchDir(), 'log');
    const writer = await FileJournal.create(dir, 'into/inline');
    const piece = 60 * KiB; // under INLINE_MAX_BYTES: every append is an INLINE commit
    const appends = 8 * 16; // 7.5 MiB
    // One record in the middle is longer than a probe (its registers): read whole all the same.
    const registers = { big: 'r'.repeat(5000) };
    for (let i = 0; i < appends; i += 1) {
      await writer.append(bytesOf(piece, i), i === 50 ? { unionRegisters: registers } : {});
    }
    await writer.close();
    const indexBytes = (await readFile(join(dir, '0000000001.index'))).byteLength;
    assert.ok(indexBytes > appends * piece, 'the data lives in the index file');

    let indexRead = 0;
    const counting: JournalStorage = {
      ...nodeStorage,
      readFile: async (path: string) => {
        const bytes = await nodeStorage.readFile(path);
        if (path.endsWith('.index')) indexRead += bytes.byteLength;
        return bytes;
      },
      open: async (path, flags) => {
        const handle = await nodeStorage.open(path, flags);
        if (!path.endsWith('.index')) return handle;
        const read = handle.read.bind(handle);
        handle.read = async (buffer, offset, length, position) => {
          const result = await read(buffer, offset, length, position);
          indexRead += result.bytesRead;
          return result;
        };
        return handle;
      },
    };
    const journal = await FileJournal.open(dir, { storage: counting, readOnly: true });
    try {
      assert.equal(await journal.head(), appends * piece);
      assert.deepEqual(await journal.registers(), registers);
      assert.equal((await journal.fragments()).length, 1);
      // The records (~50 B each), a probe per record and one window at the start: not the data.
      assert.ok(
        indexRead < indexBytes / 20,
        `loading read ${indexRead} B of an index of ${indexBytes} B`,
      );
      const into = new Uint8Array(256 * KiB);
      const all = await readThrough(journal, 0, into);
      assert.equal(all.byteLength, appends * piece);
      for (let i = 0; i < appends; i += 1) {
        assert.deepEqual(
          all.subarray(i * piece, (i + 1) * piece),
          bytesOf(piece, i),
          `append ${i}`,
        );
      }
    } finally {
      await journal.close();
    }
  });

  for (const { name, make } of PLAY_TARGETS) {
    it(`the Player on a file journal recovers every byte through lent buffers (${name})`, async function () {
      const target = await make();
      const dir = join(await scratchDir(), 'log');
      const inner = await FileJournal.create(dir, 'into/play', { fragmentBytes: 96 * KiB });
      try {
        const fsm = new FSM({ log: inner.name, liveNodes: [], properties: [] });
        const recorder = await Recorder.open({ journal: inner, fsm, author: 3, dir: '/d' });
        const expected = new Map<string, Uint8Array>();
        // Small writes (INLINE commits) and large ones (data-file commits) in turn.
        for (let f = 0; f < 4; f += 1) {
          const fnode = recorder.recordCreate(`/d/f${f}`);
          const size = f % 2 === 0 ? 1500 : 80 * KiB;
          const content = new Uint8Array(6 * size);
          for (let w = 0; w < 6; w += 1) {
            const piece = bytesOf(size, f * 10 + w);
            recorder.recordWriteAt(fnode, piece, w * size);
            content.set(piece, w * size);
            await recorder.barrier();
          }
          expected.set(`f${f}`, content);
        }
        const hints = await recorder.buildHints();
        let lent = 0;
        let views = 0;
        const journal: Journal = {
          name: inner.name,
          append: (data, options) => inner.append(data, options),
          head: () => inner.head(),
          registers: () => inner.registers(),
          close: () => inner.close(),
          async read(offset: number, options: ReadOptions): Promise<ReadResult> {
            const result = await inner.read(offset, options);
            if (options.into !== undefined) {
              lent += 1;
              if (result.bytes.buffer === options.into.buffer) views += 1;
            }
            return result;
          },
        };
        for (const readSize of [97, 1000, 64 * KiB]) {
          const player = new Player({ fs: target.fs, readSize, maxBufferedPayload: 1024 });
          player.finishAtWriteHead();
          const out = target.dir(`out-${readSize}`);
          await player.play({ hints, dir: out, journals: () => journal });
          for (const [file, content] of expected) {
            assert.deepEqual(
              Uint8Array.from(await target.readFile(`${out}/${file}`)),
              content,
              `${file}, reads of ${readSize} B`,
            );
          }
        }
        assert.ok(lent > 0, 'the Player lent buffers');
        assert.equal(views, lent, 'every read through a lent buffer returned a view of it');
      } finally {
        await inner.close();
        await target.cleanup();
      }
    });
  }
});
