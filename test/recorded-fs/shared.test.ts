/**
 * One truth per file (issue 9, item 3): any number of RecordedFs wrappers and handles over one
 * Recorder record exactly the bytes the file holds. Sizes of appended files, per-file write
 * queues, open handles and the namespace gate live with the Recorder, not with a wrapper.
 */
import assert from 'node:assert/strict';
import { RecordedFs } from '../../src/recorded-fs.js';
import { KINDS, recordedEnv, type RecordedEnv } from '../helpers/recorded-tree.js';

for (const kind of KINDS) {
  describe(`RecordedFs wrappers sharing one Recorder over ${kind}`, () => {
    let env: RecordedEnv;
    const p = (rel: string): string => `${env.dir}/${rel}`;
    beforeEach(async () => {
      env = await recordedEnv(kind);
    });
    afterEach(async () => {
      await env.cleanup();
    });

    it('appends through two wrappers land and are recorded at the real end (issue 9: AAACCCBBB recovered AAABBB)', async () => {
      const a = env.rfs;
      const b = new RecordedFs(env.recorder, env.base);
      await b.appendFile(p('log'), 'AAA');
      await a.appendFile(p('log'), 'CCC');
      await b.appendFile(p('log'), 'BBB');
      assert.equal(await a.readFile(p('log'), 'utf8'), 'AAACCCBBB');
      await env.assertRecoversLive();
    });

    it('concurrent appends through many wrappers and handles', async () => {
      const wrappers = [
        env.rfs,
        ...Array.from({ length: 3 }, () => new RecordedFs(env.recorder, env.base)),
      ];
      await wrappers[0]!.writeFile(p('log'), '');
      const handles = await Promise.all(wrappers.map((w) => w.open(p('log'), 'a')));
      await Promise.all(
        handles.flatMap((h, i) => Array.from({ length: 5 }, (_, j) => h.write(`${i}${j};`))),
      );
      await Promise.all(wrappers.map((w, i) => w.appendFile(p('log'), `w${i};`)));
      for (const h of handles) await h.close();
      assert.equal((await env.rfs.readFile(p('log'), 'utf8')).length, 4 * 5 * 3 + 4 * 3);
      await env.assertRecoversLive();
    });

    it("a truncating open through one wrapper moves another wrapper's handles to the new file", async () => {
      const a = env.rfs;
      const b = new RecordedFs(env.recorder, env.base);
      await a.writeFile(p('f'), 'old content');
      const h = await a.open(p('f'), 'r+');
      await b.writeFile(p('f'), 'new');
      await h.write('XY', 5); // Lands in the same (truncated) real file.
      await h.close();
      assert.equal(await a.readFile(p('f'), 'latin1'), 'new\0\0XY');
      await env.assertRecoversLive();
    });

    it("a re-record through one wrapper is atomic against another wrapper's appends", async () => {
      const a = env.rfs;
      const b = new RecordedFs(env.recorder, env.base);
      await a.writeFile(p('f'), 'start;');
      const appends = Array.from({ length: 20 }, (_, i) => b.appendFile(p('f'), `${i};`));
      const rerecorded = a.rerecord(p('f'));
      await Promise.all([...appends, rerecorded]);
      await b.appendFile(p('f'), 'end');
      await env.assertRecoversLive();
    });
  });
}
