/**
 * A child process of the JetStream kill layer (recorded-kill.test.ts), started with IPC. It says
 * 'ready', takes one 'go' message and then plays one of two roles:
 *
 * - `recover` (the "other machine"): opens the journal read-only on connections of its own,
 *   plays it from offset 0, or from the hints in the KV store, into a fresh directory, finishing
 *   at the write head, and reports the tree and the FSM position. The parent may SIGKILL it
 *   mid-playback (a recovery that crashed must change nothing).
 * - `writer`: recovers with a hand-off (fencing every earlier writer), then records the kill
 *   layer's random workload through RecordedFs, reporting each op BEFORE it is performed (so the
 *   parent knows every op that may reach the journal) and acknowledging ops once a barrier
 *   resolved. The parent SIGSTOPs it, lets another writer take over, SIGCONTs it and sends
 *   'zombie': it then tries to record the zombie file and reports what stopped it.
 */
import { promises as fsp } from 'node:fs';
import { RegisterMismatchError } from '../../src/journal/errors.js';
import { JetStreamJournal } from '../../src/journal/jetstream.js';
import { KvHintsStore } from '../../src/kv-hints-store.js';
import { Player } from '../../src/player.js';
import { RecordedFs, type BaseFs } from '../../src/recorded-fs.js';
import { Recorder } from '../../src/recorder.js';
import type { FSMHints } from '../../src/wire/types.js';
import { TreeModel, prng, type KillOp } from '../crash/kill/model.js';
import type { FsmPosition } from '../crash/kill/protocol.js';
import { zombieFile } from '../crash/kill/protocol.js';
import { readDir, snapshotOfDir, type TreeSnapshot } from '../crash/kill/tree.js';
import { nextOp, perform } from '../crash/kill/workload.js';

export interface JournalAt {
  servers: string[];
  name: string;
  stream: string;
  subject: string;
}

export interface RecoverGo {
  type: 'go';
  role: 'recover';
  journal: JournalAt;
  dir: string;
  /** Play from these stored hints (the KV store's pick), else from offset 0. */
  kv?: { bucket: string; store: string };
}

export interface WriterGo {
  type: 'go';
  role: 'writer';
  journal: JournalAt;
  dir: string;
  author: number;
  seed: number;
}

export type ChildGo = RecoverGo | WriterGo;

export type KillChildMessage =
  | { type: 'ready' }
  | { type: 'recovered'; tree: TreeSnapshot; fsm: FsmPosition; usedHints: boolean }
  /** Op `op` (1-based) is about to be performed: it may reach the journal from now on. */
  | { type: 'intent'; op: number; body: KillOp }
  /** Ops 1..op are durable; `post` is the Recorder's FSM after op `op`. */
  | { type: 'ack'; op: number; post: FsmPosition }
  | {
      type: 'zombie-result';
      fenced: boolean;
      errorName: string;
      message: string;
      /** Ops acknowledged after the SIGCONT (must be none that the hand-off did not see). */
      ackedAfterResume: number;
    }
  | { type: 'error'; message: string };

function send(message: KillChildMessage): Promise<void> {
  // Resolves once the message is handed to the channel: a SIGSTOP after that cannot hold it back.
  return new Promise((resolve, reject) => {
    process.send!(message, undefined, {}, (err: Error | null) => (err ? reject(err) : resolve()));
  });
}

function openJournal(at: JournalAt, readOnly: boolean): Promise<JetStreamJournal> {
  return JetStreamJournal.open(at.name, {
    servers: at.servers,
    stream: at.stream,
    subject: at.subject,
    readOnly,
    requestTimeoutMs: 2000,
    retryDeadlineMs: 90_000,
  });
}

async function recover(go: RecoverGo): Promise<void> {
  const journal = await openJournal(go.journal, true);
  let hints: FSMHints = { log: journal.name, liveNodes: [], properties: [] };
  if (go.kv !== undefined) {
    const store = await KvHintsStore.open({
      servers: go.journal.servers,
      bucket: go.kv.bucket,
      name: go.kv.store,
    });
    try {
      hints = await store.pick(journal.name);
    } finally {
      await store.close();
    }
  }
  const player = new Player();
  player.finishAtWriteHead();
  const result = await player.play({ hints, dir: go.dir, journals: () => journal });
  await journal.close();
  await send({
    type: 'recovered',
    tree: snapshotOfDir(await readDir(go.dir)),
    fsm: { seqNo: result.fsm.nextSeqNo, checksum: result.fsm.nextChecksum },
    usedHints: go.kv !== undefined,
  });
}

let zombieRequested = false;
let resumeZombie: (() => void) | undefined;

async function write(go: WriterGo): Promise<void> {
  const journal = await openJournal(go.journal, false);
  const player = new Player();
  player.injectHandoff(go.author);
  const result = await player.play({
    hints: { log: journal.name, liveNodes: [], properties: [] },
    dir: go.dir,
    journals: () => journal,
  });
  const contents = await readDir(go.dir);
  await send({
    type: 'recovered',
    tree: snapshotOfDir(contents),
    fsm: { seqNo: result.fsm.nextSeqNo, checksum: result.fsm.nextChecksum },
    usedHints: false,
  });
  const model = TreeModel.fromDir(contents.files, new Set(result.fsm.properties.keys()));
  const recorder = await Recorder.open({
    journal,
    fsm: result.fsm,
    author: go.author,
    dir: go.dir,
  });
  const rfs = new RecordedFs(recorder, fsp as unknown as BaseFs);
  const random = prng(go.seed);
  let failure: unknown;
  let ackedAfterResume = 0;
  let resumed = false;
  let i = 0;
  while (failure === undefined && !zombieRequested) {
    try {
      const op = nextOp(model, random);
      await send({ type: 'intent', op: i + 1, body: op });
      await perform(rfs, go.dir, op);
      model.apply(op);
      i += 1;
      const post = { seqNo: recorder.fsm.nextSeqNo, checksum: recorder.fsm.nextChecksum };
      await recorder.barrier();
      if (resumed) ackedAfterResume += 1;
      await send({ type: 'ack', op: i, post });
      await new Promise((resolve) => setTimeout(resolve, 5));
    } catch (err) {
      failure = err;
    }
    resumed ||= zombieRequested;
  }
  if (!zombieRequested) await new Promise<void>((resolve) => (resumeZombie = resolve));
  // Another process took the log over meanwhile: everything from here on must be fenced.
  if (failure === undefined) {
    try {
      const zombie = zombieFile(go.author);
      await rfs.writeFile(go.dir + zombie.path, zombie.content);
      await recorder.barrier();
    } catch (err) {
      failure = err;
    }
  }
  failure ??= recorder.failed;
  await send({
    type: 'zombie-result',
    fenced: failure instanceof RegisterMismatchError,
    errorName: failure instanceof Error ? failure.constructor.name : String(failure),
    message: failure instanceof Error ? failure.message : '',
    ackedAfterResume,
  });
  // Stay until the parent kills us, like a stuck old primary.
  await new Promise(() => undefined);
}

process.on('message', (message: ChildGo | { type: 'zombie' }) => {
  if (message.type === 'zombie') {
    zombieRequested = true;
    resumeZombie?.();
    return;
  }
  const run = message.role === 'recover' ? recover(message) : write(message);
  run.then(
    () => {
      if (message.role === 'recover') process.exit(0);
    },
    async (err: unknown) => {
      await send({
        type: 'error',
        message: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      }).catch(() => undefined);
      process.exit(1);
    },
  );
});
process.on('disconnect', () => process.exit(0));
await send({ type: 'ready' });
