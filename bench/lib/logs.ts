/**
 * Builds recovery logs for the playback scenarios with the real Recorder and FileJournal, and
 * exports them for the raw baselines.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Journal } from '../../src/journal/journal.js';
import { createJournal, openRecorder, type FSMHints } from './library.js';

export interface LogShape {
  /** Bytes of Write payload in the log (live and dead). */
  payloadBytes: number;
  /** Size of each file. */
  fileBytes: number;
  /** Size of each recorded write. */
  writeBytes: number;
  /**
   * Files are written in groups of this many, one after the other; after each group all but the
   * LAST are unlinked, as a compaction writes its output after reading its inputs and then
   * deletes them. 1 = nothing deleted; 10 = 90% of the written bytes belong to dead files.
   */
  groupSize: number;
}

export interface BuiltLog {
  journal: Journal;
  hints: FSMHints;
  /** Payload bytes of files still live at the end. */
  liveBytes: number;
  /** Bytes in the journal. */
  logBytes: number;
  files: number;
  /** Seconds spent recording (ops issued until the final barrier resolved). */
  recordSeconds: number;
}

/**
 * Records files of `fileBytes` written in `writeBytes` writes. A barrier after each file keeps
 * memory bounded (otherwise a whole log's payloads would queue in the journal).
 */
export async function buildLog(dir: string, shape: LogShape): Promise<BuiltLog> {
  const journal = await createJournal(join(dir, 'journal'));
  const data = join(dir, 'data');
  const recorder = await openRecorder(journal, data);
  const payload = new Uint8Array(shape.writeBytes);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 131 + 7) & 0xff;
  const files = Math.max(shape.groupSize, Math.round(shape.payloadBytes / shape.fileBytes));
  let liveBytes = 0;
  const t0 = performance.now();
  for (let f = 0; f < files; f += shape.groupSize) {
    const group: string[] = [];
    for (let g = 0; g < shape.groupSize && f + g < files; g++) {
      const path = join(data, `f${f + g}`);
      const fnode = recorder.recordCreate(path);
      for (let off = 0; off < shape.fileBytes; off += shape.writeBytes) {
        const n = Math.min(shape.writeBytes, shape.fileBytes - off);
        recorder.recordWriteAt(fnode, n === payload.length ? payload : payload.subarray(0, n), off);
      }
      await recorder.barrier();
      group.push(path);
    }
    liveBytes += shape.fileBytes;
    for (const dead of group.slice(0, -1)) recorder.recordRemove(dead);
  }
  await recorder.barrier();
  const recordSeconds = (performance.now() - t0) / 1000;
  const hints = await recorder.buildHints();
  return { journal, hints, liveBytes, logBytes: await journal.head(), files, recordSeconds };
}

/** Copies a journal's bytes into a plain file (streamed: logs can be larger than we want in RAM). */
export async function exportJournal(journal: Journal, path: string): Promise<number> {
  const head = await journal.head();
  const fd = openSync(path, 'w');
  try {
    let offset = 0;
    while (offset < head) {
      const r = await journal.read(offset, { blocking: false, maxBytes: 4 * 1024 * 1024 });
      if (r.offset !== offset) throw new Error(`journal ${journal.name} jumped from ${offset}`);
      const n = Math.min(r.bytes.length, head - offset);
      writeSync(fd, r.bytes, 0, n);
      offset += n;
    }
  } finally {
    closeSync(fd);
  }
  return head;
}
