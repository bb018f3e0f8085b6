import assert from 'node:assert/strict';
import { FSM } from '../../src/fsm.js';
import type { Journal, ReadOptions, ReadResult } from '../../src/journal/journal.js';
import { MemoryJournal } from '../../src/journal/memory.js';
import { LogReader } from '../../src/player/log-reader.js';
import { Player } from '../../src/player.js';
import { Recorder } from '../../src/recorder.js';
import { PLAY_TARGETS } from '../helpers/log-builder.js';

/** A journal that records the buffers lent to its reads (and serves them from `inner`). */
function lendingSpy(inner: Journal): {
  journal: Journal;
  lent: Set<ArrayBufferLike>;
  reads: () => number;
} {
  const lent = new Set<ArrayBufferLike>();
  let reads = 0;
  const journal: Journal = {
    name: inner.name,
    append: (data, options) => inner.append(data, options),
    head: () => inner.head(),
    registers: () => inner.registers(),
    close: () => inner.close(),
    async read(offset: number, options: ReadOptions): Promise<ReadResult> {
      reads++;
      if (options.into !== undefined) lent.add(options.into.buffer);
      return inner.read(offset, options);
    },
  };
  return { journal, lent, reads: () => reads };
}

/** A log of files with distinct bytes, written in writes of odd sizes that straddle reads. */
async function recordedLog(files: number, writes: number, size: number) {
  const journal = new MemoryJournal('t/log');
  const fsm = new FSM({ log: journal.name, liveNodes: [], properties: [] });
  const recorder = await Recorder.open({ journal, fsm, author: 3, dir: '/d' });
  const expected = new Map<string, Uint8Array>();
  for (let f = 0; f < files; f++) {
    const fnode = recorder.recordCreate(`/d/f${f}`);
    const content = new Uint8Array(writes * size);
    for (let w = 0; w < writes; w++) {
      const piece = new Uint8Array(size);
      for (let i = 0; i < size; i++) piece[i] = (f * 31 + w * 7 + i) & 0xff;
      recorder.recordWriteAt(fnode, piece, w * size);
      content.set(piece, w * size);
    }
    expected.set(`f${f}`, content);
  }
  return { journal, hints: await recorder.buildHints(), expected };
}

describe('LogReader lending its buffers (reuseBuffers)', () => {
  it('reads through two buffers, whatever the log length', async () => {
    const inner = new MemoryJournal('t/raw');
    await inner.append(new Uint8Array(200_000).fill(9));
    const { journal, lent, reads } = lendingSpy(inner);
    const reader = new LogReader({ readSize: 4096, reuseBuffers: true });
    reader.seek(journal, 0, 200_000);
    let seen = 0;
    const shortfall = await reader.readRaw(200_000, 200_000, (piece) => {
      assert.ok(piece.every((b) => b === 9));
      seen += piece.length;
    });
    assert.equal(shortfall, undefined);
    assert.equal(seen, 200_000);
    assert.ok(reads() >= 200_000 / 4096);
    assert.equal(lent.size, 2);
  });

  it('without it, lends nothing (other readers keep their bytes)', async () => {
    const inner = new MemoryJournal('t/raw');
    await inner.append(new Uint8Array(50_000).fill(1));
    const { journal, lent } = lendingSpy(inner);
    const reader = new LogReader({ readSize: 4096 });
    reader.seek(journal, 0, 50_000);
    const pieces: Uint8Array[] = [];
    await reader.readRaw(50_000, 50_000, (piece) => void pieces.push(piece));
    assert.equal(lent.size, 0);
    assert.ok(pieces.every((p) => p.every((b) => b === 1)));
  });

  for (const { name, make } of PLAY_TARGETS) {
    for (const readSize of [97, 1000, 64 * 1024]) {
      it(`the Player recovers every byte through lent buffers (${name}, reads of ${readSize} B)`, async () => {
        const target = await make();
        try {
          // Writes of 1,500 B: frames and payloads straddle reads of every size above; payloads
          // over maxBufferedPayload (1 KiB) take the verify-then-re-read path.
          const { journal: inner, hints, expected } = await recordedLog(3, 20, 1500);
          const { journal, lent } = lendingSpy(inner);
          for (const maxBufferedPayload of [1024, 16 * 1024]) {
            const player = new Player({ fs: target.fs, readSize, maxBufferedPayload });
            player.finishAtWriteHead();
            const dir = target.dir(`out-${maxBufferedPayload}`);
            await player.play({ hints, dir, journals: () => journal });
            for (const [file, content] of expected) {
              assert.deepEqual(Uint8Array.from(await target.readFile(`${dir}/${file}`)), content);
            }
          }
          assert.ok(lent.size >= 2 && lent.size <= 4, `${lent.size} buffers lent by 2 players`);
        } finally {
          await target.cleanup();
        }
      });
    }
  }
});
