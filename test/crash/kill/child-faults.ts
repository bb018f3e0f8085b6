/**
 * Where a recording child kills itself. The parent arms a child with one failpoint and a hit
 * count (KILL_FAILPOINT=name:N, read here and nowhere else); at the Nth pass through that point
 * the child writes `FAILPOINT_MARK <name> <N>` to stderr (synchronously, so the parent sees which
 * point fired) and SIGKILLs itself. Every point is reached through a seam the library offers, so
 * the code under test runs unchanged:
 *
 * - the FileJournal's storage (`killingStorage`, passed as its `storage` option): a write of
 *   frames to a journal data file (only the bytes up to the first Write payload reach the file,
 *   as a split write killed between frame and payload leaves them), a data file's fdatasync (not
 *   yet issued), a commit file's fdatasync (returned: durable, not yet acknowledged);
 * - the Player's TargetFs (staging writes, makeLive's links and property files) and its journal
 *   (the hand-off no-op, appended but not yet read back);
 * - the HintsStore's storage (`killingStorage` again, passed as its `storage` option): a rename
 *   of its synced temp file over a hints file, killed just before it;
 * - the child's own ack path (kill-sync-before-ack, in child.ts).
 */
import { promises as nodeFs, writeSync } from 'node:fs';
import type { Journal } from '../../../src/journal/journal.js';
import {
  nodeStorage,
  type JournalStorage,
  type StorageFileHandle,
} from '../../../src/journal/storage.js';
import type { TargetFs } from '../../../src/player.js';
import { decodeRecordedOp } from '../../../src/wire/codec.js';
import {
  FRAGMENT_RECORD_MAGIC,
  INLINE,
  RECORD_FIXED_BYTES,
} from '../../../src/journal/fragment-record.js';
import { FRAME_HEADER_LENGTH, FRAME_MAGIC } from '../../../src/wire/framing.js';
import {
  FAILPOINT_ENV,
  FAILPOINT_MARK,
  isFailpointName,
  parseFailpointSpec,
  type FailpointName,
} from './protocol.js';

const armed = parseFailpointSpec(process.env[FAILPOINT_ENV]);
let hits = 0;

/** Counts a pass through failpoint `name`; true when this pass is the one to die at. */
export function reached(name: FailpointName): boolean {
  if (!isFailpointName(name)) throw new Error(`unknown failpoint ${String(name)}`);
  if (armed === undefined || armed.name !== name) return false;
  return ++hits === armed.hit;
}

/** Dies at failpoint `name`: the mark on stderr first (synchronously), then SIGKILL. */
export function die(name: FailpointName): void {
  writeSync(2, `${FAILPOINT_MARK} ${name} ${hits}\n`);
  process.kill(process.pid, 'SIGKILL');
}

/** A pass through failpoint `name`: dies there when this is the armed hit. */
export function kill(name: FailpointName): void {
  if (reached(name)) die(name);
}

/**
 * Where to cut a batch "between frame and payload": after the first frame that a Write payload
 * follows; with no payload in the batch, inside the first frame header (a torn header). Undefined
 * when `bytes` do not start with a frame.
 */
export function framePayloadCut(bytes: Uint8Array): number | undefined {
  if (bytes.length < FRAME_HEADER_LENGTH || !FRAME_MAGIC.every((b, i) => bytes[i] === b)) {
    return undefined;
  }
  let at = 0;
  try {
    while (at + FRAME_HEADER_LENGTH <= bytes.length) {
      const length = Buffer.from(bytes.buffer, bytes.byteOffset + at + 4, 4).readUInt32LE(0);
      const end = at + FRAME_HEADER_LENGTH + length;
      if (end > bytes.length) break;
      const op = decodeRecordedOp(bytes.subarray(at + FRAME_HEADER_LENGTH, end));
      const payload = op.write?.length ?? 0;
      if (payload > 0) return end;
      at = end;
    }
  } catch {
    // Not (only) frames from here on: cut in the first header, as with no payload.
  }
  return Math.min(FRAME_HEADER_LENGTH / 2, bytes.length);
}

/** A journal data file: v1 `data`, v2 `<epoch>.data`. */
const DATA_FILE = /(^|\/)(data|\d+\.data)$/;
/** A file of commit records: v1 `commits`, v2 `<epoch>.index`. */
const COMMIT_FILE = /(^|\/)(commits|\d+\.index)$/;

/** A HintsStore's synced temp file renamed over `<name>.primary` / `<name>.backup.<i>`. */
function isHintsReplace(from: string, to: string): boolean {
  return from.includes('.tmp-') && /\.(primary|backup\.\d+)$/.test(to);
}

/** `inner` (node:fs by default), killing at the journal and hints-store failpoints. */
export function killingStorage(inner: JournalStorage = nodeStorage): JournalStorage {
  return {
    ...inner,
    rename: async (from, to) => {
      if (isHintsReplace(from, to)) kill('kill-hints-write');
      return inner.rename(from, to);
    },
    open: async (path, flags) => {
      const handle = await inner.open(path, flags);
      if (DATA_FILE.test(path)) return killingHandle(handle, 'data');
      if (COMMIT_FILE.test(path)) return killingHandle(handle, 'commits');
      return handle;
    },
  };
}

/**
 * Where the frames of a write to a commits file begin: after an INLINE record's own bytes (format
 * v3: a small batch's data follows its record in `<epoch>.index`); undefined for other records.
 */
function inlineFramesAt(bytes: Uint8Array): number | undefined {
  if (bytes.byteLength <= RECORD_FIXED_BYTES) return undefined;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.readUInt32LE(0) !== FRAGMENT_RECORD_MAGIC || view[8] !== INLINE) return undefined;
  return view.readUInt32LE(4);
}

function killingHandle(handle: StorageFileHandle, kind: 'data' | 'commits'): StorageFileHandle {
  /** The last write carried frames (data, or an INLINE commit): its sync is a data sync. */
  let wroteFrames = false;
  /** A write of frames, torn after the frame when this pass is the armed one. */
  const tearFrames = async (bytes: Uint8Array, position: number): Promise<void> => {
    const framesAt = kind === 'data' ? 0 : inlineFramesAt(bytes);
    wroteFrames = framesAt !== undefined;
    if (framesAt === undefined) return;
    const cut = framePayloadCut(bytes.subarray(framesAt));
    if (cut === undefined || !reached('kill-frame-payload')) return;
    await handle.write(bytes, 0, framesAt + cut, position);
    die('kill-frame-payload');
  };
  const synced = async (sync: () => Promise<void>): Promise<void> => {
    if (kind === 'data' || wroteFrames) kill('kill-write-before-sync');
    await sync();
    if (kind === 'commits') kill('kill-journal-after-sync');
  };
  return {
    read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
    write: async (buffer, offset, length, position) => {
      await tearFrames(buffer.subarray(offset, offset + length), position);
      return handle.write(buffer, offset, length, position);
    },
    writev: async (buffers, position) => {
      await tearFrames(Buffer.concat(buffers), position);
      return handle.writev(buffers, position);
    },
    stat: ((options?: { bigint: true }) =>
      options === undefined ? handle.stat() : handle.stat(options)) as StorageFileHandle['stat'],
    readFile: (encoding) => handle.readFile(encoding),
    writeFile: (data, encoding) => handle.writeFile(data, encoding),
    truncate: (length) => handle.truncate(length),
    datasync: () => synced(() => handle.datasync()),
    sync: () => synced(() => handle.sync()),
    close: () => handle.close(),
  };
}

/** The journal as the Player sees it: kills right after the hand-off no-op is durable. */
export function playerJournal(journal: Journal): Journal {
  return {
    name: journal.name,
    append: async (data, options) => {
      const result = await journal.append(data, options);
      if (result.end > result.begin && options?.unionRegisters !== undefined) {
        kill('kill-player-handoff');
      }
      return result;
    },
    read: (offset, options) => journal.read(offset, options),
    head: () => journal.head(),
    registers: () => journal.registers(),
    close: () => Promise.resolve(), // the child closes the real journal itself
  };
}

/** node:fs as the Player's TargetFs, killing after staging writes and makeLive steps. */
export const killingTargetFs: TargetFs = {
  rm: (path, options) => nodeFs.rm(path, options),
  mkdir: (path, options) => nodeFs.mkdir(path, options),
  open: async (path, flags, mode) => {
    const handle = await nodeFs.open(path, flags, mode);
    return {
      write: async (buffer, offset, length, position) => {
        const result = await handle.write(buffer, offset, length, position);
        kill('kill-player-staging');
        return result;
      },
      close: () => handle.close(),
    };
  },
  link: async (existingPath, newPath) => {
    await nodeFs.link(existingPath, newPath);
    kill('kill-player-make-live');
  },
  unlink: (path) => nodeFs.unlink(path),
  rmdir: (path) => nodeFs.rmdir(path),
  writeFile: async (path, data, options) => {
    await nodeFs.writeFile(path, data, options);
    kill('kill-player-make-live');
  },
};
