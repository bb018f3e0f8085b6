/**
 * Recorder: turns file-system mutations that already happened under a directory into RecordedOps,
 * sequences them through an FSM and appends them to a journal. Gazette's `recorder.go`
 * semantics, with typed fail-fast errors where Gazette panics.
 *
 * Record calls are synchronous: each stamps its ops from the FSM, applies them to the FSM and
 * packs their frames into the queue's buffers. Queued frames go to the journal as ONE append
 * at the end of the synchronous run that recorded them (a microtask); with `flushDelayMs`, when
 * a barrier (or another wait) needs them, when FLUSH_BYTES are queued, or `flushDelayMs` after
 * the first queued op. So each record call stays atomic (its frames are never
 * split between appends) and in call order, a failed append fails the Recorder with the
 * journal's error, and a barrier covers exactly the ops recorded before it. Durability is
 * observed only through `barrier()` / `buildHints()`.
 *
 * A little over 400 lines, and kept whole on purpose: what is left here is the public surface
 * (one short method per mutation, with its doc comment); building ops (recorder-ops.ts),
 * stamping them (recorder-stamp.ts), the append queue (recorder-queue.ts) and the options
 * (recorder-options.ts) live in their own modules.
 */
import { posix } from 'node:path';
import { authorFence, checkAuthor, FSM } from './fsm.js';
import type { AppendResult, Journal } from './journal/journal.js';
import {
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
} from './recorder-errors.js';
import {
  checkFsmContinuesJournal,
  checkPropertyPaths,
  checkRecorderDir,
  checkWriteRange,
  DEFAULT_PROPERTY_PATHS,
  isWellFormedUtf16,
  permissionBits,
  type OpenFileFlags,
  type RecorderOptions,
  type RecordWriteOptions,
  type WaitOptions,
} from './recorder-options.js';
import { renameOps, replaceFileOps, rerecordParts } from './recorder-ops.js';
import { OpSequencer } from './recorder-stamp.js';
import { abortedSignal, AppendQueue, awaitUnlessAborted } from './recorder-queue.js';
import { propertyUnder, removeTreeOps, renameTreeOps } from './recorder-tree.js';
import { crc32c } from './crc32c.js';
import type { Author, Fnode, FSMHints } from './wire/types.js';

// The public surface of this module, defined next to the code that owns it.
export {
  DEFAULT_PROPERTY_PATHS,
  type OpenFileFlags,
  type RecorderOptions,
  type RecordWriteOptions,
  type WaitOptions,
} from './recorder-options.js';
export { RERECORD_WRITE_BYTES } from './recorder-ops.js';

const EMPTY = new Uint8Array(0);

export class Recorder {
  readonly #journal: Journal;
  readonly #fsm: FSM;
  readonly #author: Author;
  readonly #dir: string;
  readonly #signal: AbortSignal | undefined;
  readonly #propertyPaths: ReadonlySet<string>;
  readonly #queue: AppendQueue;
  readonly #seq: OpSequencer;
  private constructor(options: RecorderOptions) {
    this.#journal = options.journal;
    this.#fsm = options.fsm;
    this.#author = options.author;
    this.#dir = options.dir;
    this.#signal = options.signal;
    this.#queue = new AppendQueue(options.journal, options.flushDelayMs);
    this.#seq = new OpSequencer(options.fsm, options.author, options.journal.name, this.#queue);
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
    checkRecorderDir(dir);
    checkAuthor(author, 'recorder');
    if (fsm.hasRemainingHints()) throw new UnfinishedPlaybackError(journal.name);
    checkPropertyPaths(options.propertyPaths);

    const recorder = new Recorder(options);
    // The first barrier carries no register check: the fence is not ours (yet).
    await recorder.#await(
      'opening the recorder',
      recorder.#queue.settledAppend(EMPTY, {}),
      undefined,
    );
    checkFsmContinuesJournal(fsm, journal.name, recorder.#queue.writeHead);
    const fence = authorFence(author);
    if (journal.name !== fsm.lastLog) {
      recorder.#seq.sequence([{}], undefined, { unionRegisters: fence });
      await recorder.#await('opening the recorder', recorder.#queue.settleAll(), undefined);
    }
    if (!options.disableRegisterChecks) {
      recorder.#seq.recordOptions = Object.freeze({ checkRegisters: fence });
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
    return this.#queue.writeHead;
  }
  /** The error that stopped this Recorder, or undefined while it works. */
  get failed(): Error | undefined {
    return this.#queue.failed;
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
    return this.#seq.guard(() => {
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
      const { ops, fnode } = replaceFileOps(this.#fsm, rel, existing);
      this.#seq.sequence(ops);
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
    this.#seq.guard(() => {
      if (!this.#fsm.liveNodes.has(fnode)) throw new UnknownFnodeError(fnode, this.#journal.name);
      checkWriteRange(offset, data.length);
      const write = { fnode, offset, length: data.length, payloadCrc32c: 0 };
      if (data.length > 0) write.payloadCrc32c = crc32c(data);
      this.#seq.sequenceWrite(write, data, options?.handOver === true);
    });
  }

  /** Records the removal of the file linked at `path`. */
  recordRemove(path: string): void {
    this.#seq.guard(() => {
      const rel = this.relativePath(path);
      if (this.#isProperty(rel)) throw propertyPathMisuse(rel, 'remove');
      const fnode = this.#known(rel, 'removal');
      this.#seq.sequence([{ unlink: { fnode, path: rel } }]);
    });
  }

  /** Records a new hard link `target` of the file at `src`. */
  recordLink(src: string, target: string): void {
    this.#seq.guard(() => {
      const from = this.relativePath(src);
      const to = this.relativePath(target);
      if (this.#isProperty(to)) throw propertyPathMisuse(to, 'link onto');
      if (this.#isProperty(from)) throw propertyPathMisuse(from, 'link from');
      const fnode = this.#known(from, 'a link');
      if (this.#fsm.links.has(to)) throw new PathExistsError(to, 'a link', this.#journal.name);
      this.#seq.sequence([{ link: { fnode, path: to } }]);
    });
  }

  /**
   * Records the rename of `src` onto `target` as one append: unlink of a file at `target`, then a
   * link of the source (or, when `target` is a property path, a property op holding
   * `propertyContent`, the renamed file's content, which the caller read), then unlink of `src`.
   * Renaming a path onto itself records nothing (POSIX makes it a no-op).
   */
  recordRename(src: string, target: string, propertyContent?: string): void {
    this.#seq.guard(() => {
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
      const previous = this.#fsm.links.get(to);
      this.#seq.sequence(
        renameOps(fnode, from, to, previous, toProperty ? propertyContent : undefined),
      );
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
    if (this.#queue.failed) throw this.#queue.failed;
    const node = this.#fsm.liveNodes.get(fnode);
    if (node === undefined) {
      throw new UnknownFnodeError(fnode, this.#journal.name, 'a re-record of');
    }
    return this.#seq.guard(() => {
      // The create is the second op; a file's identity is its create's SeqNo (no hinted
      // segments remain in a Recorder's FSM, so SeqNos run on without jumps).
      const fresh: Fnode = this.#fsm.nextSeqNo + 1;
      this.#seq.sequenceParts(rerecordParts(fnode, node, fresh, content));
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
    this.#seq.guard(() => {
      if (!this.#fsm.liveNodes.has(fnode)) {
        throw new UnknownFnodeError(fnode, this.#journal.name, 'a chmod of');
      }
      this.#seq.sequence([{ chmod: { fnode, mode: permissionBits(mode) } }]);
    });
  }

  /** Records that the file `fnode` was cut or zero-extended to `length` bytes. */
  recordTruncate(fnode: Fnode, length: number): void {
    this.#seq.guard(() => {
      if (!this.#fsm.liveNodes.has(fnode)) {
        throw new UnknownFnodeError(fnode, this.#journal.name, 'a truncation of');
      }
      if (!Number.isSafeInteger(length) || length < 0) {
        throw invalidWrite(`truncation length ${length} is not a non-negative integer`);
      }
      this.#seq.sequence([{ truncate: { fnode, length } }]);
    });
  }

  /**
   * Records that the directory at `path` exists with the permission bits of `mode`: made by
   * mkdir, or its mode changed (chmod). Directories holding files need not be recorded.
   */
  recordMkdir(path: string, mode: number): void {
    this.#seq.guard(() => {
      const rel = this.relativePath(path);
      if (this.#fsm.links.has(rel) || this.#isProperty(rel)) {
        throw new PathExistsError(rel, 'a directory', this.#journal.name);
      }
      this.#seq.sequence([{ mkdir: { path: rel, mode: permissionBits(mode) } }]);
    });
  }

  /** Records the removal of the (empty) directory at `path`; nothing if it is not recorded. */
  recordRmdir(path: string): void {
    this.#seq.guard(() => {
      const rel = this.relativePath(path);
      if (this.#fsm.directories.has(rel)) this.#seq.sequence([{ rmdir: { path: rel, mode: 0 } }]);
    });
  }

  /**
   * Records the recursive removal of the directory at `path`: every file link and recorded
   * directory under it, in one append. A property under it cannot be removed
   * (InvalidArgumentError, reason PropertyPathMisuse).
   */
  recordRemoveTree(path: string): void {
    this.#seq.guard(() => {
      const rel = this.relativePath(path);
      const property = propertyUnder(this.#fsm, rel);
      if (property !== undefined) throw propertyPathMisuse(property, 'remove');
      const ops = removeTreeOps(this.#fsm, rel);
      if (ops.length > 0) this.#seq.sequence(ops);
    });
  }

  /**
   * Records the rename of the directory `src` (permission bits `mode`) onto `target` (missing, or
   * an empty directory it replaced), in one append: the directory and everything recorded under
   * it move; files keep their identities. A property under it cannot move.
   */
  recordRenameTree(src: string, target: string, mode: number): void {
    this.#seq.guard(() => {
      const from = this.relativePath(src);
      const to = this.relativePath(target);
      if (from === to) return;
      const property = propertyUnder(this.#fsm, from);
      if (property !== undefined) throw propertyPathMisuse(property, 'rename');
      if (this.#fsm.links.has(to) || this.#isProperty(to)) {
        throw new PathExistsError(to, 'a directory rename onto', this.#journal.name);
      }
      this.#seq.sequence(renameTreeOps(this.#fsm, from, to, permissionBits(mode)));
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
    if (this.#queue.failed) return Promise.reject(this.#queue.failed);
    const aborted = abortedSignal(this.#signal, options?.signal);
    if (aborted) return Promise.reject(new RecorderAbortedError('barrier', aborted.reason));
    return this.#await(
      'barrier',
      this.#queue.settledAppend(EMPTY, this.#seq.recordOptions),
      options,
    );
  }

  /**
   * Hints describing the recorded files, referencing only durable ops: the FSM is snapshotted
   * now, then a barrier is awaited.
   */
  async buildHints(options?: WaitOptions): Promise<FSMHints> {
    if (this.#queue.failed) throw this.#queue.failed;
    const hints = this.#fsm.buildHints(this.#journal.name);
    await this.barrier(options);
    return hints;
  }

  // ----------------------------------------------------------------------------------------
  // Internals.

  #isProperty(rel: string): boolean {
    return this.#propertyPaths.has(rel) || this.#fsm.properties.has(rel);
  }

  #known(rel: string, what: string): Fnode {
    const fnode = this.#fsm.links.get(rel);
    if (fnode === undefined) throw new UnknownPathError(rel, what, this.#journal.name);
    return fnode;
  }

  /** Waits for `work`, rejecting early with RecorderAbortedError when a signal aborts. */
  #await<T>(what: string, work: Promise<T>, options: WaitOptions | undefined): Promise<T> {
    return awaitUnlessAborted(what, work, this.#signal, options?.signal);
  }
}
