import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FileJournal,
  FSM,
  HintsStore,
  Player,
  RecordedFs,
  Recorder,
  newRandomAuthor,
} from 'recoverylog';

const root = join(tmpdir(), 'recoverylog-quickstart'); // the app's state; starts afresh each run
await fs.rm(root, { recursive: true, force: true });
const dataDir = join(root, 'data');
await fs.mkdir(dataDir, { recursive: true });

// Record: every mutation made through `rfs` under dataDir is appended to the journal.
const journal = await FileJournal.create(join(root, 'log'), 'app/recovery-log');
const fsm = new FSM({ log: journal.name, liveNodes: [], properties: [] });
const recorder = await Recorder.open({ journal, fsm, author: newRandomAuthor(), dir: dataDir });
const rfs = new RecordedFs(recorder, fs);
const wal = await rfs.open(join(dataDir, '000001.log'), 'a');
await wal.appendFile('put k1 v1\n');
await wal.sync(); // durable on local disk AND in the journal
await wal.close();
await rfs.writeFile(join(dataDir, 'MANIFEST.tmp'), 'wal=000001.log\n');
await rfs.rename(join(dataDir, 'MANIFEST.tmp'), join(dataDir, 'MANIFEST'));
const hints = new HintsStore(join(root, 'hints'));
await hints.storePrimary(await recorder.buildHints()); // hints only name durable ops

// Recover anywhere: rebuild the directory from the hints and the journal.
const player = new Player();
player.injectHandoff(newRandomAuthor()); // take over: fences the old recorder out
const out = join(root, 'restored');
await player.play({ hints: await hints.pick(journal.name), dir: out, journals: () => journal });
console.log(await fs.readFile(join(out, 'MANIFEST'), 'utf8')); // wal=000001.log
await journal.close();
