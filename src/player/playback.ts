/**
 * One run of the Player's state machine (Gazette `playback.go` semantics, strict by default):
 * seek to hinted segments, apply ops to an FSM, re-enact the applied ones on staged files, and
 * finish at the write head or after a fenced hand-off no-op, then materialise the directory.
 */
import { FSM, FSMError, authorFence } from '../fsm.js';
import type { Journal, JournalResolver } from '../journal/journal.js';
import { JournalRangeMissingError } from '../journal/errors.js';
import { describeSegment } from '../segment.js';
import { crc32cUpdate } from '../wire/checksum.js';
import { decodeRecordedOp, encodeRecordedOp } from '../wire/codec.js';
import { encodeFrame, FRAME_HEADER_LENGTH } from '../wire/framing.js';
import { opKind, type Author, type FSMHints, type RecordedOp } from '../wire/types.js';
import {
  CorruptLogError,
  CorruptPayloadError,
  type CorruptionKind,
  PlaybackAbortedError,
  PlayerInvariantError,
  PossibleDataLossError,
} from './errors.js';
import type { HandoffMailbox } from './handoff.js';
import { LogReader, type LogItem, type PayloadShortfall } from './log-reader.js';
import { StagingArea, checkTargetDir } from './staging.js';
import type { TargetFs } from './target-fs.js';

/**
 * Why an op or byte run was not applied. The first three are normal in every log (older ops
 * before a hint's start, losing hand-offs, files the hints know are dead); the rest are skipped
 * only in lenient mode (strict mode fails with CorruptLogError instead).
 */
export type SkipReason =
  | 'stale-seqno'
  | 'not-hinted-author'
  | 'fnode-not-tracked'
  | 'garbage'
  | 'seqno-gap'
  | 'checksum-mismatch'
  | 'expected-hinted-fnode'
  | 'link-exists'
  | 'no-such-link'
  | 'property-exists';

/** Something abnormal that lenient playback stepped over (or an offset jump, in any mode). */
export interface PlaybackWarning {
  kind: SkipReason | 'offset-jump';
  log: string;
  offset: number;
  message: string;
}

export interface PlayStats {
  /** Ops the FSM applied (including hand-off no-ops). */
  opsApplied: number;
  /** Ops (and garbage runs) not applied, by reason. */
  opsSkipped: Partial<Record<SkipReason, number>>;
  /** Bytes received from journals (a payload verified in two passes counts twice). */
  bytesRead: number;
  /** Write payload bytes written to staged files. */
  payloadBytesWritten: number;
  /** Paths created in the target directory (hard links and property files). */
  files: number;
  /** Wall-clock duration of play(). */
  seconds: number;
}

export interface PlayResult {
  /** The hints' log (the primary log that was played). */
  log: string;
  /** The FSM as of the end of playback: build the next hints from it, or hand it to a Recorder. */
  fsm: FSM;
  /** The recovered directory. */
  dir: string;
  stats: PlayStats;
}

export interface PlaybackConfig {
  hints: FSMHints;
  dir: string;
  journals: JournalResolver;
  fs: TargetFs;
  lenient: boolean;
  signal: AbortSignal | undefined;
  mailbox: HandoffMailbox;
  onTailing: () => void;
  onProgress: ((p: { offset: number; log: string; readThrough: number }) => void) | undefined;
  onWarning: ((w: PlaybackWarning) => void) | undefined;
  maxBufferedPayload: number;
  readSize: number | undefined;
  maxOpenFiles: number | undefined;
}

type State =
  /** Reading history up to the write head observed at start. */
  | 'backfill'
  /** At the head once; following new ops as they are appended. */
  | 'tail'
  /** finishAtWriteHead() was requested: complete at the next observed head. */
  | 'exit-at-head'
  /** injectHandoff() was requested: append a no-op once at the head. */
  | 'inject-handoff-at-head'
  /** The no-op was appended: read until it shows up, applied (done) or not (retry). */
  | 'read-handoff-barrier'
  | 'complete';

export class Playback {
  readonly #c: PlaybackConfig;
  readonly #journals = new Map<string, Journal>();
  /** Write head of each involved log when playback started (a zero-byte barrier's end). */
  readonly #heads = new Map<string, number>();
  readonly #stats: PlayStats = {
    opsApplied: 0,
    opsSkipped: {},
    bytesRead: 0,
    payloadBytesWritten: 0,
    files: 0,
    seconds: 0,
  };
  #staging: StagingArea | undefined;
  #fsm!: FSM;
  #reader!: LogReader;
  #state: State = 'backfill';
  #handoffAuthor: Author | undefined;
  #readLog: string | undefined;
  /** Offset of the next op (or byte run) to read in #readLog. */
  #offset = 0;
  /** The last offset jump, until an op applies after it (see #corruption). */
  #jumped: { from: number; to: number } | undefined;
  /** Whether a frame was read yet; and whether the next one starts the history (see 'jump'). */
  #started = false;
  #resync = false;
  /** Head of #readLog to read through before "at the head" can be believed. */
  #readThrough = 0;

  constructor(config: PlaybackConfig) {
    this.#c = config;
  }

  async run(): Promise<PlayResult> {
    const started = performance.now();
    // Before the try: a refused directory must not be removed by the clean-up either.
    checkTargetDir(this.#c.dir);
    try {
      this.#throwIfAborted();
      this.#fsm = new FSM(this.#c.hints);
      this.#staging = await StagingArea.prepare(this.#c.fs, this.#c.dir, this.#c.maxOpenFiles);
      await this.#observeHeads();
      this.#reader = new LogReader({
        signal: this.#c.signal,
        readSize: this.#c.readSize,
        onRead: (log, through, bytes) => {
          this.#stats.bytesRead += bytes;
          this.#c.onProgress?.({ offset: through, log, readThrough: this.#readThrough });
        },
      });
      await this.#loop();
      if (this.#fsm.hasRemainingHints()) {
        throw new PlayerInvariantError('playback completed with unused hints');
      }
      this.#stats.files = await this.#staging.makeLive(this.#fsm);
      this.#stats.payloadBytesWritten = this.#staging.payloadBytesWritten;
      this.#stats.seconds = (performance.now() - started) / 1000;
      return { log: this.#c.hints.log, fsm: this.#fsm, dir: this.#c.dir, stats: this.#stats };
    } catch (err) {
      await this.#cleanupOnAbort();
      if (this.#c.signal?.aborted === true && !(err instanceof PlaybackAbortedError)) {
        throw new PlaybackAbortedError(this.#c.dir, this.#c.signal.reason ?? err);
      }
      throw err;
    }
  }

  /** Closes staged files and removes the whole target directory (nothing half-recovered stays). */
  async #cleanupOnAbort(): Promise<void> {
    await this.#staging?.closeAll();
    try {
      await this.#c.fs.rm(this.#c.dir, { recursive: true, force: true });
    } catch {
      // Best effort: the playback error is what the caller needs to see.
    }
  }

  #throwIfAborted(): void {
    const signal = this.#c.signal;
    if (signal?.aborted === true) throw new PlaybackAbortedError(this.#c.dir, signal.reason);
  }

  async #journal(name: string): Promise<Journal> {
    let journal = this.#journals.get(name);
    if (journal === undefined) {
      journal = await this.#c.journals(name);
      this.#journals.set(name, journal);
    }
    return journal;
  }

  /**
   * Zero-byte barrier appends to the hints' log and every log a hinted segment names: their ends
   * are the transactional write heads at start. Hinted segments must lie below them.
   */
  async #observeHeads(): Promise<void> {
    const logs = new Set<string>([this.#c.hints.log]);
    for (const segment of this.#fsm.hintedSegments) logs.add(segment.log);
    await Promise.all(
      [...logs].map(async (log) => {
        const journal = await this.#journal(log);
        const { end } = await journal.append(new Uint8Array(0), { signal: this.#c.signal });
        this.#heads.set(log, end);
      }),
    );
    for (const segment of this.#fsm.hintedSegments) {
      const head = this.#head(segment.log);
      if (segment.firstOffset >= head || segment.lastOffset > head) {
        throw new PossibleDataLossError(
          segment.log,
          `max write-head of ${segment.log} is ${head}, vs hinted segment ` +
            `${describeSegment(segment)}; possible data loss`,
        );
      }
    }
  }

  #head(log: string): number {
    const head = this.#heads.get(log);
    if (head === undefined) throw new PlayerInvariantError(`no write head observed for ${log}`);
    return head;
  }

  async #seek(log: string, offset: number, neededThrough = 0): Promise<void> {
    this.#reader.seek(await this.#journal(log), offset, neededThrough);
    this.#readLog = log;
    this.#offset = offset;
    this.#readThrough = this.#head(log);
  }

  /** Chooses where to read next: the next hinted segment, or the hints' log once they are used. */
  async #position(): Promise<void> {
    const segment = this.#fsm.nextHintedSegment;
    if (segment !== undefined) {
      if (this.#readLog !== segment.log || this.#offset < segment.firstOffset) {
        // Jump over log ranges no live file needs. A known end (hints a Player built) sizes the
        // reads so that none runs past the segment. The last segment of the hints' log is read
        // on through the write head observed at start, so all of that is needed.
        let neededThrough = segment.lastOffset;
        if (
          neededThrough === 0 &&
          segment.log === this.#c.hints.log &&
          this.#fsm.hintedSegments.length === 1
        ) {
          neededThrough = this.#head(segment.log);
        }
        await this.#seek(segment.log, segment.firstOffset, neededThrough);
      } else if (this.#offset >= this.#readThrough) {
        throw new PossibleDataLossError(
          this.#readLog,
          `offset ${this.#readLog}:${this.#offset} >= readThrough ${this.#readThrough}, but FSM ` +
            'has unused hints; possible data loss',
        );
      }
    } else if (this.#readLog === undefined) {
      // No hinted segments at all: the whole log is needed, through the head observed at start.
      await this.#seek(this.#c.hints.log, 0, this.#head(this.#c.hints.log));
    } else if (this.#readLog !== this.#c.hints.log) {
      // Hints validation requires the last segment to be in the hints' log.
      throw new PlayerInvariantError(
        `reading ${this.#readLog} after all hints were used, expected ${this.#c.hints.log}`,
      );
    }
  }

  async #loop(): Promise<void> {
    for (;;) {
      this.#throwIfAborted();
      await this.#position();

      if (this.#state === 'backfill' || this.#state === 'tail') {
        const request = this.#c.mailbox.take();
        if (request !== undefined) {
          if (request.kind === 'finish') {
            this.#state = 'exit-at-head';
          } else {
            this.#state = 'inject-handoff-at-head';
            this.#handoffAuthor = request.author;
          }
        }
      }
      // Wait for new bytes when tailing, or below the head observed at start (they exist); at
      // or past it, a non-blocking read tells "more arrived" from "this is the head".
      const waitBelow =
        this.#state === 'tail' || this.#state === 'read-handoff-barrier'
          ? Number.POSITIVE_INFINITY
          : this.#readThrough;
      const item = await this.#reader.next(waitBelow, this.#c.mailbox.interruptSignal());
      if (await this.#handle(item, waitBelow)) return;
    }
  }

  /** Acts on one reader item; true when playback is complete. */
  async #handle(item: LogItem, waitBelow: number): Promise<boolean> {
    const log = this.#readLog!;
    switch (item.type) {
      case 'interrupted':
        return false;
      case 'jump': {
        const segment = this.#fsm.nextHintedSegment;
        if (segment !== undefined && segment.lastOffset !== 0 && segment.lastOffset <= item.to) {
          throw new PossibleDataLossError(
            log,
            `offset jumps over hinted segment of ${log} (from: ${item.from}, to: ${item.to}, ` +
              `hinted range: ${segment.firstOffset}-${segment.lastOffset}); possible data loss`,
          );
        }
        this.#c.onWarning?.({
          kind: 'offset-jump',
          log,
          offset: item.from,
          message: `recovery log offset jump in ${log} from ${item.from} to ${item.to}`,
        });
        this.#offset = item.to;
        this.#jumped = { from: item.from, to: item.to };
        // Hints without live files need no op from before they were built, and every prune
        // kept what hints at least as old as these needed: the history continues at the first op
        // the journal still holds (beyond Gazette, whose FSM would expect SeqNo 1 forever).
        if (
          this.#fsm.hintedSegments.length === 0 &&
          !this.#fsm.hasRemainingHints() &&
          !this.#started
        ) {
          this.#resync = true;
        }
        return false;
      }
      case 'garbage':
        this.#skip(
          this.#corruption(
            'garbage',
            log,
            item.offset,
            `${item.length} bytes do not start with the frame magic word (garbage or a desynchronised stream)`,
          ),
        );
        this.#offset = item.offset + item.length;
        return false;
      case 'head':
        return this.#atHead(item, log);
      case 'oversized':
        throw new CorruptLogError(
          'oversized-frame',
          log,
          item.offset,
          `a frame header declares more than the ${item.buffered} bytes buffered without ` +
            'completing: no RecordedOp is that large',
        );
      case 'frame':
        return this.#frame(item, log, waitBelow);
    }
  }

  async #atHead(item: { offset: number; pending: number }, log: string): Promise<boolean> {
    if (item.pending > 0) {
      // Appends are atomic, so a whole log never ends inside a frame. Gazette takes fewer bytes
      // than a header as "not yet written", so lenient mode does too.
      if (!this.#c.lenient || item.pending >= FRAME_HEADER_LENGTH) {
        throw new CorruptLogError(
          'truncated-frame',
          log,
          item.offset,
          `the log ends ${item.pending} bytes into an incomplete frame`,
        );
      }
    }
    if (item.offset + item.pending < this.#readThrough || log !== this.#c.hints.log) {
      throw new PlayerInvariantError(
        `write head reported at ${log}:${item.offset + item.pending} (readThrough ` +
          `${this.#readThrough}, hints log ${this.#c.hints.log})`,
      );
    }
    this.#c.onTailing();
    switch (this.#state) {
      case 'backfill':
        this.#state = 'tail';
        return false;
      case 'exit-at-head':
        this.#state = 'complete';
        return true;
      case 'inject-handoff-at-head':
        await this.#injectHandoff();
        return false;
      default:
        throw new PlayerInvariantError(`write head reported in state ${this.#state}`);
    }
  }

  /**
   * Appends a no-op sequenced after everything read so far, fencing the log for the hand-off
   * author (a zombie Recorder's register-checked appends fail from then on), then reads on to it.
   */
  async #injectHandoff(): Promise<void> {
    const author = this.#handoffAuthor!;
    const noop: RecordedOp = {
      seqNo: this.#fsm.nextSeqNo,
      checksum: this.#fsm.nextChecksum,
      author,
      firstOffset: 0,
      lastOffset: 0,
      log: '',
    };
    const journal = await this.#journal(this.#c.hints.log);
    const { end } = await journal.append(encodeFrame(encodeRecordedOp(noop)), {
      unionRegisters: authorFence(author),
      signal: this.#c.signal,
    });
    this.#readThrough = end;
    this.#state = 'read-handoff-barrier';
  }

  async #frame(
    item: Extract<LogItem, { type: 'frame' }>,
    log: string,
    waitBelow: number,
  ): Promise<boolean> {
    const op = decodeFrameOp(item, log);
    if (this.#resync) {
      this.#resync = false;
      this.#fsm.startAt(op.seqNo, op.checksum);
    }
    this.#started = true;
    const outcome = this.#apply(op, item.payload);
    const kind = opKind(op);
    this.#jumped = undefined; // the op after the jump was fine (or lenient skipped it)
    if (outcome === 'applied') {
      this.#stats.opsApplied++;
      // Only creates, unlinks, writes and truncations touch staged files; links, properties,
      // modes and directories take effect at materialisation (from the FSM's state).
      if (kind === 'create') {
        await this.#staging!.create(op.seqNo);
      } else if (kind === 'unlink') {
        const fnode = op.unlink!.fnode;
        if (!this.#fsm.liveNodes.has(fnode)) await this.#staging!.remove(fnode);
      } else if (kind === 'truncate') {
        await this.#staging!.truncate(op.truncate!.fnode, op.truncate!.length);
      }
    } else {
      this.#skip(outcome);
    }
    // Raw payload bytes follow every frame holding a Write, whatever the op turned out to be.
    if (op.write) {
      if (outcome === 'applied' && kind === 'write') await this.#writePayload(op, waitBelow);
      else await this.#discardPayload(op, waitBelow);
    }
    this.#offset = op.lastOffset;

    if (
      this.#state === 'read-handoff-barrier' &&
      this.#handoffAuthor !== undefined &&
      op.author === this.#handoffAuthor
    ) {
      if (outcome === 'applied') {
        this.#state = 'complete';
        return true;
      }
      // Another writer took that SeqNo first: read on to the new head and try again.
      this.#state = 'inject-handoff-at-head';
    }
    return false;
  }

  /** Applies `op` to the FSM: 'applied', or why it was skipped (strict mode throws instead). */
  #apply(op: RecordedOp, payload: Uint8Array): 'applied' | SkipReason {
    const fsm = this.#fsm;
    const expectedSeqNo = fsm.nextSeqNo;
    try {
      fsm.apply(op, payload);
      return 'applied';
    } catch (err) {
      if (!(err instanceof FSMError)) throw err;
      const log = op.log;
      const at = op.firstOffset;
      switch (err.code) {
        case 'ErrFnodeNotTracked':
          return 'fnode-not-tracked';
        case 'ErrNotHintedAuthor':
          return 'not-hinted-author';
        case 'ErrWrongSeqNo':
          if (op.seqNo < expectedSeqNo) return 'stale-seqno';
          return this.#corruption(
            'seqno-gap',
            log,
            at,
            `op SeqNo ${op.seqNo} skips ahead of the expected SeqNo ${expectedSeqNo}: ops ` +
              `${expectedSeqNo}..${op.seqNo - 1} are missing`,
            err,
          );
        case 'ErrChecksumMismatch':
          return this.#corruption(
            'checksum-mismatch',
            log,
            at,
            `op SeqNo ${op.seqNo} does not continue the history read so far (${err.message}); ` +
              'the log forks or was altered',
            err,
          );
        case 'ErrExpectedHintedFnode':
          return this.#corruption('expected-hinted-fnode', log, at, err.message, err);
        case 'ErrLinkExists':
          return this.#corruption('link-exists', log, at, err.message, err);
        case 'ErrNoSuchLink':
          return this.#corruption('no-such-link', log, at, err.message, err);
        case 'ErrPropertyExists':
          return this.#corruption('property-exists', log, at, err.message, err);
      }
    }
  }

  /** Strict mode: the error. Lenient mode: a warning, and the reason to count the skip under. */
  #corruption<K extends CorruptionKind & SkipReason>(
    kind: K,
    log: string,
    offset: number,
    detail: string,
    cause?: unknown,
  ): K {
    if (!this.#c.lenient) {
      const error = new CorruptLogError(kind, log, offset, detail, { cause });
      // Right after an offset jump, the jump is the cause: the journal no longer holds the bytes
      // (pruned, or lost) and the hints needed them. Say which, rather than "a sequence gap".
      const jumped = this.#jumped;
      if (jumped !== undefined) {
        throw new JournalRangeMissingError(
          log,
          jumped.from,
          jumped.to,
          `that these hints need (the first op after the gap, at ${offset}: ${detail})`,
          error,
        );
      }
      throw error;
    }
    this.#c.onWarning?.({ kind, log, offset, message: `skipped (lenient): ${detail}` });
    return kind;
  }

  #skip(reason: SkipReason): void {
    this.#stats.opsSkipped[reason] = (this.#stats.opsSkipped[reason] ?? 0) + 1;
  }

  /**
   * Writes an applied Write's payload to its staged file, after checking it against the op's
   * CRC-32C: a payload that fails never reaches the file. Payloads up to maxBufferedPayload are
   * held in memory for that; larger ones are checked in a first pass, then re-read, written to the
   * staged file and checked again.
   */
  async #writePayload(op: RecordedOp, waitBelow: number): Promise<void> {
    const write = op.write!;
    const staging = this.#staging!;
    const expected = write.payloadCrc32c ?? 0;
    const verify = expected !== 0 && write.length > 0;
    let position = write.offset;
    const writeOut = async (bytes: Uint8Array): Promise<void> => {
      await staging.write(write.fnode, position, bytes);
      position += bytes.length;
    };
    if (!verify) {
      await this.#readPayload(op, waitBelow, writeOut);
      return;
    }
    if (write.length <= this.#c.maxBufferedPayload) {
      const pieces: Uint8Array[] = [];
      let crc = 0;
      await this.#readPayload(op, waitBelow, (bytes) => {
        crc = crc32cUpdate(crc, bytes);
        pieces.push(bytes);
      });
      this.#checkPayload(op, expected, crc);
      for (const piece of pieces) await writeOut(piece);
      return;
    }
    const journal = this.#reader.journal!;
    const start = this.#reader.offset;
    let crc = 0;
    await this.#readPayload(op, waitBelow, (bytes) => {
      crc = crc32cUpdate(crc, bytes);
    });
    this.#checkPayload(op, expected, crc);
    // The re-read is checked too: storage (or a remote journal) could return other bytes the
    // second time. Its bytes reach only the staged file, which an abort deletes, so a mismatch
    // here still keeps every wrong byte out of the recovered directory.
    this.#reader.seek(journal, start, op.lastOffset);
    let again = 0;
    await this.#readPayload(op, waitBelow, async (bytes) => {
      again = crc32cUpdate(again, bytes);
      await writeOut(bytes);
    });
    this.#checkPayload(op, expected, again);
  }

  #checkPayload(op: RecordedOp, expected: number, actual: number): void {
    if (actual !== expected >>> 0) {
      const write = op.write!;
      throw new CorruptPayloadError(
        op.log,
        op.firstOffset,
        write.fnode,
        write.length,
        expected,
        actual,
      );
    }
  }

  /** Reads past a payload nobody needs (the stream continues after it). */
  async #discardPayload(op: RecordedOp, waitBelow: number): Promise<void> {
    await this.#readPayload(op, waitBelow, () => undefined);
  }

  async #readPayload(
    op: RecordedOp,
    waitBelow: number,
    sink: (bytes: Uint8Array) => void | Promise<void>,
  ): Promise<void> {
    const length = op.write!.length;
    const shortfall: PayloadShortfall | undefined = await this.#reader.readRaw(
      length,
      waitBelow,
      sink,
    );
    if (shortfall === undefined) return;
    const why =
      shortfall.type === 'head'
        ? `the log ends at ${shortfall.offset}`
        : `the log jumps from ${shortfall.from} to ${shortfall.to}`;
    throw new CorruptLogError(
      'truncated-payload',
      op.log,
      op.firstOffset,
      `the ${length}-byte payload of Write op SeqNo ${op.seqNo} is cut short: ${why}`,
    );
  }
}

/**
 * The RecordedOp of a frame the log reader returned, with the offsets and log only the reader
 * knows; a frame that does not decode, or an op with negative fields, is corruption.
 */
export function decodeFrameOp(item: Extract<LogItem, { type: 'frame' }>, log: string): RecordedOp {
  let op: RecordedOp;
  try {
    // Gazette's names and properties may hold any bytes, kept exactly (byte-string.ts), in
    // strict mode too: a torn or damaged frame is found by the checksum chain, not by UTF-8.
    op = decodeRecordedOp(item.payload, { byteStrings: true });
  } catch (err) {
    throw new CorruptLogError(
      'undecodable-frame',
      log,
      item.offset,
      `the ${item.frame.length}-byte frame does not decode as a RecordedOp ` +
        `(${err instanceof Error ? err.message : String(err)})`,
      { cause: err },
    );
  }
  const write = op.write;
  if (write && (write.length < 0 || write.offset < 0)) {
    throw new CorruptLogError(
      'invalid-op',
      log,
      item.offset,
      `Write op SeqNo ${op.seqNo} has a negative length (${write.length}) or offset ` +
        `(${write.offset})`,
    );
  }
  if (op.truncate && op.truncate.length < 0) {
    throw new CorruptLogError(
      'invalid-op',
      log,
      item.offset,
      `Truncate op SeqNo ${op.seqNo} has a negative length (${op.truncate.length})`,
    );
  }
  // Offsets and log are known only to the reader; serialized values are ignored.
  op.firstOffset = item.offset;
  op.lastOffset = item.offset + item.frame.length + (write?.length ?? 0);
  op.log = log;
  return op;
}
