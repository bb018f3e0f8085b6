/**
 * The FSM: enforces one linear, checksummed history of RecordedOps and tracks which files are
 * live, so that hints can be built from it. Gazette's `consumer/recoverylog/fsm.go` semantics,
 * including the exact order of checks (it decides which error a bad op reports). Pure: no I/O.
 * Its errors are in fsm-errors.ts, authors in author.ts (both re-exported here).
 */
import { HintsValidationError, liveLogSegments } from './hints.js';
import { crc32cUpdate } from './crc32c.js';
// The errors apply() throws (index.ts re-exports the same list: declared boilerplate).
import {
  ErrChecksumMismatch,
  ErrExpectedHintedFnode,
  ErrFnodeNotTracked,
  ErrLinkExists,
  ErrNoSuchLink,
  ErrNotHintedAuthor,
  ErrPropertyExists,
  ErrWrongSeqNo,
} from './fsm-errors.js';
import type { Fnode, FSMHints, RecordedOp, Segment } from './wire/types.js';

export type { Registers } from './journal/journal.js';
export * from './fsm-errors.js';
export { authorFence, checkAuthor, newRandomAuthor } from './author.js';

/** What the FSM knows of one live file. */
export interface FnodeState {
  /** Current paths (hard links) of the file. */
  readonly links: ReadonlySet<string>;
  /** Runs of ops on this file, one per consecutive (author, log); only for building hints. */
  readonly segments: readonly Readonly<Segment>[];
  /**
   * Permission bits recorded by a chmod op (extension), or undefined: the file has the mode a
   * create without a mode gives (then the key is absent).
   */
  readonly mode?: number;
}

interface MutableFnodeState {
  links: Set<string>;
  segments: Segment[];
  mode?: number;
}

export class FSM {
  #nextSeqNo = 1;
  #nextChecksum = 0;
  #lastLog: string;
  /**
   * Small files kept outside fnode tracking. A property path is a sink: only ever the target of
   * a rename, never written, linked or renamed from.
   */
  readonly #properties = new Map<string, string>();
  readonly #liveNodes = new Map<Fnode, MutableFnodeState>();
  readonly #links = new Map<string, Fnode>();
  /**
   * Recorded directories (extension ops mkdir/rmdir) and their permission bits. Independent of
   * the files: a directory holding files exists without being recorded (it is implied).
   */
  readonly #directories = new Map<string, number>();
  /** Hinted segments still to be consumed, from `#segCursor` on (a cursor keeps pops O(1)). */
  #hintedSegments: readonly Readonly<Segment>[] = [];
  #segCursor = 0;
  /** Hinted live Fnodes not yet created, from `#fnodeCursor` on. */
  #hintedFnodes: readonly Fnode[] = [];
  #fnodeCursor = 0;

  /**
   * An FSM ready to apply the log these hints describe. Throws HintsValidationError when
   * `hints.log` is empty or the hinted segments are inconsistent (see `liveLogSegments`).
   */
  constructor(hints: FSMHints) {
    if (hints.log === '') {
      throw new HintsValidationError(
        'hinted log not provided: FSMHints.log must name the recovery log the hints describe',
      );
    }
    const { fnodes, segments } = liveLogSegments(hints);
    this.#lastLog = hints.log;
    this.#hintedFnodes = fnodes;
    const first = segments.segments[0];
    if (first !== undefined) {
      this.#nextSeqNo = first.firstSeqNo;
      this.#nextChecksum = first.firstChecksum;
      this.#hintedSegments = segments.segments;
    }
    for (const p of hints.properties) this.#properties.set(p.path, p.content);
    for (const d of hints.directories ?? []) this.#directories.set(d.path, d.mode);
  }

  static fromHints(hints: FSMHints): FSM {
    return new FSM(hints);
  }

  /** SeqNo the next op must carry. */
  get nextSeqNo(): number {
    return this.#nextSeqNo;
  }
  /** Checksum the next op must carry (CRC-32C chain of the payloads applied so far). */
  get nextChecksum(): number {
    return this.#nextChecksum;
  }
  /** Log of the last applied op (initially the hints' log). */
  get lastLog(): string {
    return this.#lastLog;
  }
  get properties(): ReadonlyMap<string, string> {
    return this.#properties;
  }
  get liveNodes(): ReadonlyMap<Fnode, FnodeState> {
    return this.#liveNodes;
  }
  get links(): ReadonlyMap<string, Fnode> {
    return this.#links;
  }
  /** Recorded directories and their permission bits. */
  get directories(): ReadonlyMap<string, number> {
    return this.#directories;
  }
  /** The hinted segment the next op must belong to, if hinted segments remain. */
  get nextHintedSegment(): Readonly<Segment> | undefined {
    return this.#hintedSegments[this.#segCursor];
  }
  /** Hinted segments not yet consumed (a copy). */
  get hintedSegments(): readonly Readonly<Segment>[] {
    return this.#hintedSegments.slice(this.#segCursor);
  }
  /** Hinted live Fnodes not yet created (a copy). */
  get hintedFnodes(): readonly Fnode[] {
    return this.#hintedFnodes.slice(this.#fnodeCursor);
  }

  /** Whether hinted segments or hinted Fnodes remain to be applied. */
  hasRemainingHints(): boolean {
    return (
      this.#segCursor < this.#hintedSegments.length || this.#fnodeCursor < this.#hintedFnodes.length
    );
  }

  /**
   * Makes the next expected op `(seqNo, checksum)`, as if the history before it had been
   * applied. For following a log from the middle without replaying it (tests, tools); hinted
   * segments, if any, still decide which authors are accepted.
   */
  startAt(seqNo: number, checksum: number): void {
    this.#nextSeqNo = seqNo;
    this.#nextChecksum = checksum >>> 0;
  }

  /**
   * Applies `op`, whose encoded protobuf payload (the frame without its 8-byte header, and
   * without a Write's data) is `payload`. On success the FSM advances. Throws an FSMError:
   * every one but ErrFnodeNotTracked leaves the FSM untouched; ErrFnodeNotTracked is thrown
   * after the FSM advanced (the op is part of the history, but its file is not tracked).
   */
  apply(op: RecordedOp, payload: Uint8Array): void {
    // While hints remain, only the hinted author may write the next op: anyone else is on a
    // branch of history the hints exclude (a zombie recorder, a losing hand-off).
    const hinted = this.#hintedSegments[this.#segCursor];
    if (hinted !== undefined && hinted.author !== op.author) {
      throw new ErrNotHintedAuthor(op.seqNo, hinted.author, op.author);
    }
    if (op.seqNo !== this.#nextSeqNo) {
      throw new ErrWrongSeqNo(this.#nextSeqNo, op.seqNo);
    }
    if (op.checksum !== this.#nextChecksum) {
      throw new ErrChecksumMismatch(op.seqNo, this.#nextChecksum, op.checksum);
    }

    // Each step checks everything before it mutates anything, so a refusal changes nothing.
    let untracked: ErrFnodeNotTracked | undefined;
    if (op.create) {
      untracked = this.#applyCreate(op, op.create.path);
    } else if (this.#hintedFnodes[this.#fnodeCursor] === op.seqNo) {
      // Hints say a live file was created at exactly this SeqNo; anything else here is a dead branch.
      throw new ErrExpectedHintedFnode(op.seqNo);
    } else if (op.link) {
      untracked = this.#applyLink(op, op.link.fnode, op.link.path);
    } else if (op.unlink) {
      untracked = this.#applyUnlink(op, op.unlink.fnode, op.unlink.path);
    } else if (op.write) {
      untracked = this.#applyWrite(op, op.write.fnode);
    } else if (op.property) {
      this.#applyProperty(op, op.property.path, op.property.content);
    } else if (op.chmod) {
      untracked = this.#applyChmod(op, op.chmod.fnode, op.chmod.mode);
    } else if (op.truncate) {
      untracked = this.#applyWrite(op, op.truncate.fnode);
    } else if (op.mkdir) {
      this.#applyDirectory(op.mkdir.path, op.mkdir.mode);
    } else if (op.rmdir) {
      this.#applyDirectory(op.rmdir.path, undefined);
    }

    this.#nextSeqNo++;
    this.#nextChecksum = crc32cUpdate(this.#nextChecksum, payload);
    this.#lastLog = op.log;

    // A consumed hinted segment hands over to the next one, whose declared start re-seeds the
    // chain: the ops between hinted segments are never read.
    if (hinted !== undefined && hinted.lastSeqNo < this.#nextSeqNo) {
      this.#segCursor++;
      const next = this.#hintedSegments[this.#segCursor];
      if (next !== undefined) {
        this.#nextSeqNo = next.firstSeqNo;
        this.#nextChecksum = next.firstChecksum;
      }
    }
    if (untracked) throw untracked;
  }

  #applyCreate(op: RecordedOp, path: string): ErrFnodeNotTracked | undefined {
    const existing = this.#links.get(path);
    if (existing !== undefined) throw new ErrLinkExists(op.seqNo, path, existing);
    if (this.#properties.has(path)) throw new ErrPropertyExists(op.seqNo, path);
    // A file's identity is the SeqNo of the op that created it.
    const fnode: Fnode = op.seqNo;
    // Hints list every file still live when they were built, in creation order. So while we
    // read inside hinted segments (all of them older than the hints), a create that is not the
    // next hinted fnode made a file that died before the hints: it is not tracked. Gazette only
    // applies this while hinted fnodes remain; once the last one is created it tracks every
    // create, and a file created in a later hinted segment and unlinked in a skipped gap between
    // segments came back to life (found by our kill -9 crash layer).
    if (this.#hintedFnodes[this.#fnodeCursor] === fnode) {
      this.#fnodeCursor++;
    } else if (this.#isReadingHints()) {
      return new ErrFnodeNotTracked(op.seqNo, fnode);
    }
    this.#liveNodes.set(fnode, {
      links: new Set([path]),
      segments: extendSegments([], op),
    });
    this.#links.set(path, fnode);
    return undefined;
  }

  #applyLink(op: RecordedOp, fnode: Fnode, path: string): ErrFnodeNotTracked | undefined {
    const existing = this.#links.get(path);
    if (existing !== undefined) throw new ErrLinkExists(op.seqNo, path, existing);
    if (this.#properties.has(path)) throw new ErrPropertyExists(op.seqNo, path);
    const node = this.#liveNodes.get(fnode);
    if (node === undefined) return new ErrFnodeNotTracked(op.seqNo, fnode);
    node.links.add(path);
    this.#links.set(path, fnode);
    node.segments = extendSegments(node.segments, op);
    return undefined;
  }

  #applyUnlink(op: RecordedOp, fnode: Fnode, path: string): ErrFnodeNotTracked | undefined {
    const node = this.#liveNodes.get(fnode);
    if (node === undefined) return new ErrFnodeNotTracked(op.seqNo, fnode);
    if (!node.links.has(path)) throw new ErrNoSuchLink(op.seqNo, fnode, path);
    this.#links.delete(path);
    node.links.delete(path);
    node.segments = extendSegments(node.segments, op);
    // A file with no links left is gone: its segments leave future hints with it.
    if (node.links.size === 0) this.#liveNodes.delete(fnode);
    return undefined;
  }

  #applyWrite(op: RecordedOp, fnode: Fnode): ErrFnodeNotTracked | undefined {
    const node = this.#liveNodes.get(fnode);
    if (node === undefined) return new ErrFnodeNotTracked(op.seqNo, fnode);
    node.segments = extendSegments(node.segments, op);
    return undefined;
  }

  #applyProperty(op: RecordedOp, path: string, content: string): void {
    const existing = this.#links.get(path);
    if (existing !== undefined) throw new ErrLinkExists(op.seqNo, path, existing);
    // Overwriting a property is allowed (Gazette since 2023): RocksDB may rewrite IDENTITY after
    // an incomplete first open. But while we read inside hinted segments the op is older than
    // the hints, whose properties are the newest values: replaying it would roll one back (a
    // rewrite in a skipped gap is never read). Gazette applies it anyway.
    if (this.#isReadingHints()) return;
    this.#properties.set(path, content);
  }

  #applyChmod(op: RecordedOp, fnode: Fnode, mode: number): ErrFnodeNotTracked | undefined {
    const node = this.#liveNodes.get(fnode);
    if (node === undefined) return new ErrFnodeNotTracked(op.seqNo, fnode);
    node.mode = mode;
    node.segments = extendSegments(node.segments, op);
    return undefined;
  }

  /**
   * mkdir (`mode`) or rmdir (undefined). Both are idempotent (an mkdir of a recorded directory
   * sets its mode, an rmdir of an unknown one does nothing), so that replaying ops the hints
   * already reflect changes nothing. For the same reason as properties, they are not applied
   * while reading inside hinted segments: the hints' directories are newer than any op there.
   * Directory ops belong to no file, so hinted playback does not read them otherwise.
   */
  #applyDirectory(path: string, mode: number | undefined): void {
    if (this.#isReadingHints()) return;
    if (mode === undefined) this.#directories.delete(path);
    else this.#directories.set(path, mode);
  }

  /** True while ops come from hinted segments (older than the hints), not from after them. */
  #isReadingHints(): boolean {
    return (
      this.#fnodeCursor < this.#hintedFnodes.length || this.#segCursor < this.#hintedSegments.length
    );
  }

  /**
   * Hints from which a new FSM can rebuild this one's live files and properties. Live nodes are
   * in Fnode (= creation) order; segments in `log` leave their log empty (implied); properties
   * are sorted by path so that equal states give equal hints.
   */
  buildHints(log: string): FSMHints {
    const fnodes = [...this.#liveNodes.keys()].sort((a, b) => a - b);
    const hints: FSMHints = {
      log,
      liveNodes: fnodes.map((fnode) => ({
        fnode,
        segments: this.#liveNodes
          .get(fnode)!
          .segments.map((s) => ({ ...s, log: s.log === log ? '' : s.log })),
      })),
      properties: [...this.#properties]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([path, content]) => ({ path, content })),
    };
    if (this.#directories.size > 0) {
      hints.directories = [...this.#directories]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([path, mode]) => ({ path, mode }));
    }
    return hints;
  }
}

/**
 * Records `op` in a file's segments: only the last segment can grow, and only with an op of the
 * same author and log; otherwise the op opens a new segment. Returns the (possibly new) array.
 */
function extendSegments(segments: Segment[], op: RecordedOp): Segment[] {
  const last = segments[segments.length - 1];
  if (last !== undefined && last.author === op.author && last.log === op.log) {
    last.lastSeqNo = op.seqNo;
    last.lastOffset = op.lastOffset;
    return segments;
  }
  segments.push({
    author: op.author,
    firstSeqNo: op.seqNo,
    firstOffset: op.firstOffset,
    firstChecksum: op.checksum,
    lastSeqNo: op.seqNo,
    lastOffset: op.lastOffset,
    log: op.log,
  });
  return segments;
}
