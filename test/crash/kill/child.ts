/**
 * A recording child of the kill -9 test. It loads everything, says 'ready', and waits for 'go'
 * (so the parent can keep one warm and hide Node's start-up). Then, in this fresh process:
 *
 * 1. recover: open the FileJournal (which repairs the tail the last victim left), pick the stored
 *    hints (or none: replay from offset 0), play them into a fresh directory with injectHandoff
 *    (fencing every earlier writer), store them as recovered hints, and report the tree;
 * 2. record: continue with a Recorder from the recovered FSM (new author) through RecordedFs,
 *    writing each op to the intent file first, issuing barriers and reporting `ack` only after
 *    they resolved; now and then build hints, ack them, and store them as the primary;
 * 3. until the parent kills it (or a failpoint does). On 'pause' it settles its acks and waits;
 *    on 'zombie' (after another process took over) it tries to record once more and reports
 *    whether the journal fenced it.
 *
 * A `stoppable` child is SIGSTOPped by the parent while it records (right after an ack, holding
 * the append lock) and SIGCONTed once another process took the log over: it resumes where it
 * was, unaware, and its next append must fail. That failure ends its recording; after the
 * 'zombie' message it tries the zombie file too and reports what it met (never an ack).
 */
import { promises as fsp } from 'node:fs';
import { FileJournal } from '../../../src/journal/file.js';
import { RegisterMismatchError } from '../../../src/journal/errors.js';
import { HintsStore, StoredHintsError } from '../../../src/hints-store.js';
import { Player } from '../../../src/player.js';
import { RecordedFs, type BaseFs } from '../../../src/recorded-fs.js';
import { Recorder } from '../../../src/recorder.js';
import type { FSMHints } from '../../../src/wire/types.js';
import { kill, killingStorage, killingTargetFs, playerJournal } from './child-faults.js';
import { IntentWriter } from './intents.js';
import { TreeModel, prng } from './model.js';
import { zombieFile, type ChildMessage, type GoMessage, type ParentMessage } from './protocol.js';
import { readDir, snapshotOfDir } from './tree.js';
import { nextOp, perform } from './workload.js';

function send(message: ChildMessage): Promise<void> {
  // Resolves once the message is handed to the channel: a kill after that cannot lose it.
  return new Promise((resolve, reject) => {
    process.send!(message, undefined, {}, (err: Error | null) => (err ? reject(err) : resolve()));
  });
}

function errorFields(err: unknown): { errorName: string; errorCode: string; message: string } {
  if (!(err instanceof Error))
    return { errorName: typeof err, errorCode: '', message: String(err) };
  const code = (err as { code?: unknown }).code;
  return { errorName: err.constructor.name, errorCode: String(code ?? ''), message: err.message };
}

let pauseRequested = false;
let zombieRequested = false;
let resumeZombie: (() => void) | undefined;
let goReceived: ((go: GoMessage) => void) | undefined;
const go = new Promise<GoMessage>((resolve) => (goReceived = resolve));

process.on('message', (message: ParentMessage) => {
  if (message.type === 'go') goReceived?.(message);
  else if (message.type === 'pause') pauseRequested = true;
  else if (message.type === 'zombie') {
    zombieRequested = true;
    resumeZombie?.();
  }
});
// A warm child whose parent went away has nothing left to do.
process.on('disconnect', () => process.exit(0));

async function recover(cfg: GoMessage) {
  const started = performance.now();
  const journal = await FileJournal.open(cfg.journalDir, { storage: killingStorage() });
  const store = new HintsStore(cfg.hintsDir, 'hints', { storage: killingStorage() });
  let hints: FSMHints = { log: journal.name, liveNodes: [], properties: [] };
  if (cfg.useHints) hints = await store.pick(journal.name);
  const player = new Player({ fs: killingTargetFs });
  player.injectHandoff(cfg.author);
  const forPlayer = playerJournal(journal);
  const result = await player.play({ hints, dir: cfg.treeDir, journals: () => forPlayer });
  // Gazette keeps the hints a Player recovered with as backups.
  await store.storeRecovered(hints);
  const contents = await readDir(cfg.treeDir);
  await send({
    type: 'recovered',
    tree: snapshotOfDir(contents),
    fsm: { seqNo: result.fsm.nextSeqNo, checksum: result.fsm.nextChecksum },
    usedHints: cfg.useHints,
    recoveryMs: performance.now() - started,
  });
  const model = TreeModel.fromDir(contents.files, new Set(result.fsm.properties.keys()));
  return { journal, store, fsm: result.fsm, model };
}

async function run(cfg: GoMessage): Promise<void> {
  const { journal, store, fsm, model } = await recover(cfg);
  const recorder = await Recorder.open({
    journal,
    fsm,
    author: cfg.author,
    dir: cfg.treeDir,
  });
  const rfs = new RecordedFs(recorder, fsp as unknown as BaseFs);
  const intents = new IntentWriter(cfg.intentsFile);
  const random = prng(cfg.seed);

  /** Acks are sent in op order: each waits for the previous one's barrier and message. */
  let acked: Promise<void> = Promise.resolve();
  let inflight = 0;
  const ack = (op: number, seqNo: number, durable: Promise<unknown>): void => {
    inflight++;
    const previous = acked;
    acked = (async () => {
      await durable;
      await previous;
      kill('kill-sync-before-ack');
      await send({ type: 'ack', op, seqNo });
      inflight--;
    })();
    acked.catch(() => undefined);
  };

  let i = 0;
  let untilBarrier = 1;
  let untilHints = 5 + Math.floor(random() * 20);
  /** What ended a stoppable child's recording (the fencing it met after it was resumed). */
  let stoppedBy: unknown;
  while (!pauseRequested && !zombieRequested) {
    try {
      const op = nextOp(model, random);
      intents.intend(i + 1, op);
      await perform(rfs, cfg.treeDir, op);
      model.apply(op);
      i++;
      intents.done(i, { seqNo: recorder.fsm.nextSeqNo, checksum: recorder.fsm.nextChecksum });
      if (--untilBarrier === 0) {
        ack(i, recorder.fsm.nextSeqNo - 1, recorder.barrier());
        untilBarrier = 1 + Math.floor(random() * 6);
      }
      // Back-pressure: keep the journal's queue short, as an application awaiting syncs would.
      if (inflight >= 3) await acked;
      if (--untilHints === 0) {
        const seqNo = recorder.fsm.nextSeqNo - 1;
        const hints = await recorder.buildHints(); // resolves once every op in it is durable
        ack(i, seqNo, Promise.resolve());
        await acked; // the parent knows these ops are durable before any hints name them
        await store.storePrimary(hints);
        await send({ type: 'hints', op: i });
        untilHints = 10 + Math.floor(random() * 30);
      }
    } catch (err) {
      if (cfg.stoppable !== true) throw err;
      stoppedBy = err;
      break;
    }
  }

  if (cfg.stoppable !== true) {
    await recorder.barrier();
    ack(i, recorder.fsm.nextSeqNo - 1, Promise.resolve());
    await acked;
    await send({ type: 'paused', op: i });
  }
  if (!zombieRequested) await new Promise<void>((resolve) => (resumeZombie = resolve));

  // Another process has recovered with a hand-off since: everything from here must be fenced.
  let error: unknown = stoppedBy;
  try {
    const zombie = zombieFile(cfg.author);
    await rfs.writeFile(cfg.treeDir + zombie.path, zombie.content);
    await recorder.barrier();
  } catch (err) {
    error ??= err;
  }
  error ??= recorder.failed;
  await send({
    type: 'zombie-result',
    fenced: error instanceof RegisterMismatchError,
    failed: error !== undefined,
    ...errorFields(error),
  });
  // Stay until the parent kills us, like a stuck old primary.
  await new Promise(() => undefined);
}

await send({ type: 'ready' });
const cfg = await go;
try {
  await run(cfg);
} catch (err) {
  const detail = err instanceof StoredHintsError ? 'stored hints unusable: ' : '';
  await send({
    type: 'error',
    message: `${detail}${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`,
  }).catch(() => undefined);
  process.exit(1);
}
