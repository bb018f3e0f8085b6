/**
 * Sequencing: each op is stamped from the FSM (SeqNo, checksum, author), encoded, applied to the
 * FSM, framed (wire/framing.ts owns the frame layout) and queued for the journal. A record
 * call's ops always travel together, in one append.
 */
import type { FSM } from './fsm.js';
import type { AppendOptions } from './journal/journal.js';
import { FsmRejectedOpError } from './recorder-errors.js';
import type { OpPart } from './recorder-ops.js';
import { NO_CHECK, type AppendQueue } from './recorder-queue.js';
import type { OpBody } from './recorder-tree.js';
import { encodeRecordedOp } from './wire/codec.js';
import { encodeRecordedOpView } from './wire/op-encode.js';
import type { Author, RecordedOp } from './wire/types.js';

/** Stamps, frames and queues the ops of record calls; fails the Recorder when one throws. */
export class OpSequencer {
  /**
   * Options of every append after open(): the fence check (none until open() placed the fence,
   * or when disabled). One frozen object, so that queued ops can tell they may share an append.
   */
  recordOptions: AppendOptions = NO_CHECK;

  constructor(
    readonly fsm: FSM,
    readonly author: Author,
    readonly log: string,
    readonly queue: AppendQueue,
  ) {}

  /**
   * Runs one record call: refused while the Recorder has failed, and any error puts it in its
   * failed state (it was told of a change it cannot record).
   */
  guard<T>(record: () => T): T {
    if (this.queue.failed) throw this.queue.failed;
    try {
      return record();
    } catch (err) {
      this.queue.fail(err);
      throw err;
    }
  }

  /**
   * Stamps each op from the FSM, encodes it, applies it, and queues all frames (then `payload`,
   * a Write's data) as one unit: they always travel in the same journal append. The payload is
   * copied: the caller may reuse its buffer.
   */
  sequence(ops: readonly OpBody[], payload?: Uint8Array, options?: AppendOptions): void {
    const appendOptions = options ?? this.recordOptions;
    if (ops.length === 1 && payload === undefined) {
      // The common single op: its encoding is framed before anything else is encoded.
      this.queue.enqueueFrames([this.stamp(ops[0]!, true)], undefined, appendOptions);
      return;
    }
    const encodedOps = ops.map((body) => this.stamp(body));
    const after: (Uint8Array | undefined)[] | undefined = payload === undefined ? undefined : [];
    if (after !== undefined) after[encodedOps.length - 1] = payload;
    this.queue.enqueueFrames(encodedOps, after, appendOptions);
  }

  /** As sequence, for a unit in which several ops carry data (each right after its frame). */
  sequenceParts(parts: readonly OpPart[]): void {
    const encodedOps = parts.map(({ body }) => this.stamp(body));
    const payloads = parts.map(({ payload }) => payload);
    this.queue.enqueueFrames(encodedOps, payloads, this.recordOptions);
  }

  /**
   * Sequences a Write of `data` (checksum `write.payloadCrc32c`); handed over, `data` itself is
   * queued instead of a copy (see RecordWriteOptions).
   */
  sequenceWrite(write: NonNullable<OpBody['write']>, data: Uint8Array, handOver: boolean): void {
    const encoded = this.stamp({ write }, true);
    this.queue.enqueueWrite(encoded, data, write.payloadCrc32c ?? 0, handOver, this.recordOptions);
  }

  /**
   * Stamps one op from the FSM, encodes it and applies it; returns its encoding (`lent`: a view
   * of the encoder's scratch buffer, to be framed before the next encode).
   */
  stamp(body: OpBody, lent = false): Uint8Array {
    return stampOp(
      { fsm: this.fsm, author: this.author, log: this.log, writeHead: this.queue.writeHead },
      body,
      lent,
    );
  }
}

/** Where stamped ops go: the FSM they continue, who writes them, and where they will land. */
export interface StampContext {
  readonly fsm: FSM;
  readonly author: Author;
  readonly log: string;
  /** A lower bound of the offset where the append carrying the op lands. */
  readonly writeHead: number;
}

/**
 * Stamps one op from the FSM, encodes it and applies it; returns its encoding (with `lent`, a
 * view of the encoder's scratch buffer, valid until the next encode).
 */
export function stampOp(ctx: StampContext, body: OpBody, lent = false): Uint8Array {
  const op: RecordedOp = {
    seqNo: ctx.fsm.nextSeqNo,
    checksum: ctx.fsm.nextChecksum,
    author: ctx.author,
    ...body,
    firstOffset: 0,
    lastOffset: 0,
    log: '',
  };
  const encoded = lent ? encodeRecordedOpView(op) : encodeRecordedOp(op);
  // Meta-fields are not written; the FSM uses them for segments. The write head is a lower
  // bound of where this append lands.
  op.firstOffset = ctx.writeHead;
  op.log = ctx.log;
  try {
    ctx.fsm.apply(op, encoded);
  } catch (err) {
    throw new FsmRejectedOpError(describeOp(op), ctx.log, err);
  }
  return encoded;
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
