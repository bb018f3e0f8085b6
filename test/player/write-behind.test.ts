import assert from 'node:assert/strict';
import { WRITE_BEHIND_BYTES, WriteBehind } from '../../src/player/write-behind.js';

interface Batch {
  fnode: number;
  position: number;
  bytes: Uint8Array;
  pieces: number;
}

/** A WriteBehind whose batches are recorded (as copies); `gate` holds each batch until released. */
function recording(options: { fail?: (batch: Batch) => boolean; slow?: boolean } = {}) {
  const batches: Batch[] = [];
  const buffers = new Set<ArrayBufferLike>();
  const writes = new WriteBehind(async (fnode, position, pieces, total) => {
    if (options.slow === true) await new Promise((resolve) => setTimeout(resolve, 1));
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const piece of pieces) {
      buffers.add(piece.buffer);
      bytes.set(piece, at);
      at += piece.length;
    }
    const batch = { fnode, position, bytes, pieces: pieces.length };
    if (options.fail?.(batch) === true) throw new Error(`disk full at fnode ${fnode}`);
    batches.push(batch);
  });
  return { writes, batches, buffers };
}

describe('WriteBehind (the Player write queue)', () => {
  it('copies the bytes: the caller may reuse its buffer as soon as write() resolves', async () => {
    const { writes, batches } = recording({ slow: true });
    const buffer = new Uint8Array(1000);
    for (let i = 0; i < 5; i++) {
      buffer.fill(0x61 + i);
      await writes.write(1, i * 1000, buffer);
    }
    buffer.fill(0);
    await writes.flush();
    const written = new Uint8Array(5000);
    for (const b of batches) written.set(b.bytes, b.position);
    for (let i = 0; i < 5; i++) {
      assert.ok(written.subarray(i * 1000, (i + 1) * 1000).every((x) => x === 0x61 + i));
    }
  });

  it('writes in call order, coalescing only writes that continue one another in one file', async () => {
    const { writes, batches } = recording({ slow: true });
    const piece = (byte: number): Uint8Array => new Uint8Array(10).fill(byte);
    await writes.write(1, 0, piece(1));
    await writes.write(1, 10, piece(2));
    await writes.write(2, 0, piece(3));
    await writes.write(1, 20, piece(4));
    await writes.write(1, 0, piece(5)); // overwrites what fnode 1 got first: must land last
    await writes.flush();
    const summary = batches.map((b) => `${b.fnode}@${b.position}+${b.bytes.length}`);
    // The first write starts the drain alone; what queued behind it coalesces where it can.
    assert.deepEqual(summary, ['1@0+10', '1@10+10', '2@0+10', '1@20+10', '1@0+10']);
    assert.deepEqual([...batches.at(-1)!.bytes], [...piece(5)]);
  });

  it('joins contiguous writes queued behind a running batch into one iovec', async () => {
    const { writes, batches } = recording({ slow: true });
    const pending = [];
    for (let i = 0; i < 100; i++)
      pending.push(writes.write(7, i * 100, new Uint8Array(100).fill(i)));
    await Promise.all(pending);
    await writes.flush();
    assert.equal(batches.length, 2, 'the first write, then everything that queued behind it');
    assert.equal(batches[1]!.pieces, 1);
    assert.equal(batches[1]!.bytes.length, 9900);
    assert.equal(batches[1]!.bytes[9899], 99);
  });

  it('keeps the memory bounded: slabs are reused, however many bytes pass', async () => {
    const { writes, batches, buffers } = recording({ slow: true });
    const piece = new Uint8Array(64 * 1024).fill(0x7a);
    const total = 8 * WRITE_BEHIND_BYTES;
    for (let at = 0; at < total; at += piece.length) await writes.write(3, at, piece);
    await writes.flush();
    const written = batches.reduce((n, b) => n + b.bytes.length, 0);
    assert.equal(written, total);
    // About WRITE_BEHIND_BYTES of 1 MiB slabs, plus the one being filled, plus one in flight.
    assert.ok(buffers.size <= WRITE_BEHIND_BYTES / (1024 * 1024) + 2, `${buffers.size} slabs`);
  });

  it('a failed write fails every later call, and nothing after it is written', async () => {
    const { writes, batches } = recording({ fail: (b) => b.fnode === 2, slow: true });
    await writes.write(1, 0, new Uint8Array(10));
    await writes.write(2, 0, new Uint8Array(10));
    await assert.rejects(writes.flush(), /disk full at fnode 2/);
    await assert.rejects(writes.write(3, 0, new Uint8Array(10)), /disk full at fnode 2/);
    await assert.rejects(writes.flush(), /disk full at fnode 2/);
    assert.deepEqual(
      batches.map((b) => b.fnode),
      [1],
    );
  });
});
