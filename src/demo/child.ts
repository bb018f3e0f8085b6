/**
 * The demo's recording child: runs the store workload through RecordedFs into a FileJournal,
 * and after every durable point (fsync resolved, hints stored as primary) tells the parent which
 * workload state is now acknowledged. The parent SIGKILLs it at a moment of its choosing.
 *
 * Started by the parent with the JSON-encoded ChildArgs as its only argument and an IPC channel.
 */
import { promises as nodeFs } from 'node:fs';
import { FSM, newRandomAuthor } from '../fsm.js';
import { HintsStore } from '../hints-store.js';
import { FileJournal } from '../journal/file.js';
import { RecordedFs, type RecordedFileHandle } from '../recorded-fs.js';
import { Recorder } from '../recorder.js';
import { workloadStates } from './model.js';
import type { ChildArgs, ChildMessage } from './protocol.js';
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

export async function runChild(args: ChildArgs): Promise<void> {
  const actions = generateWorkload({ seed: args.seed, puts: args.puts });
  const { stateAfterAction, putsAt } = workloadStates(actions);

  await nodeFs.mkdir(args.storeDir, { recursive: true });
  const journal = await FileJournal.create(args.logDir, args.logName);
  const author = newRandomAuthor();
  const recorder = await Recorder.open({
    journal,
    fsm: new FSM({ log: args.logName, liveNodes: [], properties: [] }),
    author,
    dir: args.storeDir,
  });
  const fs = new RecordedFs(recorder, nodeFs);
  const hints = new HintsStore(args.hintsDir, 'demo');
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
  await journal.close();
}

function handleOf(handles: Map<number, RecordedFileHandle>, id: number): RecordedFileHandle {
  const handle = handles.get(id);
  if (handle === undefined) throw new Error(`workload bug: handle ${id} is not open`);
  return handle;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '') as ChildArgs;
  try {
    await runChild(args);
    process.disconnect?.();
  } catch (err) {
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    await send({ type: 'error', message }).catch(() => undefined);
    process.exitCode = 1;
    process.disconnect?.();
  }
}

void main();
