/**
 * One run of the Player's state machine (Gazette `playback.go` semantics, strict by default):
 * seek to hinted segments, apply ops to an FSM, re-enact the applied ones on staged files, and
 * finish at the write head or after a fenced hand-off no-op, then materialise the directory.
 *
 * Decoding frames, applying ops to the FSM, reading payloads, hinted segments, write heads and
 * the hand-off no-op live in their own modules. #writePayload stays here although the module is
 * a little over 400 lines: the seeded-bug suite (test/crash/simulated/seeded-bugs.ts) patches
 * its text in this file.
 */
import { FSM } from '../fsm.js';
import { JournalRangeMissingError } from '../journal/errors.js';
import { crc32cUpdate } from '../crc32c.js';
import { FRAME_HEADER_LENGTH } from '../wire/framing.js';
import { opKind, type Author, type RecordedOp } from '../wire/types.js';
import { applyOp } from './apply-op.js';
import {
  CorruptLogError,
  type CorruptionKind,
  PlaybackAbortedError,
  PlayerInvariantError,
  PossibleDataLossError,
} from './errors.js';
import { decodeFrameOp } from './frame-op.js';
import { appendHandoffNoop } from './handoff-noop.js';
import { checkJumpSparesSegment, segmentNeededThrough } from './hinted-segments.js';
import { LogReader, type LogItem } from './log-reader.js';
import { checkPayloadCrc, readPayload } from './payload.js';
import { PlaybackLogs } from './playback-logs.js';
import type {
  PlaybackConfig,
  PlaybackState,
  PlayResult,
  PlayStats,
  SkipReason,
} from './playback-types.js';
import { StagingArea, checkTargetDir } from './staging.js';

// This module's exports before it was split, kept at this path for its importers.
export { decodeFrameOp } from './frame-op.js';
export type {
  PlaybackConfig,
  PlaybackWarning,
  PlayResult,
  PlayStats,
  SkipReason,
} from './playback-types.js';

export class Playback {
  readonly #c: PlaybackConfig;
  readonly #logs: PlaybackLogs;
  readonly #stats: PlayStats = {
    opsApplied: 0,
    opsSkipped: {},
    bytesRead: 0,
    payloadBytesWritten: 0,
    files: 0,
    seconds: 0,
  };
  #staging: StagingArea | undefined;
  /** Where a payload read in several pieces is gathered while checked (see #writePayload). */
  #gathered: Uint8Array | undefined;
  #fsm!: FSM;
  #reader!: LogReader;
  #state: PlaybackState = 'backfill';
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
    this.#logs = new PlaybackLogs(config.journals);
  }

  async run(): Promise<PlayResult> {
    const started = performance.now();
    // Before the try: a refused directory must not be removed by the clean-up either.
    checkTargetDir(this.#c.dir);
    try {
      this.#throwIfAborted();
      this.#fsm = new FSM(this.#c.hints);
      this.#staging = await StagingArea.prepare(this.#c.fs, this.#c.dir, this.#c.maxOpenFiles);
      await this.#logs.observeHeads(this.#c.hints.log, this.#fsm.hintedSegments, this.#c.signal);
      this.#reader = new LogReader({
        signal: this.#c.signal,
        readSize: this.#c.readSize,
        reuseBuffers: true,
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

  async #seek(log: string, offset: number, neededThrough = 0): Promise<void> {
    this.#reader.seek(await this.#logs.journal(log), offset, neededThrough);
    this.#readLog = log;
    this.#offset = offset;
    this.#readThrough = this.#logs.head(log);
  }

  /** Chooses where to read next: the next hinted segment, or the hints' log once they are used. */
  async #position(): Promise<void> {
    const segment = this.#fsm.nextHintedSegment;
    if (segment !== undefined) {
      if (this.#readLog !== segment.log || this.#offset < segment.firstOffset) {
        // Jump over log ranges no live file needs.
        const neededThrough = segmentNeededThrough(this.#fsm, segment, this.#c.hints.log, (l) =>
          this.#logs.head(l),
        );
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
      await this.#seek(this.#c.hints.log, 0, this.#logs.head(this.#c.hints.log));
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
        checkJumpSparesSegment(this.#fsm.nextHintedSegment, log, item.from, item.to);
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
    const journal = await this.#logs.journal(this.#c.hints.log);
    const author = this.#handoffAuthor!;
    this.#readThrough = await appendHandoffNoop(journal, this.#fsm, author, this.#c.signal);
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
    const outcome = applyOp(this.#fsm, op, item.payload, (...args) => this.#corruption(...args));
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
      // The reader reuses its buffers, so a piece lives only until its next read: a payload that
      // did not arrive in one piece is gathered in a buffer of our own while it is checked.
      let whole: Uint8Array | undefined;
      let gathered = 0;
      let crc = 0;
      await this.#readPayload(op, waitBelow, (bytes) => {
        crc = crc32cUpdate(crc, bytes);
        if (bytes.length === write.length) whole = bytes;
        else gathered = this.#gather(bytes, gathered, write.length);
      });
      const pieces = [whole ?? this.#gathered!.subarray(0, gathered)];
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

  /** Appends `bytes` at `at` of the gathering buffer (grown to `total`); returns the new fill. */
  #gather(bytes: Uint8Array, at: number, total: number): number {
    if (this.#gathered === undefined || this.#gathered.length < total) {
      this.#gathered = new Uint8Array(Math.max(total, 2 * (this.#gathered?.length ?? 0)));
    }
    this.#gathered.set(bytes, at);
    return at + bytes.length;
  }

  #checkPayload(op: RecordedOp, expected: number, actual: number): void {
    checkPayloadCrc(op, expected, actual);
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
    await readPayload(this.#reader, op, waitBelow, sink);
  }
}
