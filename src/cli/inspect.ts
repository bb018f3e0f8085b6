import { createReadStream } from 'node:fs';
import { addAbortSignal, type Readable } from 'node:stream';
import { errorMessage, RecoveryLogError } from '../errors.js';
import { hex32 } from '../format.js';
import { displayByteString } from '../wire/byte-string.js';
import { decodeRecordedOp } from '../wire/codec.js';
import { UnexpectedEOFError } from '../wire/errors.js';
import { FrameDecoder } from '../wire/framing.js';
import { opKind, type OpKind, type RecordedOp } from '../wire/types.js';
import { parseFlags, UsageError, type Verb } from './args.js';
import { asFileError } from './file-errors.js';
import { interruption, quietContext } from './signals.js';

/** The stream being inspected cannot be read past `offset` (truncated or undecodable). */
export class UnreadableLogError extends RecoveryLogError {
  readonly offset: number;
  constructor(offset: number, cause: unknown) {
    const detail = errorMessage(cause);
    // An UnexpectedEOFError already says where and why.
    const message =
      cause instanceof UnexpectedEOFError
        ? detail
        : `cannot read the log at offset ${offset}: ${detail}`;
    super(message, { cause });
    this.offset = offset;
  }
}

/** One inspected item: a framed op (with its Write payload, if any) or a run of garbage. */
export interface InspectedItem {
  offset: number;
  /** Exclusive end, including a Write's payload. */
  end: number;
  op: OpKind | 'garbage';
  record?: RecordedOp;
}

/**
 * The JSON form of one item; keys are stable (snake_case, like Gazette's JSON). One branch per op
 * kind, each copying that kind's fields (declared boilerplate).
 */
function toJson(item: InspectedItem): Record<string, string | number> {
  const line: Record<string, string | number> = {
    offset: item.offset,
    end: item.end,
    op: item.op,
  };
  const op = item.record;
  if (op === undefined) return line;
  line.seq_no = op.seqNo;
  line.checksum = op.checksum;
  line.author = op.author;
  if (item.op === 'create' && op.create) {
    line.path = op.create.path;
  } else if (item.op === 'link' || item.op === 'unlink') {
    const link = op[item.op];
    if (link) {
      line.fnode = link.fnode;
      line.path = link.path;
    }
  } else if (item.op === 'write' && op.write) {
    line.fnode = op.write.fnode;
    line.write_offset = op.write.offset;
    line.length = op.write.length;
    if (op.write.payloadCrc32c !== undefined) line.payload_crc32c = op.write.payloadCrc32c;
  } else if (item.op === 'property' && op.property) {
    line.path = op.property.path;
    line.content = op.property.content;
  } else if (item.op === 'chmod' && op.chmod) {
    line.fnode = op.chmod.fnode;
    line.mode = op.chmod.mode;
  } else if (item.op === 'truncate' && op.truncate) {
    line.fnode = op.truncate.fnode;
    line.length = op.truncate.length;
  } else if (item.op === 'mkdir' && op.mkdir) {
    line.path = op.mkdir.path;
    line.mode = op.mkdir.mode;
  } else if (item.op === 'rmdir' && op.rmdir) {
    line.path = op.rmdir.path;
  }
  return line;
}

/** The human form: `offset..end kind seq=… checksum=0x… author=… field=value …`. */
function toHuman(item: InspectedItem): string {
  const json = toJson(item);
  if (item.op === 'garbage') {
    return `${item.offset}..${item.end} garbage (${item.end - item.offset} bytes)`;
  }
  const parts = [
    `${item.offset}..${item.end}`,
    item.op,
    `seq=${json.seq_no}`,
    `checksum=${hex32(Number(json.checksum))}`,
    `author=${json.author}`,
  ];
  const keys = ['fnode', 'path', 'write_offset', 'length', 'payload_crc32c', 'mode', 'content'];
  for (const key of keys) {
    const value = json[key];
    if (value === undefined) continue;
    if (key === 'payload_crc32c') parts.push(`${key}=${hex32(Number(value))}`);
    else if (key === 'mode') parts.push(`mode=0o${Number(value).toString(8).padStart(3, '0')}`);
    else parts.push(`${key}=${typeof value === 'string' ? displayByteString(value) : value}`);
  }
  return parts.join(' ');
}

/**
 * Walks a raw Gazette-format byte stream (frames, Write payloads, garbage) and yields one item
 * per frame or garbage run. Write payloads are skipped piecewise, never held whole. Throws
 * UnreadableLogError naming the offset when the stream is truncated or an op cannot be decoded;
 * items before that point have already been yielded.
 */
export async function* inspectItems(
  chunks: AsyncIterable<Uint8Array>,
  startOffset = 0,
): AsyncGenerator<InspectedItem> {
  const decoder = new FrameDecoder(startOffset);
  /** A decoded Write whose payload is still being skipped. */
  let write: { item: InspectedItem; remaining: number } | undefined;

  // Yields every item the buffered bytes allow, stopping at "need more". A generator, so that
  // items before a failure reach the caller before the failure does.
  function* drain(): Generator<InspectedItem> {
    for (;;) {
      if (write !== undefined) {
        const part = decoder.takeRawUpTo(write.remaining);
        if (part === undefined) return;
        write.remaining -= part.length;
        if (write.remaining > 0) continue;
        const done = write.item;
        write = undefined;
        yield done;
      }
      const event = decoder.next();
      if (event === undefined || event.type === 'eof') return;
      if (event.type === 'garbage') {
        yield { offset: event.offset, end: event.offset + event.bytes.length, op: 'garbage' };
        continue;
      }
      const record = decodeOpAt(event.payload, event.offset);
      const frameEnd = event.offset + event.frame.length;
      const kind = opKind(record);
      if (kind !== 'write' || record.write === undefined) {
        yield { offset: event.offset, end: frameEnd, op: kind, record };
        continue;
      }
      const length = record.write.length;
      if (length < 0) {
        throw new UnreadableLogError(
          event.offset,
          `Write op declares a negative payload length (${length})`,
        );
      }
      write = {
        item: { offset: event.offset, end: frameEnd + length, op: kind, record },
        remaining: length,
      };
    }
  }

  function* guardedDrain(): Generator<InspectedItem> {
    try {
      yield* drain();
    } catch (err) {
      if (err instanceof UnreadableLogError) throw err;
      // The unreadable item starts at the pending Write, or where the decoder stopped.
      throw new UnreadableLogError(write?.item.offset ?? decoder.offset, err);
    }
  }

  for await (const chunk of chunks) {
    decoder.push(chunk);
    yield* guardedDrain();
  }
  decoder.end();
  yield* guardedDrain();
}

function decodeOpAt(payload: Uint8Array, offset: number): RecordedOp {
  try {
    return decodeRecordedOp(payload, { byteStrings: true });
  } catch (err) {
    throw new UnreadableLogError(offset, err);
  }
}

/**
 * Prints one line per frame or garbage run of a raw byte stream: JSON objects (keys offset,
 * end, op, seq_no, checksum, author and per-op path, fnode, write_offset, length,
 * payload_crc32c, content) or a human-readable form. Everything readable is printed before an
 * UnreadableLogError is thrown. Reusable over any byte source, e.g. a journal's read stream.
 */
export async function inspectStream(
  chunks: AsyncIterable<Uint8Array>,
  out: (line: string) => void,
  json: boolean,
  options?: { startOffset?: number },
): Promise<void> {
  for await (const item of inspectItems(chunks, options?.startOffset ?? 0)) {
    out(json ? JSON.stringify(toJson(item)) : toHuman(item));
  }
}

const FLAGS = {
  raw: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const inspectVerb: Verb = {
  summary: 'print the ops of a recovery log, one line per frame',
  usage: [
    'Usage: recoverylog inspect --raw FILE [--json]',
    '',
    'Prints one line per frame of a raw Gazette-format byte stream (as a Gazette fragment or',
    '`recoverylog export` holds it): offsets, op kind, seq_no, checksum, author and the op fields.',
    'Runs of bytes that are not frames are printed as "garbage".',
    '',
    'Options:',
    '  --raw FILE   the byte stream to read ("-" reads standard input)',
    '  --json       one JSON object per line, with keys offset, end (exclusive, including a',
    '               Write payload), op (create|link|unlink|write|property|chmod|truncate|',
    '               mkdir|rmdir|noop|garbage), seq_no, checksum, author, and where they apply',
    '               path, fnode, write_offset, length, payload_crc32c, mode, content',
    '',
    'Paths and contents that are not UTF-8 (Gazette writers may put any bytes there) show',
    'each such byte as \\xNN in the text form and as \\udcNN in --json.',
    '',
    'Exit status: 0 when the whole stream was read; 1 when it is truncated or holds an',
    'undecodable op (everything before it is printed, the error names the offset); 2 on a',
    'usage error; 130/143 when interrupted by SIGINT/SIGTERM.',
  ].join('\n'),
  async run(argv: string[], context = quietContext()): Promise<number> {
    const flags = parseFlags(argv, FLAGS);
    if (flags.raw === undefined) throw new UsageError('inspect needs --raw FILE');
    const { signal } = context;
    const source: Readable = flags.raw === '-' ? process.stdin : createReadStream(flags.raw);
    // Aborting destroys the stream, so a read waiting on a quiet pipe ends too.
    addAbortSignal(signal, source);
    try {
      await inspectStream(source, (line) => process.stdout.write(`${line}\n`), flags.json);
    } catch (err) {
      if (signal.aborted) throw interruption(signal);
      throw asFileError(err, 'read', flags.raw === '-' ? 'standard input' : flags.raw, '--raw');
    }
    return 0;
  },
};
