/**
 * A JournalStorage wrapper (the FileJournal's `storage` seam) that reports the journal's rare
 * storage events as they happen: epochs claimed and started, SEALs and FENCEs, prune marks and
 * deleted fragment files (protocol.ts StorageEvent). The recording child reports them to the
 * driver, which aims some power cuts at them (a roll, a prune) and counts which cuts landed
 * while one was in flight. Every call is passed through unchanged; the frequent ones (data
 * writes, COMMIT records) report nothing.
 */
import { basename } from 'node:path';
import {
  epochOfFragmentFile,
  epochOfIndexFile,
  isPruneMark,
} from '../../../src/journal/fragment-layout.js';
import { FENCE, FRAGMENT_RECORD_MAGIC, SEAL, START } from '../../../src/journal/fragment-record.js';
import type { JournalStorage, StorageFileHandle } from '../../../src/journal/storage.js';
import type { StorageEvent } from './protocol.js';

export type EventSink = (event: StorageEvent, file: string) => void;

/** The kind of the record a write starts with (undefined: not the start of a record). */
function recordKind(bytes: Uint8Array | undefined): number | undefined {
  if (bytes === undefined || bytes.byteLength < 9) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return view.getUint32(0, true) === FRAGMENT_RECORD_MAGIC ? view.getUint8(8) : undefined;
}

/** An index file's handle: reports SEAL/FENCE writes and START/SEAL syncs. */
function indexHandle(handle: StorageFileHandle, file: string, sink: EventSink): StorageFileHandle {
  let unsynced: number | undefined;
  const wrote = (kind: number | undefined): void => {
    if (kind === undefined) return;
    unsynced = kind;
    if (kind === SEAL) sink('seal', file);
    else if (kind === FENCE) sink('fence', file);
  };
  return {
    read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
    async write(buffer, offset, length, position) {
      const result = await handle.write(buffer, offset, length, position);
      wrote(recordKind(buffer.subarray(offset, offset + length)));
      return result;
    },
    async writev(buffers, position) {
      const result = await handle.writev(buffers, position);
      wrote(recordKind(buffers[0]));
      return result;
    },
    stat: handle.stat.bind(handle) as StorageFileHandle['stat'],
    readFile: (encoding) => handle.readFile(encoding),
    writeFile: (data, encoding) => handle.writeFile(data, encoding),
    truncate: (length) => handle.truncate(length),
    async datasync() {
      const kind = unsynced;
      await handle.datasync();
      if (kind === START) sink('start', file);
      else if (kind === SEAL) sink('sealed', file);
      if (unsynced === kind) unsynced = undefined;
    },
    sync: () => handle.sync(),
    close: () => handle.close(),
  };
}

export function eventStorage(base: JournalStorage, sink: EventSink): JournalStorage {
  return {
    ...base,
    async open(path, flags) {
      const handle = await base.open(path, flags);
      const name = basename(path);
      if (epochOfIndexFile(name) !== undefined) {
        if (flags === 'ax+') sink('claim', name);
        return flags === 'r' ? handle : indexHandle(handle, name, sink);
      }
      if (isPruneMark(name) && flags !== 'r') sink('mark', name);
      return handle;
    },
    async unlink(path) {
      await base.unlink(path);
      const name = basename(path);
      if (epochOfFragmentFile(name) !== undefined) sink('unlink', name);
      else if (isPruneMark(name)) sink('unmark', name);
    },
  };
}
