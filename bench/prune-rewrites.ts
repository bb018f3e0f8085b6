/**
 * The on-disk size of a journal before and after pruning (issue 8's workload): one 1 MiB file
 * rewritten 100 times through RecordedFs (write to a temp file, rename over it, as stores do),
 * then `prune` with the Recorder's hints, then a hinted playback checked against the live file.
 *
 *   node --import=tsx bench/prune-rewrites.ts [--rewrites N] [--mib M] [--fragment-mib F]
 */
import { promises as fs } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FileJournal, FSM, Player, RecordedFs, Recorder } from '../src/index.js';

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir)) total += (await stat(join(dir, entry))).size;
  return total;
}

const { values } = parseArgs({
  options: {
    rewrites: { type: 'string', default: '100' },
    mib: { type: 'string', default: '1' },
    'fragment-mib': { type: 'string', default: '32' },
  },
});
const rewrites = Number(values.rewrites);
const size = Number(values.mib) * 1024 * 1024;

const root = await mkdtemp(join(tmpdir(), 'rl-prune-'));
try {
  const data = join(root, 'data');
  await fs.mkdir(data);
  const journal = await FileJournal.create(join(root, 'log'), 'bench/prune-rewrites', {
    fragmentBytes: Number(values['fragment-mib']) * 1024 * 1024,
  });
  const recorder = await Recorder.open({
    journal,
    fsm: new FSM({ log: journal.name, liveNodes: [], properties: [] }),
    author: 1,
    dir: data,
  });
  const rfs = new RecordedFs(recorder, fs);
  let content = Buffer.alloc(0);
  for (let i = 0; i < rewrites; i += 1) {
    content = Buffer.alloc(size, i & 0xff);
    await rfs.writeFile(join(data, 'big.tmp'), content);
    await rfs.rename(join(data, 'big.tmp'), join(data, 'big'));
  }
  const hints = await recorder.buildHints();
  const before = await dirBytes(journal.dir);
  const fragmentsBefore = (await journal.fragments()).length;
  const result = await journal.prune([hints]);
  const after = await dirBytes(journal.dir);
  const fragmentsAfter = (await journal.fragments()).length;

  const player = new Player();
  player.finishAtWriteHead();
  const restored = join(root, 'restored');
  await player.play({ hints, dir: restored, journals: () => journal });
  const recovered = await fs.readFile(join(restored, 'big'));
  if (!recovered.equals(content)) throw new Error('the recovered file differs from the live one');
  await journal.close();
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  console.log(
    `prune-rewrites: ${rewrites} rewrites of a ${mib(size)} file, ${values['fragment-mib']} MiB ` +
      `fragments: journal directory ${mib(before)} ` +
      `in ${fragmentsBefore} fragments before prune, ${mib(after)} in ${fragmentsAfter} after ` +
      `(${result.deleted.length} fragments deleted; journal content ${mib(result.bytesBefore)} -> ` +
      `${mib(result.bytesAfter)}); hinted playback recovered the live file exactly`,
  );
} finally {
  await rm(root, { recursive: true, force: true });
}
