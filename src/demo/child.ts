/**
 * The demo's recording child: runs the store workload through RecordedFs into a FileJournal (or,
 * with `nats`, a JetStreamJournal with hints in a KV store), and after every durable point (fsync
 * resolved, hints stored as primary) tells the parent which workload state is now acknowledged.
 * The parent SIGKILLs it at a moment of its choosing. With `recoverInto`, the same program is the
 * "other machine" instead: it recovers the store from the stored hints with a hand-off.
 *
 * Started by the parent with the JSON-encoded ChildArgs as its only argument and an IPC channel.
 */
import { promises as nodeFs } from 'node:fs';
import { FSM, newRandomAuthor } from '../fsm.js';
import { HintsStore } from '../hints-store.js';
import { FileJournal } from '../journal/file.js';
import { JetStreamJournal } from '../journal/jetstream.js';
import type { Journal } from '../journal/journal.js';
import { KvHintsStore } from '../kv-hints-store.js';
import { Player } from '../player.js';
import type { FSMHints } from '../wire/types.js';
import { RecordedFs, type RecordedFileHandle } from '../recorded-fs.js';
import { Recorder } from '../recorder.js';
import { workloadStates } from './model.js';
import { describeHints, type ChildArgs, type ChildMessage } from './protocol.js';
import { readTree, treeDigest } from './tree.js';
import { generateWorkload, type Action } from './workload.js';

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (process.send === undefined) {
      reject(new Error('the demo child must be started with an IPC channel'));
      return;
    }
    process.send(message, undefined, {}, (err) => (err ? reject(err) : resolve()));
  });
}

/** The hints stores' common part the demo uses. */
interface DemoHints {
  storePrimary(hints: FSMHints): Promise<void>;
  storeRecovered(hints: FSMHints): Promise<void>;
  pick(log: string): Promise<FSMHints>;
}

/** The journal and hints store of `args`: on local disk, or on the NATS cluster. */
async function openBackend(
  args: ChildArgs,
  create: boolean,
): Promise<{ journal: Journal; hints: DemoHints; close(): Promise<void> }> {
  if (args.nats === undefined) {
    const journal = create
      ? await FileJournal.create(args.logDir, args.logName)
      : await FileJournal.open(args.logDir);
    return { journal, hints: new HintsStore(args.hintsDir, 'demo'), close: () => journal.close() };
  }
  const { servers, bucket, store } = args.nats;
  // Elections after a node kill take seconds: retry for up to 90 s before giving up.
  const journal = await JetStreamJournal.open(args.logName, {
    servers,
    create,
    retryDeadlineMs: 90_000,
  });
  const hints = await KvHintsStore.open({ servers, bucket, name: store, retryDeadlineMs: 90_000 });
  return {
    journal,
    hints,
    close: async () => {
      await hints.close();
      await journal.close();
    },
  };
}

/** The "other machine": recovers from the stored hints with a hand-off, reports, and exits. */
export async function runRecovery(args: ChildArgs, dir: string): Promise<void> {
  const { journal, hints: store, close } = await openBackend(args, false);
  try {
    const hints = await store.pick(args.logName);
    const headBefore = await journal.head();
    const author = newRandomAuthor();
    const player = new Player();
    player.injectHandoff(author);
    const played = await player.play({
      hints,
      dir,
      journals: (name) => {
        if (name !== args.logName) throw new Error(`the demo has no journal named ${name}`);
        return journal;
      },
    });
    await store.storeRecovered(played.fsm.buildHints(played.log));
    await send({
      type: 'recovered',
      author,
      headBefore,
      headAfter: await journal.head(),
      hints: describeHints(hints),
      stats: played.stats,
    });
  } finally {
    await close();
  }
}

export async function runChild(args: ChildArgs): Promise<void> {
  const actions = generateWorkload({ seed: args.seed, puts: args.puts });
  const { stateAfterAction, putsAt } = workloadStates(actions);

  await nodeFs.mkdir(args.storeDir, { recursive: true });
  const { journal, hints, close } = await openBackend(args, true);
  const author = newRandomAuthor();
  const recorder = await Recorder.open({
    journal,
    fsm: new FSM({ log: args.logName, liveNodes: [], properties: [] }),
    author,
    dir: args.storeDir,
  });
  const fs = new RecordedFs(recorder, nodeFs);
  await send({ type: 'started', author, pid: process.pid });

  const handles = new Map<number, RecordedFileHandle>();
  const abs = (path: string) => `${args.storeDir}/${path}`;
  const perform = async (action: Action): Promise<void> => {
    switch (action.kind) {
      case 'mkdir':
        await fs.mkdir(abs(action.path), { recursive: true });
        return;
      case 'create':
        handles.set(action.handle, await fs.open(abs(action.path), 'w'));
        return;
      case 'append':
        await handleOf(handles, action.handle).writeFile(action.data);
        return;
      case 'close':
        await handleOf(handles, action.handle).close();
        handles.delete(action.handle);
        return;
      case 'writeFile':
        await fs.writeFile(abs(action.path), action.data);
        return;
      case 'rename':
        await fs.rename(abs(action.from), abs(action.to));
        return;
      case 'unlink':
        await fs.unlink(abs(action.path));
        return;
      case 'link':
        await fs.link(abs(action.existing), abs(action.newPath));
        return;
      case 'sync':
        // The store's durable point: the file is fsynced and the recording is durable.
        await handleOf(handles, action.handle).sync();
        return;
    }
  };

  for (const [i, action] of actions.entries()) {
    await perform(action);
    if (action.kind !== 'sync') continue;
    // Hints that cover everything acknowledged, stored before the acknowledgement is sent.
    const built = await recorder.buildHints();
    await hints.storePrimary(built);
    const state = stateAfterAction[i];
    await send({
      type: 'ack',
      action: i,
      state,
      puts: putsAt[state],
      digest: treeDigest(await readTree(args.storeDir)),
      liveFiles: built.liveNodes.length,
    });
  }
  await recorder.barrier();
  await send({ type: 'finished', state: stateAfterAction[stateAfterAction.length - 1] });
  await close();
}

function handleOf(handles: Map<number, RecordedFileHandle>, id: number): RecordedFileHandle {
  const handle = handles.get(id);
  if (handle === undefined) throw new Error(`workload bug: handle ${id} is not open`);
  return handle;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '') as ChildArgs;
  try {
    if (args.recoverInto !== undefined) await runRecovery(args, args.recoverInto);
    else await runChild(args);
    process.disconnect?.();
  } catch (err) {
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    await send({ type: 'error', message }).catch(() => undefined);
    process.exitCode = 1;
    process.disconnect?.();
  }
}

void main();
