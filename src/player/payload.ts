/**
 * The raw payload bytes that follow a Write's frame: reading them through (cut short is
 * corruption) and checking them against the op's CRC-32C.
 */
import type { RecordedOp } from '../wire/types.js';
import { CorruptLogError, CorruptPayloadError } from './errors.js';
import type { LogReader, PayloadShortfall } from './log-reader.js';

/** Reads the payload of Write `op` into `sink`, failing if the log ends or jumps inside it. */
export async function readPayload(
  reader: LogReader,
  op: RecordedOp,
  waitBelow: number,
  sink: (bytes: Uint8Array) => void | Promise<void>,
): Promise<void> {
  const length = op.write!.length;
  const shortfall: PayloadShortfall | undefined = await reader.readRaw(length, waitBelow, sink);
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

/** Throws CorruptPayloadError unless `actual` is the payload CRC-32C `expected` of Write `op`. */
export function checkPayloadCrc(op: RecordedOp, expected: number, actual: number): void {
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
