/**
 * Test helper: writes recovery logs op by op, sequencing each through an FSM exactly as a
 * Recorder does (SeqNo, checksum chain, author, lower-bound first offsets), without a Recorder.
 * It can also produce the bytes of an op without appending them (a lost or delayed op), append
 * garbage, and hand-craft ops the FSM would never sequence (gaps, wrong checksums, bad CRCs).
 */
import { promises as nodeFs } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Volume } from 'memfs';
import { FSM, authorFence } from '../../src/fsm.js';
import type { AppendResult, Journal, JournalResolver } from '../../src/journal/journal.js';
import type { TargetFs } from '../../src/player/target-fs.js';
import { crc32c } from '../../src/crc32c.js';
import { encodeRecordedOp } from '../../src/wire/codec.js';
import { encodeFrame } from '../../src/wire/framing.js';
import type { Author, FSMHints, Fnode, RecordedOp } from '../../src/wire/types.js';

/** The op-specific part of a RecordedOp. */
export type OpBody = Pick<RecordedOp, 'create' | 'link' | 'unlink' | 'write' | 'property'>;

/** Bytes of one sequenced op (frame, plus a Write's payload) and the op as the FSM applied it. */
export interface FramedOp {
  op: RecordedOp;
  bytes: Uint8Array;
}

export interface WriteOptions {
  /** Recorded payload CRC: default the true CRC-32C; 'omit' leaves the field out (Gazette). */
  payloadCrc?: number | 'omit';
  /** Appended payload bytes differ from `data` in one byte (the op still records data's CRC). */
  corruptPayload?: boolean;
}

const encoder = new TextEncoder();

export function bytesOf(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? encoder.encode(data) : data;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Frames an arbitrary op as-is (no FSM): for hand-crafted, mis-sequenced ops. */
export function rawFrame(op: Partial<RecordedOp>, payload?: Uint8Array | string): Uint8Array {
  const full: RecordedOp = {
    seqNo: 0,
    checksum: 0,
    author: 0,
    firstOffset: 0,
    lastOffset: 0,
    log: '',
    ...op,
  };
  const frame = encodeFrame(encodeRecordedOp(full));
  return payload === undefined ? frame : concat([frame, bytesOf(payload)]);
}

export class LogBuilder {
  readonly journal: Journal;
  readonly fsm: FSM;
  author: Author;
  /** Lower bound of where the next op lands (the end of our last append), like a Recorder's. */
  #writeHead: number;

  private constructor(journal: Journal, fsm: FSM, author: Author, head: number) {
    this.journal = journal;
    this.fsm = fsm;
    this.author = author;
    this.#writeHead = head;
  }

  /**
   * A builder appending to `journal` as `author`. Starts from `fsm` (e.g. a Player's result) or
   * from empty hints. Like a Recorder, when the FSM's last log is another journal it first
   * appends a fenced no-op, so the history continues in this log.
   */
  static async open(
    journal: Journal,
    options: { author?: Author; fsm?: FSM; hints?: FSMHints } = {},
  ): Promise<LogBuilder> {
    const fsm =
      options.fsm ?? new FSM(options.hints ?? { log: journal.name, liveNodes: [], properties: [] });
    const author = options.author ?? 1234;
    const head = (await journal.append(new Uint8Array(0))).end;
    const builder = new LogBuilder(journal, fsm, author, head);
    if (fsm.lastLog !== journal.name) {
      await builder.append([builder.frame({}).bytes], authorFence(author));
    }
    return builder;
  }

  /** Sequences `body` through the FSM and returns its bytes, without appending them. */
  frame(body: OpBody, payload?: Uint8Array): FramedOp {
    const op: RecordedOp = {
      seqNo: this.fsm.nextSeqNo,
      checksum: this.fsm.nextChecksum,
      author: this.author,
      ...body,
      firstOffset: 0,
      lastOffset: 0,
      log: '',
    };
    const opBytes = encodeRecordedOp(op);
    const frame = encodeFrame(opBytes);
    // The FSM sees the op as a Recorder records it: lower-bound first offset, unknown end.
    this.fsm.apply(
      { ...op, firstOffset: this.#writeHead, lastOffset: 0, log: this.journal.name },
      opBytes,
    );
    return { op, bytes: payload === undefined ? frame : concat([frame, payload]) };
  }

  frameCreate(path: string): FramedOp & { fnode: Fnode } {
    const framed = this.frame({ create: { path } });
    return { ...framed, fnode: framed.op.seqNo };
  }

  frameWrite(
    fnode: Fnode,
    offset: number,
    data: Uint8Array | string,
    options: WriteOptions = {},
  ): FramedOp {
    const payload = bytesOf(data);
    const crc = options.payloadCrc ?? crc32c(payload);
    const write =
      crc === 'omit' || crc === 0
        ? { fnode, offset, length: payload.length }
        : { fnode, offset, length: payload.length, payloadCrc32c: crc };
    let appended = payload;
    if (options.corruptPayload === true) {
      appended = payload.slice();
      appended[0] = (appended[0]! ^ 0xff) & 0xff;
    }
    return this.frame({ write }, appended);
  }

  /** Appends `parts` as one atomic append and advances the write-head lower bound. */
  async append(
    parts: readonly Uint8Array[],
    unionRegisters?: Record<string, string>,
  ): Promise<AppendResult> {
    const result = await this.journal.append(
      parts,
      unionRegisters ? { unionRegisters } : undefined,
    );
    this.#writeHead = Math.max(this.#writeHead, result.end);
    return result;
  }

  async create(path: string): Promise<Fnode> {
    const { bytes, fnode } = this.frameCreate(path);
    await this.append([bytes]);
    return fnode;
  }

  async write(
    fnode: Fnode,
    offset: number,
    data: Uint8Array | string,
    options?: WriteOptions,
  ): Promise<void> {
    await this.append([this.frameWrite(fnode, offset, data, options).bytes]);
  }

  async link(fnode: Fnode, path: string): Promise<void> {
    await this.append([this.frame({ link: { fnode, path } }).bytes]);
  }

  async unlink(fnode: Fnode, path: string): Promise<void> {
    await this.append([this.frame({ unlink: { fnode, path } }).bytes]);
  }

  /** A rename as a Recorder records it: link to the target, unlink the source, one append. */
  async rename(fnode: Fnode, from: string, to: string): Promise<void> {
    const link = this.frame({ link: { fnode, path: to } }).bytes;
    const unlink = this.frame({ unlink: { fnode, path: from } }).bytes;
    await this.append([link, unlink]);
  }

  async property(path: string, content: string): Promise<void> {
    await this.append([this.frame({ property: { path, content } }).bytes]);
  }

  async noop(): Promise<void> {
    await this.append([this.frame({}).bytes]);
  }

  /** Appends bytes that are not a frame. */
  async garbage(text = '... garbage data ...'): Promise<void> {
    await this.append([bytesOf(text)]);
  }

  /** Appends bytes as they are (hand-crafted frames, truncated frames, ...). */
  async raw(bytes: Uint8Array): Promise<AppendResult> {
    return this.append([bytes]);
  }

  /** Hints for the history sequenced so far, as a Recorder builds them (lower-bound offsets). */
  hints(): FSMHints {
    return this.fsm.buildHints(this.journal.name);
  }
}

// ---------------------------------------------------------------------------------------------
// Play targets: the directories a Player rebuilds, on memfs and on the real file system, with
// the few read-side calls tests need to inspect them.

export interface PlayTarget {
  readonly name: string;
  readonly fs: TargetFs;
  /** A fresh directory path under this target's scratch root (not created). */
  dir(label?: string): string;
  readFile(path: string): Promise<Uint8Array>;
  readText(path: string): Promise<string>;
  exists(path: string): Promise<boolean>;
  /** Every file under `dir` (relative paths with a leading '/'), sorted. */
  listFiles(dir: string): Promise<string[]>;
  inode(path: string): Promise<number>;
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
  cleanup(): Promise<void>;
}

interface InspectFs {
  readFile(path: string): Promise<Uint8Array | string>;
  readdir(path: string): Promise<unknown[]>;
  stat(path: string): Promise<{ ino: number | bigint; isDirectory(): boolean }>;
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
  mkdir(path: string, options: { recursive: true }): Promise<unknown>;
  rm(path: string, options: { recursive: true; force: true }): Promise<void>;
}

function makeTarget(
  name: string,
  fs: TargetFs & InspectFs,
  root: string,
  done: () => Promise<void>,
): PlayTarget {
  let counter = 0;
  const target: PlayTarget = {
    name,
    fs,
    dir: (label = 'dir') => path.join(root, `${label}-${++counter}`),
    readFile: async (p) => bytesOf(await fs.readFile(p)),
    readText: async (p) => new TextDecoder().decode(bytesOf(await fs.readFile(p))),
    exists: async (p) => {
      try {
        await fs.stat(p);
        return true;
      } catch {
        return false;
      }
    },
    listFiles: async (dir) => {
      const out: string[] = [];
      const walk = async (rel: string): Promise<void> => {
        for (const entry of (await fs.readdir(path.join(dir, rel))).map(String).sort()) {
          const child = `${rel}/${entry}`;
          if ((await fs.stat(path.join(dir, child))).isDirectory()) await walk(child);
          else out.push(child);
        }
      };
      await walk('');
      return out.sort();
    },
    inode: async (p) => Number((await fs.stat(p)).ino),
    writeFile: async (p, data) => {
      await fs.mkdir(path.dirname(p), { recursive: true });
      await fs.writeFile(p, data);
    },
    cleanup: done,
  };
  return target;
}

/** An in-memory target (memfs). */
export function memfsTarget(): PlayTarget {
  const vol = new Volume();
  return makeTarget(
    'memfs',
    vol.promises as unknown as TargetFs & InspectFs,
    '/scratch',
    async () => {
      vol.reset();
    },
  );
}

/** A target on the real file system, under a fresh temporary directory. */
export async function nodeTarget(): Promise<PlayTarget> {
  const root = await mkdtemp(path.join(tmpdir(), 'recoverylog-player-'));
  return makeTarget('node:fs', nodeFs as unknown as TargetFs & InspectFs, root, () =>
    nodeFs.rm(root, { recursive: true, force: true }),
  );
}

/** Both targets, for `for (const make of PLAY_TARGETS) describe(...)`. */
export const PLAY_TARGETS: readonly { name: string; make: () => Promise<PlayTarget> }[] = [
  { name: 'memfs', make: async () => memfsTarget() },
  { name: 'node:fs', make: nodeTarget },
];

/** A resolver over the given journals (unknown names are an error). */
export function resolverOf(...journals: Journal[]): JournalResolver {
  const byName = new Map(journals.map((j) => [j.name, j]));
  return (name) => {
    const journal = byName.get(name);
    if (journal === undefined) throw new Error(`test resolver: no journal ${name}`);
    return journal;
  };
}

/**
 * Wraps a TargetFs and records the staged files opened and every write, so tests can assert
 * that something was never written.
 */
export function spyFs(inner: TargetFs): {
  fs: TargetFs;
  removed: string[];
  opened: string[];
  writes: { path: string; bytes: Uint8Array; position: number }[];
} {
  const removed: string[] = [];
  const opened: string[] = [];
  const writes: { path: string; bytes: Uint8Array; position: number }[] = [];
  const fs: TargetFs = {
    rm: (p, o) => {
      removed.push(p);
      return inner.rm(p, o);
    },
    mkdir: (p, o) => inner.mkdir(p, o),
    link: (a, b) => inner.link(a, b),
    unlink: (p) => inner.unlink(p),
    rmdir: (p) => inner.rmdir(p),
    writeFile: (p, d, o) => inner.writeFile(p, d, o),
    chmod: (p, m) => inner.chmod!(p, m),
    open: async (p, flags, mode) => {
      opened.push(p);
      const handle = await inner.open(p, flags, mode);
      return {
        write: (buffer, offset, length, position) => {
          // A copy (Buffer#slice would be a view): the Player reuses its write buffers.
          const bytes = Uint8Array.from(buffer.subarray(offset, offset + length));
          writes.push({ path: p, bytes, position });
          return handle.write(buffer, offset, length, position);
        },
        truncate: (len) => handle.truncate!(len),
        close: () => handle.close(),
      };
    },
  };
  return { fs, removed, opened, writes };
}
