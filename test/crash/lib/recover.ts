/**
 * One recovery, as an application would run it after a crash: open the journal (which repairs
 * its torn tail), play the hints into a target directory with the real Player (read-only, or
 * taking ownership with a fenced hand-off), and observe the result as a user would: the files,
 * their bytes and link identity, and the FSM position.
 */
import type { FSM } from '../../../src/fsm.js';
import { FileJournal } from '../../../src/journal/file.js';
import type { Journal } from '../../../src/journal/journal.js';
import type { JournalStorage } from '../../../src/journal/storage.js';
import { Player } from '../../../src/player.js';
import type { Author, FSMHints } from '../../../src/wire/types.js';
import { CrashableTarget } from './crashable-target.js';
import type { Observation } from './invariants.js';
import { observedKey } from './tree-model.js';

export interface RecoveryRun {
  /** Storage the journal lives on (a FaultyFs after a crash; node:fs when undefined). */
  storage?: JournalStorage;
  journalDir: string;
  /** Hints to play (default: empty hints of the journal's log, i.e. replay from byte 0). */
  hints?: FSMHints;
  /** Target file system (default: a fresh memfs). */
  target?: CrashableTarget;
  targetDir?: string;
  /** Take ownership as this author (fenced hand-off no-op); read-only when undefined. */
  handoff?: Author;
  lenient?: boolean;
  /** Wraps the journal the Player sees (e.g. to race a zombie's append in before the hand-off). */
  wrapJournal?: (journal: Journal) => Journal;
  /** Leave the journal open (returned) for a Recorder to continue; closed otherwise. */
  keepOpen?: boolean;
  /** Use this already open journal instead of opening one (a live hand-off). */
  journal?: FileJournal;
}

export interface RecoveryResult {
  readonly observation: Observation;
  readonly target: CrashableTarget;
  readonly targetDir: string;
  /** Where it failed, when it did. */
  readonly stage?: 'open' | 'play' | 'observe';
  readonly journal?: FileJournal;
  readonly fsm?: FSM;
}

export const DEFAULT_TARGET_DIR = '/recovered';
/** Small fragments, so that workloads roll (seal, claim, fence, start) and crash inside rolls. */
export const SIM_FRAGMENT_BYTES = 256;

export function emptyHints(log: string): FSMHints {
  return { log, liveNodes: [], properties: [] };
}

export async function runRecovery(run: RecoveryRun): Promise<RecoveryResult> {
  const target = run.target ?? new CrashableTarget();
  const targetDir = run.targetDir ?? DEFAULT_TARGET_DIR;
  let journal = run.journal;
  if (journal === undefined) {
    try {
      journal = await FileJournal.open(run.journalDir, {
        storage: run.storage,
        fragmentBytes: SIM_FRAGMENT_BYTES,
      });
    } catch (error) {
      return { observation: { ok: false, error }, target, targetDir, stage: 'open' };
    }
  }
  const close = async (): Promise<void> => {
    if (run.journal === undefined) await journal!.close().catch(() => undefined);
  };
  const seen: Journal = run.wrapJournal ? run.wrapJournal(journal) : journal;
  const player = new Player({ fs: target.fs, lenient: run.lenient });
  if (run.handoff === undefined) player.finishAtWriteHead();
  else player.injectHandoff(run.handoff);
  let fsm: FSM;
  try {
    fsm = (
      await player.play({
        hints: run.hints ?? emptyHints(journal.name),
        dir: targetDir,
        journals: (name) => {
          if (name !== journal!.name) throw new Error(`no journal ${name} in this test`);
          return seen;
        },
      })
    ).fsm;
  } catch (error) {
    await close();
    return {
      observation: { ok: false, error, stagedWrites: target.writes },
      target,
      targetDir,
      stage: 'play',
    };
  }
  let key: string;
  try {
    key = observedKey(await target.observe(targetDir));
  } catch (error) {
    await close();
    return {
      observation: { ok: false, error, stagedWrites: target.writes },
      target,
      targetDir,
      stage: 'observe',
    };
  }
  if (!run.keepOpen) await close();
  return {
    observation: {
      ok: true,
      key,
      nextSeqNo: fsm.nextSeqNo,
      nextChecksum: fsm.nextChecksum,
      handoffNoops: run.handoff === undefined ? 0 : 1,
      stagedWrites: target.writes,
    },
    target,
    targetDir,
    journal: run.keepOpen ? journal : undefined,
    fsm,
  };
}
