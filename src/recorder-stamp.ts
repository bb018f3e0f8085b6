/**
 * Sequencing: each op is stamped from the FSM (SeqNo, checksum, author), encoded, applied to the
 * FSM, framed (wire/framing.ts owns the frame layout) and queued for the journal. A record
 * call's ops always travel together, in one append.
 */
import { COMBINE_PAYS_FROM, crc32cCombine, noteCrc32c } from './crc32c.js';
import type { FSM } from './fsm.js';
import type { AppendOptions } from './journal/journal.js';
import { FsmRejectedOpError } from './recorder-errors.js';
import type { OpPart } from './recorder-ops.js';
import { NO_CHECK, type AppendQueue } from './recorder-queue.js';
import type { OpBody } from './recorder-tree.js';
import { crc32c } from './wire/checksum.js';
import { encodeRecordedOp } from './wire/codec.js';
import { encodeFrames } from './wire/framing.js';
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
    const encodedOps = ops.map((body) => this.stamp(body));
    const after: (Uint8Array | undefined)[] | undefined = payload === undefined ? undefined : [];
    if (after !== undefined) after[encodedOps.length - 1] = payload;
    this.queue.enqueue(encodeFrames(encodedOps, after), options ?? this.recordOptions);
  }

  /** As sequence, for a unit in which several ops carry data (each right after its frame). */
  sequenceParts(parts: readonly OpPart[]): void {
    const encodedOps = parts.map(({ body }) => this.stamp(body));
    const payloads = parts.map(({ payload }) => payload);
    this.queue.enqueue(encodeFrames(encodedOps, payloads), this.recordOptions);
  }

  /**
   * Sequences a Write of `data` (checksum `write.payloadCrc32c`); handed over, `data` itself is
   * queued instead of a copy (see RecordWriteOptions).
   */
  sequenceWrite(write: NonNullable<OpBody['write']>, data: Uint8Array, handOver: boolean): void {
    const encoded = this.stamp({ write });
    const frames = frameWrite(encoded, data, write.payloadCrc32c ?? 0, handOver);
    this.queue.enqueue(frames, this.recordOptions);
  }

  /** Stamps one op from the FSM, encodes it and applies it; returns its encoding. */
  stamp(body: OpBody): Uint8Array {
    return stampOp(
      { fsm: this.fsm, author: this.author, log: this.log, writeHead: this.queue.writeHead },
      body,
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

/** Stamps one op from the FSM, encodes it and applies it; returns its encoding. */
export function stampOp(ctx: StampContext, body: OpBody): Uint8Array {
  const op: RecordedOp = {
    seqNo: ctx.fsm.nextSeqNo,
    checksum: ctx.fsm.nextChecksum,
    author: ctx.author,
    ...body,
    firstOffset: 0,
    lastOffset: 0,
    log: '',
  };
  const encoded = encodeRecordedOp(op);
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

/**
 * The frames of a stamped Write op (`encodedOp`) and its `data`, whose checksum is
 * `payloadCrc32c`, so that the journal never reads a large payload again to checksum it. Handed
 * over (`handOver`), the caller's buffer itself travels right after the frame, its checksum
 * noted. Copied, a large payload's checksum is combined with the frame's for the framed copy;
 * a small one is just copied (combining would cost more than reading it).
 */
export function frameWrite(
  encodedOp: Uint8Array,
  data: Uint8Array,
  payloadCrc32c: number,
  handOver: boolean,
): Uint8Array | Uint8Array[] {
  if (handOver && data.length > 0) {
    noteCrc32c(data, payloadCrc32c);
    return [encodeFrames([encodedOp]), data];
  }
  const framed = encodeFrames([encodedOp], [data]);
  if (data.length >= COMBINE_PAYS_FROM) {
    const head = crc32c(framed.subarray(0, framed.length - data.length));
    noteCrc32c(framed, crc32cCombine(head, payloadCrc32c, data.length));
  }
  return framed;
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
