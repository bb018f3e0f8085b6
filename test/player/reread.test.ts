import assert from 'node:assert/strict';
import { FSM } from '../../src/fsm.js';
import type { Journal, ReadOptions, ReadResult } from '../../src/journal/journal.js';
import { MemoryJournal } from '../../src/journal/memory.js';
import { CorruptPayloadError, Player } from '../../src/player.js';
import { Recorder } from '../../src/recorder.js';
import { PLAY_TARGETS } from '../helpers/log-builder.js';

/**
 * A journal whose Nth read covering `at` returns that byte with one bit flipped (a copy: the
 * journal itself stays intact), as a flaky disk or a remote replica could.
 */
function flipOnRead(inner: Journal, at: number, nth: number): Journal {
  let reads = 0;
  return {
    name: inner.name,
    append: (data, options) => inner.append(data, options),
    head: () => inner.head(),
    registers: () => inner.registers(),
    close: () => inner.close(),
    async read(offset: number, options: ReadOptions): Promise<ReadResult> {
      const result = await inner.read(offset, options);
      const end = result.offset + result.bytes.length;
      if (result.offset <= at && at < end && ++reads === nth) {
        const bytes = Uint8Array.from(result.bytes);
        bytes[at - result.offset] ^= 1;
        return { offset: result.offset, bytes };
      }
      return result;
    },
  };
}

for (const { name, make } of PLAY_TARGETS) {
  describe(`Player re-reading a large payload (${name})`, () => {
    async function recordedLog() {
      const journal = new MemoryJournal('t/log');
      const fsm = new FSM({ log: journal.name, liveNodes: [], properties: [] });
      const recorder = await Recorder.open({ journal, fsm, author: 7, dir: '/d' });
      const fnode = recorder.recordCreate('/d/f');
      recorder.recordWriteAt(fnode, new Uint8Array(100).fill(0x41), 0);
      const hints = await recorder.buildHints();
      return { journal, hints, payloadStart: (await journal.head()) - 100 };
    }

    for (const nth of [1, 2]) {
      it(`fails with CorruptPayloadError when read #${nth} of the payload differs, publishing nothing`, async () => {
        const target = await make();
        try {
          const { journal, hints, payloadStart } = await recordedLog();
          const player = new Player({ fs: target.fs, maxBufferedPayload: 10, readSize: 16 });
          player.finishAtWriteHead();
          const dir = target.dir('out');
          await assert.rejects(
            player.play({ hints, dir, journals: () => flipOnRead(journal, payloadStart + 5, nth) }),
            CorruptPayloadError,
          );
          assert.equal(await target.exists(dir), false);
        } finally {
          await target.cleanup();
        }
      });
    }

    it('recovers the payload when every read agrees', async () => {
      const target = await make();
      try {
        const { journal, hints } = await recordedLog();
        const player = new Player({ fs: target.fs, maxBufferedPayload: 10, readSize: 16 });
        player.finishAtWriteHead();
        const dir = target.dir('out');
        await player.play({ hints, dir, journals: () => journal });
        assert.deepEqual(
          Uint8Array.from(await target.readFile(`${dir}/f`)),
          new Uint8Array(100).fill(0x41),
        );
      } finally {
        await target.cleanup();
      }
    });
  });
}
