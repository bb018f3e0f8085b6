/**
 * Where a recording child kills itself. Each place calls the library's `failpoint(name)`, which
 * SIGKILLs the process at the Nth hit when RECOVERYLOG_FAILPOINT=name:N. The places are reached
 * through the library's own seams, so the code under test runs unchanged:
 *
 * - FileJournal commit hooks: before a batch's bytes are written (after first writing the frame
 *   bytes of the batch ourselves, which leaves exactly what a split write killed between frame
 *   and payload leaves), and after the batch is written but before its fdatasync;
 * - the Player's TargetFs (staging writes, makeLive's links and property files) and its
 *   JournalResolver (the hand-off no-op, appended but not yet read back);
 * - node:fs/promises `rename`, as HintsStore sees it, for the moment between its synced temp file
 *   and the rename over the hints file (only in a child armed with that failpoint).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { promises as nodeFs } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import type { BatchInfo, CommitHooks } from '../../../src/journal/group-commit.js';
import type {
  AppendOptions,
  AppendResult,
  Journal,
  ReadOptions,
  ReadResult,
  Registers,
} from '../../../src/journal/journal.js';
import type { TargetFs } from '../../../src/player.js';
import { failpoint } from '../../../src/testing/faults.js';
import { decodeRecordedOp } from '../../../src/wire/codec.js';
import { FRAME_HEADER_LENGTH } from '../../../src/wire/framing.js';
import type { FailpointName } from './protocol.js';

const armed = (process.env.RECOVERYLOG_FAILPOINT ?? '').split(':')[0];

export function isArmed(name: FailpointName): boolean {
  return armed === name;
}

export function kill(name: FailpointName): void {
  failpoint(name);
}

function concat(data: Uint8Array | readonly Uint8Array[]): Uint8Array {
  if (data instanceof Uint8Array) return data;
  return Buffer.concat(data as Uint8Array[]);
}

/**
 * A Journal wrapper that remembers the bytes of appends not yet committed (so a commit hook can
 * tell where the first Write payload of a batch starts) and, for the Player's copy, kills after
 * the hand-off no-op was appended.
 */
export class TracingJournal implements Journal {
  readonly name: string;
  readonly #inner: Journal;
  /** Uncommitted non-empty appends, at the offsets they will take if nobody else appends. */
  #pending: { begin: number; bytes: Uint8Array }[] = [];
  #next: number;

  constructor(inner: Journal, head: number) {
    this.name = inner.name;
    this.#inner = inner;
    this.#next = head;
  }

  append(data: Uint8Array | readonly Uint8Array[], options?: AppendOptions): Promise<AppendResult> {
    if (isArmed('kill-frame-payload')) {
      const bytes = concat(data);
      if (bytes.length > 0) {
        this.#pending.push({ begin: this.#next, bytes });
        this.#next += bytes.length;
      }
    }
    return this.#inner.append(data, options);
  }

  /** The same journal, for the Player: kills right after the hand-off no-op is durable. */
  forPlayer(): Journal {
    const journal: Journal = {
      name: this.name,
      append: async (data, options) => {
        const result = await this.append(data, options);
        if (result.end > result.begin && options?.unionRegisters !== undefined) {
          kill('kill-player-handoff');
        }
        return result;
      },
      read: (offset, options) => this.read(offset, options),
      head: () => this.head(),
      registers: () => this.registers(),
      close: () => Promise.resolve(), // the child closes the real journal itself
    };
    return journal;
  }

  /** The bytes the batch [begin, end) is made of, when every append in it went through here. */
  batchBytes(batch: BatchInfo): Uint8Array | undefined {
    this.#pending = this.#pending.filter((p) => p.begin + p.bytes.length > batch.begin);
    const parts: Uint8Array[] = [];
    let at = batch.begin;
    for (const p of this.#pending) {
      if (at >= batch.end) break;
      if (p.begin !== at) return undefined;
      parts.push(p.bytes);
      at += p.bytes.length;
    }
    return at === batch.end ? Buffer.concat(parts) : undefined;
  }

  read(offset: number, options: ReadOptions): Promise<ReadResult> {
    return this.#inner.read(offset, options);
  }
  head(): Promise<number> {
    return this.#inner.head();
  }
  registers(): Promise<Registers> {
    return this.#inner.registers();
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

/**
 * Where to cut a batch "between frame and payload": after the first frame that a Write payload
 * follows; with no payload in the batch, inside the first frame header (a torn header).
 */
export function framePayloadCut(bytes: Uint8Array): number {
  let at = 0;
  while (at + FRAME_HEADER_LENGTH <= bytes.length) {
    const length = Buffer.from(bytes.buffer, bytes.byteOffset + at + 4, 4).readUInt32LE(0);
    const end = at + FRAME_HEADER_LENGTH + length;
    if (end > bytes.length) break;
    const op = decodeRecordedOp(bytes.subarray(at + FRAME_HEADER_LENGTH, end));
    const payload = op.write?.length ?? 0;
    if (payload > 0) return end;
    at = end;
  }
  return Math.min(FRAME_HEADER_LENGTH / 2, bytes.length);
}

/** FileJournal commit hooks that kill at the journal failpoints. */
export function journalHooks(
  journalDir: string,
  tracer: () => TracingJournal | undefined,
): CommitHooks {
  let data: FileHandle | undefined;
  return {
    beforeWrite: async (batch) => {
      if (!isArmed('kill-frame-payload') || batch.end === batch.begin) return;
      const bytes = tracer()?.batchBytes(batch);
      if (bytes !== undefined) {
        // The first of the two writes a split batch write would make. If this is not the armed
        // hit, the journal's own write puts the very same bytes here again.
        data ??= await open(join(journalDir, 'data'), 'r+');
        const cut = framePayloadCut(bytes);
        await data.write(bytes, 0, cut, batch.begin);
      }
      kill('kill-frame-payload');
    },
    beforeSync: () => {
      kill('kill-write-before-sync');
    },
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

/**
 * Arms `kill-hints-write`: HintsStore writes hints to a temp file, syncs it, then renames it over
 * `<name>.primary` / `<name>.backup.<i>`; the child dies just before that rename. HintsStore
 * imports `rename` from node:fs/promises, whose ES-module bindings follow the CommonJS exports
 * after syncBuiltinESMExports(), so no library code changes.
 */
export function armHintsWriteFailpoint(): void {
  if (!isArmed('kill-hints-write')) return;
  const promises = nodeFs as { rename: typeof nodeFs.rename };
  const rename = promises.rename;
  promises.rename = async (from, to) => {
    if (String(from).includes('.tmp-') && /\.(primary|backup\.\d+)$/.test(String(to))) {
      kill('kill-hints-write');
    }
    return rename(from, to);
  };
  syncBuiltinESMExports();
}
