/**
 * The recording process of the power-cut test (started by the driver, powercut.ts, and killed by
 * it at a random moment). It is an application using the library the documented way:
 *
 * 1. open the FileJournal on the flakey mount (create it when there is none yet), pick the
 *    stored hints (HintsStore, next to the journal), and recover the recorded directory (also on
 *    the flakey mount) with a Player that takes the log over (injectHandoff: fences every earlier
 *    writer); keep the hints it recovered with as a backup;
 * 2. when told the previous writer's author, play that writer as a zombie: a Recorder opened
 *    (before the hand-off) with the FSM the previous writer held tries, after the hand-off, to
 *    record one op, which the journal must fence out;
 * 3. record a random file workload through RecordedFs + Recorder (the Layer-2 workload of
 *    test/crash/kill/, plus some churn: see CHURN), with barriers now and then and BuildHints +
 *    HintsStore.storePrimary less often, each hints store followed by
 *    `journal.prune([primary, ...backups])` (awaited, or running beside the recording:
 *    ChildConfig.prune); reporting each op BEFORE it is performed and each acknowledgement only
 *    AFTER its barrier resolved (protocol.ts). The journal rolls to a new fragment every
 *    `fragmentBytes`; its storage reports the rare events (claims, seals, prune deletions:
 *    journal-events.ts) so that the driver can aim cuts at them;
 * 4. when anything fails (an error_writes window), stop recording, check that the failed Recorder
 *    refuses every later barrier, and wait: for "probe" (repeat the check once writes work
 *    again, with a raw append on the journal too) or for the kill.
 *
 * Usage: node recorder-child.js   (then a ChildConfig JSON line on stdin)
 */
import { promises as fsp, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Volume } from 'memfs';
import { FileJournal } from '../../../src/journal/file.js';
import {
  nodeStorage,
  type JournalStorage,
  type StorageFileHandle,
} from '../../../src/journal/storage.js';
import { JournalNotFoundError, RegisterMismatchError } from '../../../src/journal/errors.js';
import { HintsStore } from '../../../src/hints-store.js';
import { Player, type TargetFs } from '../../../src/player.js';
import { RecordedFs, type BaseFs } from '../../../src/recorded-fs.js';
import { Recorder } from '../../../src/recorder.js';
import type { FSM } from '../../../src/fsm.js';
import type { FSMHints } from '../../../src/wire/types.js';
import { TreeModel, prng, type KillOp } from '../kill/model.js';
import { readDir } from '../kill/tree.js';
import { nextOp, perform } from '../kill/workload.js';
import { observedKey } from '../lib/tree-model.js';
import { eventStorage } from './journal-events.js';
import {
  monotonicMicros,
  outcomeOf,
  type ChildConfig,
  type ChildReport,
  type Outcome,
} from './protocol.js';

/** Barriers still awaited before the workload waits for the oldest (an app awaiting its syncs). */
const MAX_INFLIGHT_BARRIERS = 3;
/** Barriers tried after the first failure: each must reject. */
const BARRIERS_AFTER_FAILURE = 2;
/** Recording calls the file system may refuse (a failing disk) before the child stops. */
const MAX_RECORD_FAILURES = 3;

const EMPTY = new Uint8Array(0);

function report(message: ChildReport): void {
  // Synchronous: the line is in the pipe (off the flakey device) when this returns.
  writeSync(1, JSON.stringify(message) + '\n');
}

const now = monotonicMicros;

/** stdin lines: the config first, then commands. */
const lines = createInterface({ input: process.stdin });
const pending: string[] = [];
let waiting: ((line: string) => void) | undefined;
lines.on('line', (line) => {
  if (waiting) {
    const deliver = waiting;
    waiting = undefined;
    deliver(line);
  } else pending.push(line);
});

function nextLine(): Promise<string> {
  const line = pending.shift();
  if (line !== undefined) return Promise.resolve(line);
  return new Promise((resolve) => (waiting = resolve));
}

async function settle(work: () => Promise<unknown>): Promise<Outcome> {
  try {
    await work();
    return { ok: true };
  } catch (error) {
    return outcomeOf(error);
  }
}

/**
 * The harness's own seeded bug (ChildConfig.unsyncedJournal): the real FileJournal on a storage
 * whose fsync/fdatasync return at once without syncing. Acknowledged bytes then sit in the page
 * cache only: a kill -9 keeps them, a power cut must lose them, and the run must say so.
 */
const unsyncedStorage: JournalStorage = {
  ...nodeStorage,
  async open(path, flags) {
    const handle = await nodeStorage.open(path, flags);
    const unsynced: StorageFileHandle = {
      read: handle.read.bind(handle),
      write: handle.write.bind(handle),
      writev: handle.writev.bind(handle),
      stat: handle.stat.bind(handle) as StorageFileHandle['stat'],
      readFile: handle.readFile.bind(handle),
      writeFile: handle.writeFile.bind(handle),
      truncate: handle.truncate.bind(handle),
      close: handle.close.bind(handle),
      datasync: async () => undefined,
      sync: async () => undefined,
    };
    return unsynced;
  },
};

async function openJournal(cfg: ChildConfig): Promise<{ journal: FileJournal; created: boolean }> {
  const storage = eventStorage(cfg.unsyncedJournal ? unsyncedStorage : nodeStorage, (ev, file) =>
    report({ t: 'io', at: now(), ev, file }),
  );
  const options = { storage, fragmentBytes: cfg.fragmentBytes };
  try {
    return { journal: await FileJournal.open(cfg.journalDir, options), created: false };
  } catch (error) {
    if (!(error instanceof JournalNotFoundError)) throw error;
  }
  return {
    journal: await FileJournal.create(cfg.journalDir, cfg.journalName, options),
    created: true,
  };
}

/** Read-only playback into memory: the FSM a writer that never saw the hand-off still holds. */
async function staleFsm(journal: FileJournal, hints: FSMHints): Promise<FSM> {
  const player = new Player({ fs: new Volume().promises as unknown as TargetFs });
  player.finishAtWriteHead();
  const result = await player.play({ hints, dir: '/zombie-view', journals: () => journal });
  return result.fsm;
}

/**
 * The zombie: a Recorder as the previous author, opened on the FSM it held (the log played to
 * its head) BEFORE this child's hand-off, as the previous writer would still have it open.
 * Once the hand-off is done it records one create (never performed on disk): the append must
 * fail with RegisterMismatchError. (Opening it after the hand-off is refused earlier, by
 * Recorder.open's check that the FSM continues the journal.)
 */
async function openZombie(
  journal: FileJournal,
  fsm: FSM,
  author: number,
  treeDir: string,
): Promise<Recorder | Outcome> {
  try {
    return await Recorder.open({ journal, fsm, author, dir: treeDir });
  } catch (error) {
    return outcomeOf(error);
  }
}

async function playZombie(
  zombie: Recorder | Outcome,
  author: number,
  treeDir: string,
): Promise<void> {
  const path = `/zombie-${author.toString(16)}`;
  let outcome: Outcome;
  let fenced = false;
  if (zombie instanceof Recorder) {
    try {
      zombie.recordCreate(treeDir + path);
      await zombie.barrier();
      outcome = { ok: true };
    } catch (error) {
      outcome = outcomeOf(error);
      fenced = error instanceof RegisterMismatchError;
    }
  } else {
    outcome = zombie; // it could not even be opened before the hand-off
  }
  report({ t: 'zombie', at: now(), author, path, fenced, outcome });
}

async function run(cfg: ChildConfig): Promise<void> {
  let journal: FileJournal;
  let created: boolean;
  try {
    ({ journal, created } = await openJournal(cfg));
  } catch (error) {
    report({ t: 'error', at: now(), stage: 'open', outcome: outcomeOf(error) });
    process.exit(1);
  }
  report({ t: 'opened', at: now(), created, head: await journal.head() });

  const store = new HintsStore(cfg.hintsDir);
  let hints: FSMHints;
  try {
    hints = await store.pick(journal.name);
  } catch (error) {
    report({ t: 'error', at: now(), stage: 'hints', outcome: outcomeOf(error) });
    process.exit(1);
  }
  const zombie =
    cfg.zombieAuthor === undefined
      ? undefined
      : await openZombie(journal, await staleFsm(journal, hints), cfg.zombieAuthor, cfg.treeDir);

  const t0 = performance.now();
  const player = new Player();
  player.injectHandoff(cfg.author);
  const result = await player.play({ hints, dir: cfg.treeDir, journals: () => journal });
  const playMs = performance.now() - t0;
  await store.storeRecovered(hints);
  const contents = await readDir(cfg.treeDir);
  report({
    t: 'recovered',
    at: now(),
    key: observedKey(contents.files),
    seqNo: result.fsm.nextSeqNo,
    checksum: result.fsm.nextChecksum,
    hinted: hints.liveNodes.length > 0 || hints.properties.length > 0,
    playMs: Math.round(playMs),
  });

  const recorder = await Recorder.open({
    journal,
    fsm: result.fsm,
    author: cfg.author,
    dir: cfg.treeDir,
  });
  if (zombie !== undefined && cfg.zombieAuthor !== undefined) {
    await playZombie(zombie, cfg.zombieAuthor, cfg.treeDir);
  }
  const model = TreeModel.fromDir(contents.files, new Set(result.fsm.properties.keys()));
  const rfs = new RecordedFs(recorder, fsp as unknown as BaseFs);
  report({ t: 'ready', at: now() });
  await record(cfg, journal, recorder, rfs, model, store);

  // Stopped after failures. If a sync failed, every later barrier must be refused, now and after
  // a "probe" (the driver judges; this child just reports what happened).
  for (let n = 0; n < BARRIERS_AFTER_FAILURE; n++) {
    const outcome = await settle(() => recorder.barrier());
    if (outcome.ok) report({ t: 'ack', at: now(), i: -1, head: recorder.writeHead });
    else report({ t: 'fail', at: now(), i: -1, what: 'barrier-after-failure', outcome });
  }
  report({ t: 'stopped', at: now() });
  for (;;) {
    const command = await nextLine();
    if (command !== 'probe') continue;
    const barrier = await settle(() => recorder.barrier());
    const append = await settle(() => journal.append(EMPTY));
    report({ t: 'probe', at: now(), barrier, append });
  }
}

/**
 * Share of ops that replace or unlink an existing file on top of the Layer-2 workload's own mix.
 * Hints need the log from the first write of the oldest live file on, so prune can delete only
 * what lies before it: without this churn a file created early and never touched again would
 * pin the whole log for the rest of a lineage.
 */
const CHURN = 0.15;

/** Replaces a single-link file (a new empty file at its path) or unlinks one link of a group. */
function churnOp(model: TreeModel, random: () => number): KillOp | undefined {
  const paths = model.paths;
  if (paths.length === 0) return undefined;
  const path = paths[Math.floor(random() * paths.length)]!;
  return model.linkCount(path) > 1 ? { kind: 'unlink', path } : { kind: 'create', path };
}

/** Records until something fails. */
async function record(
  cfg: ChildConfig,
  journal: FileJournal,
  recorder: Recorder,
  rfs: RecordedFs,
  model: TreeModel,
  store: HintsStore,
): Promise<void> {
  const random = prng(cfg.seed);
  /** A sync failed (or an op was half recorded): the Recorder cannot go on. */
  let failed = false;
  let recordFailures = 0;
  const fail = (i: number, what: string, error: unknown, recorded?: boolean): void => {
    if (what !== 'record' || recorded === true) failed = true;
    report({ t: 'fail', at: now(), i, what, outcome: outcomeOf(error), recorded });
  };

  // Acks go out in op order: each waits for its barrier (stamped when it resolved) and for the
  // previous ack. A failed barrier reports a failure instead and stops the chain.
  let acked: Promise<void> = Promise.resolve();
  let inflight = 0;
  const ack = (i: number, durable: Promise<{ end: number }>): void => {
    inflight++;
    const previous = acked;
    const resolved = durable.then(
      (result) => ({ at: now(), head: result.end }),
      (error: unknown) => {
        fail(i, 'barrier', error);
        return undefined;
      },
    );
    acked = (async () => {
      const done = await resolved;
      await previous;
      inflight--;
      // Reported even after a later failure: the driver judges by the time it resolved.
      if (done !== undefined) report({ t: 'ack', at: done.at, i, head: done.head });
    })();
  };

  // Prune after a hints store (an application's housekeeping), one at a time: with the primary
  // just stored and every backup, so that any hints a recovery may pick stay replayable.
  let pruning: Promise<void> | undefined;
  const prune = (i: number, primary: FSMHints): Promise<void> => {
    pruning = (async () => {
      let hintsList: FSMHints[];
      try {
        const stored = await store.fetch(journal.name);
        hintsList = [primary, ...stored.backups.filter((h): h is FSMHints => h !== undefined)];
      } catch (error) {
        fail(i, 'hints', error);
        return;
      }
      try {
        if (
          cfg.skipPruneNeedingAll &&
          (await journal.prune(hintsList, { dryRun: true })).needed === 0
        ) {
          return;
        }
      } catch (error) {
        fail(i, 'prune', error);
        return;
      }
      report({ t: 'prune', at: now(), i });
      try {
        const result = await journal.prune(hintsList);
        report({
          t: 'pruned',
          at: now(),
          i,
          deleted: result.deleted.length,
          kept: result.kept.length,
          below: result.needed,
        });
      } catch (error) {
        fail(i, 'prune', error);
      }
    })().finally(() => {
      pruning = undefined;
    });
    return pruning;
  };

  let i = 0;
  let untilBarrier = 1;
  // Hints (and a prune) every 4-15 ops: a child records only some 10-40 ops under emulation
  // before its cut, and prune can delete fragments only once every stored hints file is a real
  // one (not the empty hints of a child that never stored any).
  let untilHints = 2 + Math.floor(random() * 8);
  while (!failed && recordFailures < MAX_RECORD_FAILURES) {
    const op = (random() < CHURN ? churnOp(model, random) : undefined) ?? nextOp(model, random);
    report({ t: 'op', at: now(), i: i + 1, op });
    const before = recorder.fsm.nextSeqNo;
    try {
      await perform(rfs, cfg.treeDir, op);
    } catch (error) {
      // The file system refused the real call (a failing disk): RecordedFs records nothing
      // then, and the app may go on. If the op was recorded after all, the model cannot follow.
      const recorded = recorder.fsm.nextSeqNo !== before;
      fail(i + 1, 'record', error, recorded);
      if (recorded) break;
      recordFailures++;
      // Whatever is recorded but not yet durable must now be synced (or the sync must fail).
      ack(i, recorder.barrier());
      await acked;
      continue;
    }
    model.apply(op);
    i++;
    report({
      t: 'post',
      at: now(),
      i,
      seqNo: recorder.fsm.nextSeqNo,
      checksum: recorder.fsm.nextChecksum,
    });
    if (--untilBarrier === 0) {
      ack(i, recorder.barrier());
      untilBarrier = 1 + Math.floor(random() * 6);
    }
    if (inflight >= MAX_INFLIGHT_BARRIERS) await acked;
    if (--untilHints === 0 && !failed) {
      const seqNo = recorder.fsm.nextSeqNo - 1;
      let hints: FSMHints;
      try {
        // Resolves once every op the hints reference is durable: that is an acknowledgement too.
        const built = recorder.buildHints();
        ack(
          i,
          built.then(() => ({ end: recorder.writeHead })),
        );
        hints = await built;
        await acked;
      } catch {
        break; // reported by the ack chain
      }
      if (failed) break;
      try {
        await store.storePrimary(hints);
      } catch (error) {
        fail(i, 'hints', error);
        break;
      }
      report({ t: 'hints', at: now(), i, seqNo });
      if (cfg.prune === 'between') await prune(i, hints);
      else if (cfg.prune === 'beside' && pruning === undefined) void prune(i, hints);
      untilHints = 4 + Math.floor(random() * 12);
    }
  }
  await acked;
  await pruning;
}

report({ t: 'loaded', at: now() });
const config = JSON.parse(await nextLine()) as ChildConfig;
try {
  await run(config);
} catch (error) {
  report({ t: 'error', at: now(), stage: 'run', outcome: outcomeOf(error) });
  process.exit(1);
}
