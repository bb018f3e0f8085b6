/**
 * The file journal's commit path (issue 11): how many async calls a commit costs, and payload
 * checksums computed once (a handed-over buffer's CRC is combined, not read again).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMBINE_PAYS_FROM, crc32c, knownCrc32c, noteCrc32c } from '../../src/crc32c.js';
import { JournalCorruptError } from '../../src/journal/errors.js';
import { FileJournal } from '../../src/journal/file.js';
import type { Journal } from '../../src/journal/journal.js';
import { MemoryJournal } from '../../src/journal/memory.js';
import { nodeStorage, type JournalStorage } from '../../src/journal/storage.js';
import { FSM } from '../../src/fsm.js';
import { Recorder } from '../../src/recorder.js';
import { bytesOf, concatBytes, readAll } from '../helpers/journal-contract.js';

const scratch: string[] = [];
async function scratchDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rl-commit-path-'));
  scratch.push(dir);
  return dir;
}
after(async function () {
  await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
});

const HANDLE_CALLS = ['read', 'write', 'writev', 'stat', 'datasync', 'sync'] as const;

/**
 * node:fs with every async call on an opened file counted. The handles stay node:fs's own
 * (methods replaced on the object), so the journal sees real files exactly as in production.
 */
function countingStorage(
  counts: Map<string, number>,
  onSync?: (path: string) => void,
): JournalStorage {
  return {
    ...nodeStorage,
    open: async (path, flags) => {
      const handle = await nodeStorage.open(path, flags);
      const methods = handle as unknown as Record<string, (...args: unknown[]) => unknown>;
      for (const name of HANDLE_CALLS) {
        const original = methods[name]!.bind(handle);
        methods[name] = (...args: unknown[]) => {
          counts.set(name, (counts.get(name) ?? 0) + 1);
          if (name === 'datasync') onSync?.(path);
          return original(...args);
        };
      }
      return handle;
    },
  };
}

describe('FileJournal commit path', function () {
  this.timeout(20_000);

  it('a small commit on real files costs one async call, one fdatasync of one file (found by issue 11)', async function () {
    const synced: string[] = [];
    const counts = new Map<string, number>();
    let atWrite: Map<string, number> | undefined;
    const journal = await FileJournal.create(join(await scratchDir(), 'log'), 'commit/calls', {
      storage: countingStorage(counts, (path) => synced.push(path)),
      // Calls from here to the append's resolution are the commit's own (idle confirmations
      // never run while a batch is in flight).
      hooks: {
        beforeWrite: () => {
          atWrite = new Map(counts);
          synced.length = 0;
        },
      },
    });
    await journal.append(bytesOf(140, 1)); // starts the epoch: files opened, START written
    for (let i = 0; i < 20; i += 1) {
      await journal.append(bytesOf(140, i));
      const made = HANDLE_CALLS.map((name) => [
        name,
        (counts.get(name) ?? 0) - (atWrite?.get(name) ?? 0),
      ]);
      assert.deepEqual(
        made.filter(([, n]) => n !== 0),
        [['datasync', 1]],
        'async calls of one commit',
      );
      assert.match(synced.join(), /0000000001\.index$/, 'the one file synced: the index');
    }
    await journal.close();
    const again = await FileJournal.open(journal.dir);
    assert.equal(await again.head(), 21 * 140);
    await again.close();
  });

  it('a handed-over chunk: its noted CRC goes into the commit checksum, its bytes are not read again', async function () {
    const dir = join(await scratchDir(), 'log');
    const journal = await FileJournal.create(dir, 'commit/crc');
    const header = bytesOf(38, 7);
    const payload = bytesOf(64 * 1024, 8);
    noteCrc32c(payload, crc32c(payload));
    await journal.append([header, payload]);
    const lying = bytesOf(16 * 1024, 9);
    noteCrc32c(lying, crc32c(lying) ^ 1); // a CRC that does not match: proves it is used
    await journal.append(lying);
    await journal.append(bytesOf(10, 10)); // confirms the damaged commit: no longer "unfinished"
    await journal.close();

    const again = await FileJournal.open(dir);
    assert.deepEqual(
      (await again.read(0, { blocking: false, maxBytes: header.length + payload.length })).bytes,
      concatBytes([header, payload]),
    );
    await assert.rejects(readAll(again), JournalCorruptError);
    await again.close();
  });

  it('Recorder.recordWriteAt with handOver appends the caller buffer itself; without, a copy whose CRC is noted', async function () {
    const appended: Uint8Array[] = [];
    const memory = new MemoryJournal('commit/handover');
    const journal: Journal = Object.assign(Object.create(memory) as Journal, {
      append: (data: Uint8Array | readonly Uint8Array[], options: unknown) => {
        appended.push(...(data instanceof Uint8Array ? [data] : data));
        return memory.append(data, options as Parameters<Journal['append']>[1]);
      },
    });
    const dir = join(await scratchDir(), 'recorded');
    const recorder = await Recorder.open({
      journal,
      fsm: new FSM({ log: journal.name, liveNodes: [], properties: [] }),
      author: 77,
      dir,
    });
    const fnode = recorder.recordCreate(join(dir, 'f'));
    const handed = bytesOf(8 * 1024, 3);
    const copied = bytesOf(COMBINE_PAYS_FROM, 4);
    recorder.recordWriteAt(fnode, handed, 0, { handOver: true });
    recorder.recordWriteAt(fnode, copied, handed.length);
    await recorder.barrier();
    assert.ok(appended.includes(handed), 'the handed-over buffer travels as is');
    assert.ok(!appended.includes(copied), 'a buffer not handed over is copied');
    const log = concatBytes(appended);
    const at = Buffer.from(log).indexOf(Buffer.from(handed));
    assert.ok(at > 0, 'the payload follows its frame in the log');
    assert.ok(Buffer.from(log).indexOf(Buffer.from(copied)) > at);
    // The copy (frame + payload) carries a noted CRC, so the journal does not read it again.
    const framed = appended.find((chunk) => Buffer.from(chunk).includes(Buffer.from(copied)));
    assert.ok(framed !== undefined);
    assert.equal(knownCrc32c(framed), crc32c(framed));
  });
});
