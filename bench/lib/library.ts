/**
 * The one place the bench touches the library's API, so a renamed export is fixed here only.
 * Every helper does what a user of the library would do, with default options.
 */
import { promises as nodeFs } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { FSM, newRandomAuthor } from '../../src/fsm.js';
import { hintsFromJSON, hintsToJSON } from '../../src/hints.js';
import { FileJournal } from '../../src/journal/file.js';
import type { Journal } from '../../src/journal/journal.js';
import { Player } from '../../src/player.js';
import { RecordedFs } from '../../src/recorded-fs.js';
import { Recorder } from '../../src/recorder.js';
import type { FSMHints } from '../../src/wire/types.js';

export type { FSMHints, Journal, Recorder };

/** Journal name used by every scenario (a valid Gazette journal name). */
export const LOG_NAME = 'bench/recovery-log';

/** Journals opened here, so a scenario that throws half-way does not leak their handles. */
const opened = new Set<Journal>();

function track(journal: Journal): Journal {
  opened.add(journal);
  return journal;
}

/** A new, empty file journal stored in `dir`. */
export async function createJournal(dir: string): Promise<Journal> {
  return track(await FileJournal.create(dir, LOG_NAME));
}

/** Re-opens the file journal stored in `dir` (e.g. in a playback child process). */
export async function openJournal(dir: string): Promise<Journal> {
  return track(await FileJournal.open(dir));
}

/** Closes every journal opened so far (closing one twice is a no-op). */
export async function closeAllJournals(): Promise<void> {
  const all = [...opened];
  opened.clear();
  await Promise.all(all.map((j) => j.close().catch(() => undefined)));
}

/** A Recorder of `dir` with a fresh history, appending to `journal`. */
export function openRecorder(journal: Journal, dir: string): Promise<Recorder> {
  const fsm = new FSM({ log: journal.name, liveNodes: [], properties: [] });
  return Recorder.open({ journal, fsm, author: newRandomAuthor(), dir });
}

/** The subset of fs/promises the log-structured workload uses (node's and RecordedFs's). */
export interface WorkloadFileHandle {
  write(data: string | Uint8Array): Promise<unknown>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface WorkloadFs {
  mkdir(path: string, options: { recursive: true }): Promise<unknown>;
  open(path: string, flags: string): Promise<WorkloadFileHandle>;
  writeFile(path: string, data: string | Uint8Array): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  link(existing: string, newPath: string): Promise<void>;
}

/** node:fs/promises wrapped so every mutation is recorded by `recorder`. */
export function recordedFs(recorder: Recorder): WorkloadFs {
  return new RecordedFs(recorder, nodeFs);
}

export interface PlaybackOutcome {
  /** Log bytes the Player read from the journal. */
  bytesRead: number;
  /** Write payload bytes the Player wrote. */
  payloadBytesWritten: number;
}

/**
 * Rebuilds `dir` (must not exist yet, or be empty) from `journal`, starting from `hints`, up to
 * the journal's write head.
 */
export async function playInto(
  journal: Journal,
  hints: FSMHints,
  dir: string,
): Promise<PlaybackOutcome> {
  const player = new Player();
  player.finishAtWriteHead();
  const result = await player.play({ hints, dir, journals: () => journal });
  return {
    bytesRead: result.stats.bytesRead,
    payloadBytesWritten: result.stats.payloadBytesWritten,
  };
}

export async function writeHintsFile(path: string, hints: FSMHints): Promise<string> {
  await writeFile(path, hintsToJSON(hints));
  return path;
}

export async function readHintsFile(path: string): Promise<FSMHints> {
  return hintsFromJSON(await readFile(path, 'utf8'));
}
