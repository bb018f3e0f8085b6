/**
 * How the Recorder hands frames to the journal (recorder-queue.ts): the frames of many record
 * calls packed into a few buffers, copies that the caller's later changes cannot reach, and the
 * checksums noted for large chunks so the journal never reads them again.
 */
import assert from 'node:assert/strict';
import { crc32c, crc32cUpdate, knownCrc32c } from '../../src/crc32c.js';
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
import { Recorder } from '../../src/recorder.js';
import { readAllOps } from '../helpers/raw-log.js';

const LOG = 'tests/recorder-queue/log';

/** A journal that keeps the chunks of every append that carries bytes, as handed over. */
class ChunkJournal implements Journal {
  readonly appends: Uint8Array[][] = [];
  constructor(readonly inner: Journal) {}
  get name(): string {
    return this.inner.name;
  }
  append(data: Uint8Array | readonly Uint8Array[], options?: AppendOptions): Promise<AppendResult> {
    const chunks = data instanceof Uint8Array ? [data] : [...data];
    if (chunks.some((c) => c.length > 0)) this.appends.push(chunks);
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

async function setup() {
  const journal = new ChunkJournal(new MemoryJournal(LOG));
  const fsm = new FSM({ log: LOG, liveNodes: [], properties: [] });
  const recorder = await Recorder.open({ journal, fsm, author: 5, dir: '/d' });
  journal.appends.length = 0;
  return { journal, recorder };
}

/** Bitwise CRC-32C, the reference for the implementation switch by size. */
function referenceCrc(seed: number, bytes: Uint8Array): number {
  let crc = ~seed >>> 0;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

describe('Recorder append queue', () => {
  it('packs the frames of many small record calls into a few chunks, in order', async () => {
    const { journal, recorder } = await setup();
    const fnode = recorder.recordCreate('/d/f');
    for (let i = 0; i < 1000; i++) recorder.recordWriteAt(fnode, Buffer.from(`w${i}`), i * 8);
    await recorder.barrier();
    assert.equal(journal.appends.length, 1);
    assert.ok(journal.appends[0]!.length <= 2, `${journal.appends[0]!.length} chunks`);
    const writes = (await readAllOps(journal)).filter((e) => e.op.write);
    assert.deepEqual(
      writes.map((e) => Buffer.from(e.payload!).toString()),
      Array.from({ length: 1000 }, (_, i) => `w${i}`),
    );
    assert.deepEqual(
      writes.map((e) => e.op.seqNo),
      Array.from({ length: 1000 }, (_, i) => i + 2),
    );
  });

  it('copies payloads: changing the buffer after the call changes nothing recorded', async () => {
    const { journal, recorder } = await setup();
    const fnode = recorder.recordCreate('/d/f');
    const small = Buffer.from('small');
    const large = Buffer.alloc(40 * 1024, 0x61);
    recorder.recordWriteAt(fnode, small, 0);
    recorder.recordWriteAt(fnode, large, 5);
    small.fill(0x7a);
    large.fill(0x7a);
    await recorder.barrier();
    const payloads = (await readAllOps(journal))
      .filter((e) => e.op.write)
      .map((e) => Buffer.from(e.payload!));
    assert.equal(payloads[0]!.toString(), 'small');
    assert.ok(payloads[1]!.equals(Buffer.alloc(40 * 1024, 0x61)));
  });

  it('a large copied write is a chunk of its own whose checksum is noted (never read again)', async () => {
    const { journal, recorder } = await setup();
    const fnode = recorder.recordCreate('/d/f');
    const large = Buffer.alloc(64 * 1024, 0x62);
    recorder.recordWriteAt(fnode, large, 0);
    recorder.recordWriteAt(fnode, Buffer.from('tail'), large.length);
    await recorder.barrier();
    const chunks = journal.appends[0]!;
    const framed = chunks.find((c) => c.length > large.length)!;
    assert.notEqual(framed, undefined);
    assert.equal(knownCrc32c(framed), crc32c(framed));
    assert.ok(Buffer.from(framed.subarray(framed.length - large.length)).equals(large));
  });

  it('a handed-over payload travels as the caller’s buffer itself, its checksum noted', async () => {
    const { journal, recorder } = await setup();
    const fnode = recorder.recordCreate('/d/f');
    const data = Buffer.alloc(20 * 1024, 0x63);
    recorder.recordWriteAt(fnode, data, 0, { handOver: true });
    await recorder.barrier();
    const chunks = journal.appends[0]!;
    assert.ok(chunks.includes(data));
    assert.equal(knownCrc32c(data), crc32c(data));
  });

  it('crc32cUpdate agrees with a bitwise CRC-32C on both sides of its size switch', () => {
    for (const size of [0, 1, 7, 31, 100, 127, 128, 129, 200, 255, 256, 1000]) {
      const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 131 + size) & 0xff);
      for (const seed of [0, 0xe3069283]) {
        assert.equal(crc32cUpdate(seed, bytes), referenceCrc(seed, bytes), `size ${size}`);
        assert.equal(crc32cUpdate(seed, Buffer.from(bytes)), referenceCrc(seed, bytes));
      }
    }
  });
});
