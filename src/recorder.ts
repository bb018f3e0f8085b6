/**
 * Recorder: turns file-system mutations that already happened under a directory into RecordedOps,
 * sequences them through an FSM and appends them to a journal. Gazette's `recorder.go`
 * semantics, with typed fail-fast errors where Gazette panics.
 *
 * Record calls are synchronous: each stamps its ops from the FSM, applies them to the FSM and
 * queues their frames. The frames of all record calls made in one synchronous run of the caller's
 * code go to the journal as ONE append, issued at the end of that run (a microtask) or before
 * any wait, whichever comes first. With `flushDelayMs` > 0 the queue is handed over later: when
 * a barrier (or another wait) needs it, when FLUSH_BYTES are queued, or that many milliseconds
 * after the first queued op. So each record call stays atomic (its frames are never split
 * between appends) and in call order, a failed append fails the Recorder with the journal's
 * error, and a barrier covers exactly the ops recorded before it. Durability is observed only
 * through `barrier()` / `buildHints()`.
 */
import { posix } from 'node:path';
import { authorFence, checkAuthor, FSM } from './fsm.js';
import { playedThrough } from './fsm-position.js';
import type { AppendOptions, AppendResult, Journal } from './journal/journal.js';
import {
  FsmJournalMismatchError,
  FsmRejectedOpError,
  invalidPropertyPath,
  invalidRecorderDir,
  invalidWrite,
  missingPropertyContent,
  PathExistsError,
  pathOutsideDir,
  PropertyNotUtf8Error,
  propertyPathMisuse,
  RecorderAbortedError,
  UnfinishedPlaybackError,
  UnknownFnodeError,
  UnknownPathError,
  WriteHeadRegressionError,
} from './recorder-errors.js';
import { propertyUnder, removeTreeOps, renameTreeOps, type OpBody } from './recorder-tree.js';
import { COMBINE_PAYS_FROM, crc32cCombine, noteCrc32c } from './crc32c.js';
import { crc32c } from './wire/checksum.js';
import { encodeRecordedOp } from './wire/codec.js';
import { FRAME_HEADER_LENGTH, FRAME_MAGIC } from './wire/framing.js';
import type { Author, Fnode, FSMHints, RecordedOp } from './wire/types.js';

/** Paths recorded by content (Property ops) instead of as files: RocksDB's database GUID. */
export const DEFAULT_PROPERTY_PATHS: readonly string[] = ['/IDENTITY'];

export interface RecorderOptions {
  /** The recovery log to append to. */
  journal: Journal;
  /** The FSM of the history so far (fresh, or from a finished playback). The Recorder owns it. */
  fsm: FSM;
  /** This Recorder's identity (see newRandomAuthor()). */
  author: Author;
  /** Absolute, clean POSIX path of the recorded directory. */
  dir: string;
  /** Cancels waits (open, barrier, buildHints); ops already recorded are still appended. */
  signal?: AbortSignal;
  /** Relative paths (with leading '/') recorded as properties. Default: DEFAULT_PROPERTY_PATHS. */
  propertyPaths?: Iterable<string>;
  /**
   * Append without checking the author register. Only for tests that build raced histories on
   * purpose: without the check, a zombie Recorder keeps appending after a hand-off.
   */
  disableRegisterChecks?: boolean;
  /**
   * 0 (default): queued ops are appended at the end of the synchronous run that recorded them.
   * More: they wait up to this many milliseconds for a barrier to take them along. Nobody awaits
   * an append except through a barrier, so this delays no waiter; it lets the ops recorded
   * between two barriers share the barrier's durable commit, where each run's eager append would
   * cost a commit of its own that the next barrier queues behind (about half the journal syncs
   * of a write-then-fsync workload). The price: ops not yet handed over when another writer
   * takes the log over (a hand-off in this process) are fenced out, not ordered before it; they
   * were never acknowledged, so the contract allows it, but eager mode orders them first.
   */
  flushDelayMs?: number;
}

/** Intent of an open, as POSIX open(2) flags express it. */
export interface OpenFileFlags {
  /** O_CREAT: create the file when the path is unknown. */
  create?: boolean;
  /** O_EXCL: the path must be unknown. */
  exclusive?: boolean;
  /** O_TRUNC: an existing file is replaced by a new, empty one. */
  truncate?: boolean;
}

export interface WaitOptions {
  signal?: AbortSignal;
}

/** Options of Recorder.recordWriteAt. */
export interface RecordWriteOptions {
  /**
   * The caller hands `data` over: the Recorder appends that buffer itself instead of a copy, and
   * its checksum is computed once (the journal combines it rather than reading the bytes again).
   * Ownership rule: the caller must not modify `data` until a barrier issued after this call
   * resolves. Bytes changed before that are a corrupt journal (a checksum mismatch when read),
   * never a silent change.
   */
  readonly handOver?: boolean;
}

/** An op and, for a Write, its data (which follows the op's frame). */
interface OpPart {
  body: OpBody;
  payload?: Uint8Array;
}

const EMPTY = new Uint8Array(0);
/** With a flush delay, queued frames beyond this size are appended at once (bounds memory). */
const FLUSH_BYTES = 1024 * 1024;
const NO_CHECK: AppendOptions = Object.freeze({});
/** A re-recorded file's content is written in Write ops of at most this many bytes. */
export const RERECORD_WRITE_BYTES = 1024 * 1024;

export class Recorder {
  readonly #journal: Journal;
  readonly #fsm: FSM;
  readonly #author: Author;
  readonly #dir: string;
  readonly #signal: AbortSignal | undefined;
  readonly #propertyPaths: ReadonlySet<string>;
  /**
   * Options of every append after open(): the fence check (none until open() placed the fence,
   * or when disabled). One frozen object, so that queued ops can tell they may share an append.
   */
  #recordOptions: AppendOptions = NO_CHECK;
  #writeHead = 0;
  /** Issue number of the append whose commit set #writeHead. */
  /**
   * The tracking promise of the latest append issued (it never rejects). Journals settle appends
   * in call order, so once it has settled every earlier append has too.
   */
  #lastAppend: Promise<AppendResult | undefined> = Promise.resolve(undefined);
  /** Framed ops recorded in the current synchronous run, not yet handed to the journal. */
  #queued: Uint8Array[] = [];
  #queuedBytes = 0;
  #queuedOptions: AppendOptions = NO_CHECK;
  readonly #flushDelayMs: number;
  #flushScheduled = false;
  #flushTimer: NodeJS.Timeout | undefined;
  #failed: Error | undefined;

  private constructor(options: RecorderOptions) {
    this.#journal = options.journal;
    this.#fsm = options.fsm;
    this.#author = options.author;
    this.#dir = options.dir;
    this.#signal = options.signal;
    const delay = options.flushDelayMs;
    this.#flushDelayMs = typeof delay === 'number' && delay > 0 ? delay : 0;
    this.#propertyPaths = new Set(options.propertyPaths ?? DEFAULT_PROPERTY_PATHS);
  }

  /**
   * Starts recording into `options.journal`. Waits for a barrier to learn the write head. When
   * the journal is not the log the FSM last applied (a new or migrated log), appends a no-op that
   * continues the FSM's history and sets this author's fence register, and waits for it.
   *
   * Before appending anything, refuses (FsmJournalMismatchError) an FSM that does not continue
   * the journal: an FSM from Player.play whose log's write head is no longer where playback read
   * it through (another writer appended since: play again), or an FSM that has never read this
   * journal (a new FSM, or one from another log) while the journal is not empty. An FSM kept by
   * the application itself (e.g. a previous Recorder's) is trusted, as in Gazette.
   */
  static async open(options: RecorderOptions): Promise<Recorder> {
    const { dir, author, fsm, journal } = options;
    if (!isCleanAbsoluteDir(dir)) throw invalidRecorderDir(dir);
    checkAuthor(author, 'recorder');
    if (fsm.hasRemainingHints()) throw new UnfinishedPlaybackError(journal.name);
    for (const p of options.propertyPaths ?? []) {
      if (!p.startsWith('/') || posix.normalize(p) !== p || p.endsWith('/')) {
        throw invalidPropertyPath(p);
      }
    }

    const recorder = new Recorder(options);
    // The first barrier carries no register check: the fence is not ours (yet).
    await recorder.#await('opening the recorder', recorder.#settledAppend(EMPTY, {}), undefined);
    checkFsmContinuesJournal(fsm, journal.name, recorder.#writeHead);
    const fence = authorFence(author);
    if (journal.name !== fsm.lastLog) {
      recorder.#sequence([{}], undefined, { unionRegisters: fence });
      await recorder.#await('opening the recorder', recorder.#settleAll(), undefined);
    }
    if (!options.disableRegisterChecks) {
      recorder.#recordOptions = Object.freeze({ checkRegisters: fence });
    }
    return recorder;
  }

  get dir(): string {
    return this.#dir;
  }
  get author(): Author {
    return this.#author;
  }
  get journal(): Journal {
    return this.#journal;
  }
  /** The FSM being recorded into. Read it, never apply to it. */
  get fsm(): FSM {
    return this.#fsm;
  }
  /** A lower bound of the offset where the next recorded op will land. */
  get writeHead(): number {
    return this.#writeHead;
  }
  /** The error that stopped this Recorder, or undefined while it works. */
  get failed(): Error | undefined {
    return this.#failed;
  }

  // ----------------------------------------------------------------------------------------
  // Queries that never change state (RecordedFs validates with them before touching a file).

  /**
   * The recorded form ('/rel/path') of an absolute path under the directory. Throws
   * InvalidArgumentError (reason PathOutsideDir) for anything else (relative paths, the
   * directory itself, paths outside).
   */
  relativePath(path: string): string {
    if (!posix.isAbsolute(path)) throw pathOutsideDir(path, this.#dir);
    const clean = posix.normalize(path);
    const prefix = this.#dir === '/' ? '/' : this.#dir + '/';
    if (!clean.startsWith(prefix) || clean.length === prefix.length || clean.endsWith('/')) {
      throw pathOutsideDir(path, this.#dir);
    }
    return '/' + clean.slice(prefix.length);
  }

  /** Whether the absolute `path` is recorded as a property (e.g. <dir>/IDENTITY). */
  isPropertyPath(path: string): boolean {
    return this.#isProperty(this.relativePath(path));
  }

  /** The Fnode currently linked at the absolute `path`, if any. */
  fnodeAt(path: string): Fnode | undefined {
    return this.#fsm.links.get(this.relativePath(path));
  }

  /** Number of paths linked to `fnode` (0 when it is not live). */
  linkCount(fnode: Fnode): number {
    return this.#fsm.liveNodes.get(fnode)?.links.size ?? 0;
  }

  // ----------------------------------------------------------------------------------------
  // Recording. Each method validates first (a refused call appends nothing), then sequences.
  // Any error puts the Recorder in its failed state: it was told of a change it cannot record.

  /** Records a create-or-truncate open of `path` (O_CREAT|O_TRUNC) and returns the new Fnode. */
  recordCreate(path: string): Fnode {
    return this.recordOpenFile(path, { create: true, truncate: true });
  }

  /**
   * Records an open of `path` for writing. A truncating open of a known file records a new
   * file identity (unlink + create, as Gazette does, and a chmod carrying over a recorded mode,
   * as O_TRUNC keeps the file's mode; other hard links keep the old identity: to truncate a
   * file shared by hard links, record a truncation); an open of a known file without truncation
   * records nothing.
   */
  recordOpenFile(path: string, flags: OpenFileFlags): Fnode {
    return this.#guard(() => {
      const rel = this.relativePath(path);
      if (this.#isProperty(rel)) throw propertyPathMisuse(rel, 'open for writing');
      const existing = this.#fsm.links.get(rel);
      if (existing === undefined && flags.create !== true) {
        throw new UnknownPathError(rel, 'an open without create', this.#journal.name);
      }
      if (existing !== undefined && flags.exclusive === true) {
        throw new PathExistsError(rel, 'an exclusive create', this.#journal.name);
      }
      if (existing !== undefined && flags.truncate !== true) return existing;
      const ops: OpBody[] = [];
      const mode = existing === undefined ? undefined : this.#fsm.liveNodes.get(existing)!.mode;
      if (existing !== undefined) ops.push({ unlink: { fnode: existing, path: rel } });
      // A file's identity is its create's SeqNo (a Recorder's SeqNos run on without jumps).
      const fnode: Fnode = this.#fsm.nextSeqNo + ops.length;
      ops.push({ create: { path: rel } });
      if (mode !== undefined) ops.push({ chmod: { fnode, mode } });
      this.#sequence(ops);
      return fnode;
    });
  }

  /**
   * Records `data` written at `offset` of `fnode` (zero-length writes too). `data` is copied
   * unless `options.handOver` is set (see RecordWriteOptions).
   */
  recordWriteAt(
    fnode: Fnode,
    data: Uint8Array,
    offset: number,
    options?: RecordWriteOptions,
  ): void {
    this.#guard(() => {
      if (!this.#fsm.liveNodes.has(fnode)) throw new UnknownFnodeError(fnode, this.#journal.name);
      if (!Number.isSafeInteger(offset) || offset < 0) {
        throw invalidWrite(`offset ${offset} is not a non-negative integer`);
      }
      if (!Number.isSafeInteger(offset + data.length)) {
        throw invalidWrite(`offset ${offset} + length ${data.length} is too large`);
      }
      const write = { fnode, offset, length: data.length, payloadCrc32c: 0 };
      if (data.length > 0) write.payloadCrc32c = crc32c(data);
      if (options?.handOver === true && data.length > 0) {
        // The caller's buffer itself travels, right after the frame; its checksum is computed
        // once here and combined by the journal.
        noteCrc32c(data, write.payloadCrc32c);
        this.#enqueue([frameOps([this.#stamp({ write })], undefined), data], this.#recordOptions);
      } else if (data.length >= COMBINE_PAYS_FROM) {
        // Copied (the caller may reuse `data`), yet checksummed once: the journal combines the
        // CRC noted for the framed copy instead of reading the payload again.
        const framed = frameOps([this.#stamp({ write })], data);
        const head = crc32c(framed.subarray(0, framed.length - data.length));
        noteCrc32c(framed, crc32cCombine(head, write.payloadCrc32c, data.length));
        this.#enqueue(framed, this.#recordOptions);
      } else {
        this.#sequence([{ write }], data);
      }
    });
  }

  /** Records the removal of the file linked at `path`. */
  recordRemove(path: string): void {
    this.#guard(() => {
      const rel = this.relativePath(path);
      if (this.#isProperty(rel)) throw propertyPathMisuse(rel, 'remove');
      const fnode = this.#known(rel, 'removal');
      this.#sequence([{ unlink: { fnode, path: rel } }]);
    });
  }

  /** Records a new hard link `target` of the file at `src`. */
  recordLink(src: string, target: string): void {
    this.#guard(() => {
      const from = this.relativePath(src);
      const to = this.relativePath(target);
      if (this.#isProperty(to)) throw propertyPathMisuse(to, 'link onto');
      if (this.#isProperty(from)) throw propertyPathMisuse(from, 'link from');
      const fnode = this.#known(from, 'a link');
      if (this.#fsm.links.has(to)) throw new PathExistsError(to, 'a link', this.#journal.name);
      this.#sequence([{ link: { fnode, path: to } }]);
    });
  }

  /**
   * Records the rename of `src` onto `target` as one append: unlink of a file at `target`, then a
   * link of the source (or, when `target` is a property path, a property op holding
   * `propertyContent`, the renamed file's content, which the caller read), then unlink of `src`.
   * Renaming a path onto itself records nothing (POSIX makes it a no-op).
   */
  recordRename(src: string, target: string, propertyContent?: string): void {
    this.#guard(() => {
      const from = this.relativePath(src);
      const to = this.relativePath(target);
      if (this.#isProperty(from)) throw propertyPathMisuse(from, 'rename');
      const fnode = this.#known(from, 'a rename');
      if (from === to) return;
      const toProperty = this.#isProperty(to);
      if (toProperty && propertyContent === undefined) throw missingPropertyContent(to);
      if (toProperty && !isWellFormedUtf16(propertyContent!)) {
        throw new PropertyNotUtf8Error(from, to);
      }
      const ops: OpBody[] = [];
      const previous = this.#fsm.links.get(to);
      if (previous !== undefined) ops.push({ unlink: { fnode: previous, path: to } });
      ops.push(
        toProperty
          ? { property: { path: to, content: propertyContent! } }
          : { link: { fnode, path: to } },
      );
      ops.push({ unlink: { fnode, path: from } });
      this.#sequence(ops);
    });
  }

  /**
   * Records the live file `fnode` afresh, as a new file identity holding `content`, and returns
   * the new Fnode. `content` must be the file's bytes as they are now, read while no write to it
   * could land (RecordedFs.rerecord does this under the file's write queue). Beyond Gazette
   * (gazette/core#236): a long-lived file's history starts in the oldest part of the log and
   * keeps every fragment after it from being pruned; re-recorded, its history starts here.
   *
   * Only ops Gazette's FSM knows, in ONE append (so a Player applies all or none of them): for the
   * first link `p`, unlink(fnode, p) and create(p), as a truncating open records; for every other
   * link `q`, unlink(fnode, q) and link(new, q); then `content` as writes (in chunks of
   * RERECORD_WRITE_BYTES). `fnode` loses its last link and leaves the hints with all its old
   * segments; hard links stay together on the new Fnode; properties are untouched. The recorded
   * directory itself does not change. Throws UnknownFnodeError (recording nothing, the Recorder
   * stays usable) when `fnode` is not live.
   */
  recordRerecord(fnode: Fnode, content: Uint8Array): Fnode {
    if (this.#failed) throw this.#failed;
    const node = this.#fsm.liveNodes.get(fnode);
    if (node === undefined) {
      throw new UnknownFnodeError(fnode, this.#journal.name, 'a re-record of');
    }
    return this.#guard(() => {
      const [first, ...others] = [...node.links] as [string, ...string[]];
      // The create is the second op; a file's identity is its create's SeqNo (no hinted
      // segments remain in a Recorder's FSM, so SeqNos run on without jumps).
      const fresh: Fnode = this.#fsm.nextSeqNo + 1;
      const parts: OpPart[] = [
        { body: { unlink: { fnode, path: first } } },
        { body: { create: { path: first } } },
      ];
      if (node.mode !== undefined)
        parts.push({ body: { chmod: { fnode: fresh, mode: node.mode } } });
      for (const path of others) {
        parts.push(
          { body: { unlink: { fnode, path } } },
          { body: { link: { fnode: fresh, path } } },
        );
      }
      for (let at = 0; at < content.length; at += RERECORD_WRITE_BYTES) {
        const chunk = content.subarray(at, Math.min(content.length, at + RERECORD_WRITE_BYTES));
        const write = {
          fnode: fresh,
          offset: at,
          length: chunk.length,
          payloadCrc32c: crc32c(chunk),
        };
        parts.push({ body: { write }, payload: chunk });
      }
      this.#sequenceParts(parts);
      return fresh;
    });
  }

  // ----------------------------------------------------------------------------------------
  // Metadata and directories: extension ops (Gazette's FSM sees them as no-ops; see
  // proto/recorded_op.proto and recorder-tree.ts).

  /**
   * Records that the file `fnode` now has the permission bits of `mode` (`mode & 0o7777`: a
   * st_mode may be passed as is).
   */
  recordChmod(fnode: Fnode, mode: number): void {
    this.#guard(() => {
      if (!this.#fsm.liveNodes.has(fnode)) {
        throw new UnknownFnodeError(fnode, this.#journal.name, 'a chmod of');
      }
      this.#sequence([{ chmod: { fnode, mode: permissionBits(mode) } }]);
    });
  }

  /** Records that the file `fnode` was cut or zero-extended to `length` bytes. */
  recordTruncate(fnode: Fnode, length: number): void {
    this.#guard(() => {
      if (!this.#fsm.liveNodes.has(fnode)) {
        throw new UnknownFnodeError(fnode, this.#journal.name, 'a truncation of');
      }
      if (!Number.isSafeInteger(length) || length < 0) {
        throw invalidWrite(`truncation length ${length} is not a non-negative integer`);
      }
      this.#sequence([{ truncate: { fnode, length } }]);
    });
  }

  /**
   * Records that the directory at `path` exists with the permission bits of `mode`: made by
   * mkdir, or its mode changed (chmod). Directories holding files need not be recorded.
   */
  recordMkdir(path: string, mode: number): void {
    this.#guard(() => {
      const rel = this.relativePath(path);
      if (this.#fsm.links.has(rel) || this.#isProperty(rel)) {
        throw new PathExistsError(rel, 'a directory', this.#journal.name);
      }
      this.#sequence([{ mkdir: { path: rel, mode: permissionBits(mode) } }]);
    });
  }

  /** Records the removal of the (empty) directory at `path`; nothing if it is not recorded. */
  recordRmdir(path: string): void {
    this.#guard(() => {
      const rel = this.relativePath(path);
      if (this.#fsm.directories.has(rel)) this.#sequence([{ rmdir: { path: rel, mode: 0 } }]);
    });
  }

  /**
   * Records the recursive removal of the directory at `path`: every file link and recorded
   * directory under it, in one append. A property under it cannot be removed
   * (InvalidArgumentError, reason PropertyPathMisuse).
   */
  recordRemoveTree(path: string): void {
    this.#guard(() => {
      const rel = this.relativePath(path);
      const property = propertyUnder(this.#fsm, rel);
      if (property !== undefined) throw propertyPathMisuse(property, 'remove');
      const ops = removeTreeOps(this.#fsm, rel);
      if (ops.length > 0) this.#sequence(ops);
    });
  }

  /**
   * Records the rename of the directory `src` (permission bits `mode`) onto `target` (missing, or
   * an empty directory it replaced), in one append: the directory and everything recorded under
   * it move; files keep their identities. A property under it cannot move.
   */
  recordRenameTree(src: string, target: string, mode: number): void {
    this.#guard(() => {
      const from = this.relativePath(src);
      const to = this.relativePath(target);
      if (from === to) return;
      const property = propertyUnder(this.#fsm, from);
      if (property !== undefined) throw propertyPathMisuse(property, 'rename');
      if (this.#fsm.links.has(to) || this.#isProperty(to)) {
        throw new PathExistsError(to, 'a directory rename onto', this.#journal.name);
      }
      this.#sequence(renameTreeOps(this.#fsm, from, to, permissionBits(mode)));
    });
  }

  // ----------------------------------------------------------------------------------------
  // Waiting.

  /**
   * A zero-byte append (with the fence check): resolves, with the journal's write head, once
   * every op recorded before the call is durable. Rejects with the Recorder's failure if any
   * earlier append failed, or with RecorderAbortedError on abort.
   */
  barrier(options?: WaitOptions): Promise<AppendResult> {
    if (this.#failed) return Promise.reject(this.#failed);
    const aborted = abortedSignal(this.#signal, options?.signal);
    if (aborted) return Promise.reject(new RecorderAbortedError('barrier', aborted.reason));
    return this.#await('barrier', this.#settledAppend(EMPTY, this.#recordOptions), options);
  }

  /**
   * Hints describing the recorded files, referencing only durable ops: the FSM is snapshotted
   * now, then a barrier is awaited.
   */
  async buildHints(options?: WaitOptions): Promise<FSMHints> {
    if (this.#failed) throw this.#failed;
    const hints = this.#fsm.buildHints(this.#journal.name);
    await this.barrier(options);
    return hints;
  }

  // ----------------------------------------------------------------------------------------
  // Internals.

  #guard<T>(record: () => T): T {
    if (this.#failed) throw this.#failed;
    try {
      return record();
    } catch (err) {
      this.#fail(err);
      throw err;
    }
  }

  #fail(err: unknown): void {
    if (this.#failed) return;
    this.#failed = err instanceof Error ? err : new Error(String(err));
  }

  #isProperty(rel: string): boolean {
    return this.#propertyPaths.has(rel) || this.#fsm.properties.has(rel);
  }

  #known(rel: string, what: string): Fnode {
    const fnode = this.#fsm.links.get(rel);
    if (fnode === undefined) throw new UnknownPathError(rel, what, this.#journal.name);
    return fnode;
  }

  /**
   * Stamps each op from the FSM, encodes it, applies it, and queues all frames (then `payload`,
   * a Write's data) as one unit: they always travel in the same journal append. The payload is
   * copied: the caller may reuse its buffer.
   */
  #sequence(ops: readonly OpBody[], payload?: Uint8Array, options?: AppendOptions): void {
    const encodedOps = ops.map((body) => this.#stamp(body));
    this.#enqueue(frameOps(encodedOps, payload), options ?? this.#recordOptions);
  }

  /** As #sequence, for a unit in which several ops carry data (each right after its frame). */
  #sequenceParts(parts: readonly OpPart[]): void {
    const encodedOps = parts.map(({ body }) => this.#stamp(body));
    this.#enqueue(
      frameParts(
        encodedOps,
        parts.map(({ payload }) => payload),
      ),
      this.#recordOptions,
    );
  }

  /** Stamps one op from the FSM, encodes it and applies it; returns its encoding. */
  #stamp(body: OpBody): Uint8Array {
    const op: RecordedOp = {
      seqNo: this.#fsm.nextSeqNo,
      checksum: this.#fsm.nextChecksum,
      author: this.#author,
      ...body,
      firstOffset: 0,
      lastOffset: 0,
      log: '',
    };
    const encoded = encodeRecordedOp(op);
    // Meta-fields are not written; the FSM uses them for segments. The write head is a lower
    // bound of where this append lands.
    op.firstOffset = this.#writeHead;
    op.log = this.#journal.name;
    try {
      this.#fsm.apply(op, encoded);
    } catch (err) {
      throw new FsmRejectedOpError(describeOp(op), this.#journal.name, err);
    }
    return encoded;
  }

  /**
   * Queues one record call's frames. A journal append costs a promise, a queue entry, a tracking
   * chain and, in a durable journal, a commit, so queued calls share one append (see the file
   * header for when it is issued). Ops with other options (open's fencing no-op) never share an
   * append with ops before them, and a barrier flushes the queue first (see #trackAppend), so
   * call order and what each append checks are exactly as if every call had appended on its own.
   */
  #enqueue(frames: Uint8Array | readonly Uint8Array[], options: AppendOptions): void {
    if (this.#queued.length > 0 && this.#queuedOptions !== options) this.#flush();
    for (const part of frames instanceof Uint8Array ? [frames] : frames) {
      this.#queued.push(part);
      this.#queuedBytes += part.byteLength;
    }
    this.#queuedOptions = options;
    if (this.#flushDelayMs <= 0) {
      if (this.#flushScheduled) return;
      this.#flushScheduled = true;
      queueMicrotask(() => {
        this.#flushScheduled = false;
        this.#flush();
      });
    } else if (this.#queuedBytes >= FLUSH_BYTES) {
      this.#flush();
    } else if (this.#flushTimer === undefined) {
      this.#flushTimer = setTimeout(() => {
        this.#flushTimer = undefined;
        this.#flush();
      }, this.#flushDelayMs);
    }
  }

  /** Hands the queued record calls to the journal as one append. */
  #flush(): void {
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#queued.length === 0) return;
    const chunks = this.#queued;
    this.#queued = [];
    this.#queuedBytes = 0;
    void this.#issueAppend(chunks, this.#queuedOptions);
  }

  /** Appends after whatever record calls are still queued, keeping call order. */
  #trackAppend(bytes: Uint8Array, options: AppendOptions): Promise<AppendResult | undefined> {
    this.#flush();
    return this.#issueAppend(bytes, options);
  }

  /**
   * Issues an append and tracks it: its commit advances the write head, its failure puts the
   * Recorder in the failed state. The returned promise never rejects (undefined = failed), so
   * an append nobody waits for cannot become an unhandled rejection.
   */
  #issueAppend(
    bytes: Uint8Array | readonly Uint8Array[],
    options: AppendOptions,
  ): Promise<AppendResult | undefined> {
    let appended: Promise<AppendResult>;
    try {
      appended = this.#journal.append(bytes, options);
    } catch (err) {
      appended = Promise.reject(err);
    }
    const settled = appended.then(
      (result) => {
        this.#observeCommit(result);
        return result;
      },
      (err: unknown) => {
        // The FSM already advanced past these ops; the log no longer matches it.
        this.#fail(err);
        return undefined;
      },
    );
    this.#lastAppend = settled;
    return settled;
  }

  #observeCommit(result: AppendResult): void {
    // Journals settle appends in call order, so each commit starts at or after the last one.
    if (result.begin < this.#writeHead) {
      this.#fail(
        new WriteHeadRegressionError(this.#journal.name, this.#writeHead, result.begin, result.end),
      );
      return;
    }
    this.#writeHead = result.end;
  }

  /**
   * Appends, then waits for it and thereby for every earlier append; rejects if the Recorder
   * failed. Only our own append is awaited: journals settle appends in call order, so the
   * tracking handlers of earlier appends (which record a failure in #failed) have run before
   * ours. Awaiting every append in flight instead made N concurrent barriers cost O(N²).
   */
  async #settledAppend(bytes: Uint8Array, options: AppendOptions): Promise<AppendResult> {
    const result = await this.#trackAppend(bytes, options);
    if (this.#failed || result === undefined) throw this.#failed;
    return result;
  }

  /** Waits for every append issued so far (queued ops included); rejects if the Recorder failed. */
  async #settleAll(): Promise<void> {
    this.#flush();
    await this.#lastAppend;
    if (this.#failed) throw this.#failed;
  }

  /** Waits for `work`, rejecting early with RecorderAbortedError when a signal aborts. */
  #await<T>(what: string, work: Promise<T>, options: WaitOptions | undefined): Promise<T> {
    const signals = [this.#signal, options?.signal].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    // An abort may leave `work` unobserved: keep its rejection from going unhandled.
    work.catch(() => undefined);
    if (signals.length === 0) return work;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (event: Event): void => {
        cleanup();
        reject(new RecorderAbortedError(what, (event.target as AbortSignal).reason));
      };
      const cleanup = (): void => {
        for (const s of signals) s.removeEventListener('abort', onAbort);
      };
      for (const s of signals) {
        if (s.aborted) {
          reject(new RecorderAbortedError(what, s.reason));
          return;
        }
        s.addEventListener('abort', onAbort, { once: true });
      }
      work.then(
        (value) => {
          cleanup();
          resolve(value);
        },
        (err: unknown) => {
          cleanup();
          reject(err);
        },
      );
    });
  }
}

/**
 * Throws FsmJournalMismatchError unless `fsm` may continue the journal `log`, whose write head is
 * `head`. Without this check both writers of a fork are acknowledged and strict playback follows
 * the first one, silently skipping every op of the second (see Recorder.open).
 */
function checkFsmContinuesJournal(fsm: FSM, log: string, head: number): void {
  const played = playedThrough(fsm, log);
  if (played !== undefined) {
    if (head === played) return;
    throw new FsmJournalMismatchError(
      log,
      head,
      played,
      head > played
        ? `the FSM was played through offset ${played}, but the journal has grown to ${head} ` +
            `since (another writer appended)`
        : `the FSM was played through offset ${played}, but the journal ends at ${head} (a ` +
            `different journal, or one that lost bytes)`,
    );
  }
  if (head === 0) return;
  // SeqNo 1 with a zero checksum: no op applied, the state of hints without live files.
  if (fsm.nextSeqNo === 1 && fsm.nextChecksum === 0) {
    throw new FsmJournalMismatchError(
      log,
      head,
      undefined,
      `the FSM is new (it has applied no op) but the journal already holds ${head} bytes`,
    );
  }
  if (fsm.lastLog !== log) {
    throw new FsmJournalMismatchError(
      log,
      head,
      undefined,
      `the FSM's history is in ${JSON.stringify(fsm.lastLog)}, and it never read the ${head} ` +
        `bytes this journal already holds`,
    );
  }
}

/** The permission bits of a mode or st_mode (setuid, setgid, sticky and rwx for all). */
function permissionBits(mode: number): number {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0xffffffff) {
    throw invalidWrite(`mode ${mode} is not an unsigned 32-bit integer`);
  }
  return mode & 0o7777;
}

function isCleanAbsoluteDir(dir: string): boolean {
  if (typeof dir !== 'string' || !posix.isAbsolute(dir)) return false;
  return dir === '/' || (posix.normalize(dir) === dir && !dir.endsWith('/'));
}

function abortedSignal(...signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  return signals.find((s) => s?.aborted === true);
}

/** Lone surrogates cannot be encoded as UTF-8: a proto string would silently alter them. */
function isWellFormedUtf16(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

/**
 * Frames each encoded op (magic, u32 little-endian length, op) and appends `payload`, all in one
 * buffer. Buffer.allocUnsafe serves small sizes from a shared slab and skips zero-filling (every
 * byte is written here): with thousands of small ops per second, an ArrayBuffer per op and per
 * frame was what made garbage collection dominate.
 */
function frameOps(encodedOps: readonly Uint8Array[], payload: Uint8Array | undefined): Uint8Array {
  let total = payload?.length ?? 0;
  for (const op of encodedOps) total += FRAME_HEADER_LENGTH + op.length;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const op of encodedOps) {
    out.set(FRAME_MAGIC, at);
    out.writeUInt32LE(op.length, at + 4);
    out.set(op, at + FRAME_HEADER_LENGTH);
    at += FRAME_HEADER_LENGTH + op.length;
  }
  if (payload !== undefined) out.set(payload, at);
  return out;
}

/** As frameOps, with each op's data (if any) right after its own frame. */
function frameParts(
  encodedOps: readonly Uint8Array[],
  payloads: readonly (Uint8Array | undefined)[],
): Uint8Array {
  let total = 0;
  for (let i = 0; i < encodedOps.length; i++) {
    total += FRAME_HEADER_LENGTH + encodedOps[i]!.length + (payloads[i]?.length ?? 0);
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < encodedOps.length; i++) {
    const op = encodedOps[i]!;
    out.set(FRAME_MAGIC, at);
    out.writeUInt32LE(op.length, at + 4);
    out.set(op, at + FRAME_HEADER_LENGTH);
    at += FRAME_HEADER_LENGTH + op.length;
    const payload = payloads[i];
    if (payload !== undefined) {
      out.set(payload, at);
      at += payload.length;
    }
  }
  return out;
}

function describeOp(op: RecordedOp): string {
  const { seqNo, create, link, unlink, write, property, chmod, truncate, mkdir, rmdir } = op;
  const body = create
    ? `create ${JSON.stringify(create.path)}`
    : link
      ? `link fnode ${link.fnode} -> ${JSON.stringify(link.path)}`
      : unlink
        ? `unlink fnode ${unlink.fnode} ${JSON.stringify(unlink.path)}`
        : write
          ? `write fnode ${write.fnode} [${write.offset}, +${write.length})`
          : property
            ? `property ${JSON.stringify(property.path)}`
            : chmod
              ? `chmod fnode ${chmod.fnode} 0o${chmod.mode.toString(8)}`
              : truncate
                ? `truncate fnode ${truncate.fnode} to ${truncate.length}`
                : mkdir
                  ? `mkdir ${JSON.stringify(mkdir.path)}`
                  : rmdir
                    ? `rmdir ${JSON.stringify(rmdir.path)}`
                    : 'no-op';
  return `SeqNo ${seqNo} (${body})`;
}
