/** Turning a frame the log reader returned into a RecordedOp the Player can trust the shape of. */
import { decodeRecordedOp } from '../wire/codec.js';
import type { RecordedOp } from '../wire/types.js';
import { CorruptLogError } from './errors.js';
import type { LogItem } from './log-reader.js';

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
