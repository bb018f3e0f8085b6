import assert from 'node:assert/strict';
import { Volume } from 'memfs';
import { FSM } from '../../src/fsm.js';
import { MemoryJournal } from '../../src/journal/memory.js';
import { RecordedFs, type BaseFs } from '../../src/recorded-fs.js';
import { Recorder } from '../../src/recorder.js';
import { readAllOps, replayOps } from '../helpers/raw-log.js';

describe('RecordedFs: a truncating open and a write in flight on the same file', () => {
  it('records what the file really holds', async () => {
    const vol = new Volume();
    await vol.promises.mkdir('/d', { recursive: true });
    const promises = vol.promises as unknown as BaseFs;
    // A base whose writes take effect at once but report completion 20 ms later, as a libuv
    // thread-pool write can (pwrite done, completion not yet delivered).
    const base: BaseFs = new Proxy(promises, {
      get(target, key) {
        if (key !== 'open') return Reflect.get(target, key);
        return async (...args: Parameters<BaseFs['open']>) => {
          const handle = await target.open(...args);
          return new Proxy(handle, {
            get(h, k) {
              if (k !== 'write') return Reflect.get(h, k);
              return (buffer: Uint8Array, offset: number, length: number, position: number) => {
                const bytesWritten = vol.writeSync(h.fd, buffer, offset, length, position);
                return new Promise((resolve) =>
                  setTimeout(() => resolve({ bytesWritten, buffer }), 20),
                );
              };
            },
          });
        };
      },
    });
    const journal = new MemoryJournal('t/log');
    const fsm = new FSM({ log: journal.name, liveNodes: [], properties: [] });
    const recorder = await Recorder.open({ journal, fsm, author: 7, dir: '/d' });
    const rfs = new RecordedFs(recorder, base);

    const first = await rfs.open('/d/f', 'w');
    const writing = first.write(Buffer.from('hello')); // reaches the file first...
    await new Promise((resolve) => setImmediate(resolve));
    const second = await rfs.open('/d/f', 'w'); // ...then a second open truncates it
    await writing;
    await recorder.barrier();

    const real = vol.readFileSync('/d/f').toString();
    const replayed = replayOps(await readAllOps(journal));
    const fnode = replayed.links.get('/f');
    assert.notEqual(fnode, undefined);
    const recorded = Buffer.from(replayed.contents.get(fnode!) ?? new Uint8Array()).toString();
    assert.equal(real, '');
    assert.equal(recorded, real);
    await first.close();
    await second.close();
  });
});
