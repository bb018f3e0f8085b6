import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RecoveryLogError } from '../../src/errors.js';
import {
  decodeFSMHints,
  decodeRecordedOp,
  encodeFSMHints,
  encodeRecordedOp,
} from '../../src/wire/codec.js';
import { Int64RangeError, ProtoDecodeError, UnexpectedEOFError } from '../../src/wire/errors.js';
import { encodeFrame, FRAME_MAGIC, FrameDecoder } from '../../src/wire/framing.js';
import type { FSMHints, RecordedOp } from '../../src/wire/types.js';

// ------------------------------------------------------------------------------------------------
// Arbitraries

const int64 = fc.oneof(
  fc.constant(0),
  fc.integer({ min: -1000, max: 100_000 }),
  fc.maxSafeInteger(),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, -1),
);
const uint32 = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff }));
const text = fc.oneof(
  fc.constant(''),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
);

const plain = { noNullPrototype: true } as const;
const link = fc.record({ fnode: int64, path: text }, plain);
const property = fc.record({ path: text, content: text }, plain);
const write = fc.record(
  {
    fnode: int64,
    offset: int64,
    length: int64,
    // 0 is "absent" on the wire, so a round-trip only preserves non-zero values.
    payloadCrc32c: fc.integer({ min: 1, max: 0xffffffff }),
  },
  { requiredKeys: ['fnode', 'offset', 'length'], noNullPrototype: true },
);

const recordedOp: fc.Arbitrary<RecordedOp> = fc.record(
  {
    seqNo: int64,
    checksum: uint32,
    author: uint32,
    create: fc.record({ path: text }, plain),
    link,
    unlink: link,
    write,
    property,
    firstOffset: int64,
    lastOffset: int64,
    log: text,
  },
  {
    requiredKeys: ['seqNo', 'checksum', 'author', 'firstOffset', 'lastOffset', 'log'],
    noNullPrototype: true,
  },
);

const segment = fc.record(
  {
    author: uint32,
    firstSeqNo: int64,
    firstOffset: int64,
    firstChecksum: uint32,
    lastSeqNo: int64,
    lastOffset: int64,
    log: text,
  },
  plain,
);
const fsmHints: fc.Arbitrary<FSMHints> = fc.record(
  {
    log: text,
    liveNodes: fc.array(
      fc.record({ fnode: int64, segments: fc.array(segment, { maxLength: 3 }) }, plain),
      {
        maxLength: 3,
      },
    ),
    properties: fc.array(property, { maxLength: 3 }),
  },
  plain,
);

/** Valid encodings with a few bytes overwritten, truncated or extended: near-miss inputs. */
const mangledOpBytes = fc
  .tuple(
    recordedOp.map(encodeRecordedOp),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    fc.nat(),
    fc.uint8Array({ maxLength: 6 }),
  )
  .map(([bytes, edits, cut, tail]) => {
    const out = Uint8Array.from(bytes);
    for (const [at, value] of edits) if (out.length > 0) out[at % out.length] = value;
    const kept = out.subarray(0, out.length === 0 ? 0 : cut % (out.length + 1));
    return Uint8Array.from([...kept, ...tail]);
  });

const anyOpBytes = fc.oneof(fc.uint8Array({ maxLength: 40 }), mangledOpBytes);

/** A byte stream of frames, garbage, stray magic words and headers with lying lengths. */
const stream = fc
  .array(
    fc.oneof(
      { arbitrary: fc.uint8Array({ maxLength: 12 }).map(encodeFrame), weight: 6 },
      fc.uint8Array({ minLength: 1, maxLength: 20 }),
      fc.constant(FRAME_MAGIC),
      fc.integer({ min: 0, max: 40 }).map((n) => Uint8Array.from([...FRAME_MAGIC, n, 0, 0, 0])),
      fc.constant(Uint8Array.of(0x0a)),
    ),
    { maxLength: 12 },
  )
  .map((parts) => Uint8Array.from(parts.flatMap((p) => [...p])));

/** Cuts `bytes` into chunks at the given (arbitrary) positions. */
function chunked(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(from, point));
    from = point;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

interface Transcript {
  /** One entry per event: kind, offset, and the bytes it covered. */
  events: Array<{ kind: string; offset: number; bytes: number[] }>;
  error?: { code: string; offset: number; expected: number; present: number };
  finalOffset: number;
}

/**
 * Feeds chunks to a FrameDecoder and records everything it reports. After a frame whose
 * payload starts with byte b, the next b % 5 raw bytes are taken with takeRaw (as a Write's
 * payload would be), so takeRaw is exercised across chunk boundaries too.
 */
function transcribe(chunks: Uint8Array[], windowSize: number): Transcript {
  const decoder = new FrameDecoder(7, { windowSize });
  const transcript: Transcript = { events: [], finalOffset: 7 };
  let rawPending = 0;
  let done = false;
  const drain = (): void => {
    while (!done) {
      if (rawPending > 0) {
        const offset = decoder.offset;
        const raw = decoder.takeRaw(rawPending);
        if (raw === undefined) return;
        transcript.events.push({ kind: 'raw', offset, bytes: [...raw] });
        rawPending = 0;
        continue;
      }
      const event = decoder.next();
      if (event === undefined) return;
      if (event.type === 'eof') {
        transcript.events.push({ kind: 'eof', offset: event.offset, bytes: [] });
        done = true;
      } else if (event.type === 'garbage') {
        transcript.events.push({ kind: 'garbage', offset: event.offset, bytes: [...event.bytes] });
      } else {
        transcript.events.push({ kind: 'frame', offset: event.offset, bytes: [...event.frame] });
        rawPending = event.payload.length > 0 ? event.payload[0] % 5 : 0;
      }
    }
  };
  try {
    for (const chunk of chunks) {
      decoder.push(chunk);
      drain();
    }
    decoder.end();
    drain();
  } catch (err) {
    if (!(err instanceof UnexpectedEOFError)) throw err;
    transcript.error = {
      code: err.code,
      offset: err.offset,
      expected: err.expected,
      present: err.present,
    };
  }
  transcript.finalOffset = decoder.offset;
  return transcript;
}

// ------------------------------------------------------------------------------------------------
// Properties

describe('wire properties', () => {
  it('RecordedOp: decode(encode(op)) equals op, and re-encoding is byte-identical', () => {
    fc.assert(
      fc.property(recordedOp, (op) => {
        const bytes = encodeRecordedOp(op);
        const decoded = decodeRecordedOp(bytes);
        assert.deepEqual(decoded, op);
        assert.deepEqual(encodeRecordedOp(decoded), bytes);
      }),
    );
  });

  it('FSMHints: decode(encode(hints)) equals hints, and re-encoding is byte-identical', () => {
    fc.assert(
      fc.property(fsmHints, (hints) => {
        const bytes = encodeFSMHints(hints);
        const decoded = decodeFSMHints(bytes);
        assert.deepEqual(decoded, hints);
        assert.deepEqual(encodeFSMHints(decoded), bytes);
      }),
    );
  });

  it('decoding arbitrary bytes throws nothing but our typed errors', () => {
    fc.assert(
      fc.property(anyOpBytes, (bytes) => {
        for (const decode of [decodeRecordedOp, decodeFSMHints]) {
          try {
            decode(bytes);
          } catch (err) {
            assert.ok(
              err instanceof ProtoDecodeError || err instanceof Int64RangeError,
              `unexpected ${String(err)}`,
            );
            assert.ok(err instanceof RecoveryLogError);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a decoded op is a plain object that re-encodes without error', () => {
    fc.assert(
      fc.property(anyOpBytes, (bytes) => {
        let op: RecordedOp;
        try {
          op = decodeRecordedOp(bytes);
        } catch {
          return;
        }
        assert.equal(Object.getPrototypeOf(op), Object.prototype);
        for (const value of Object.values(op)) {
          assert.ok(
            ['number', 'string'].includes(typeof value) ||
              Object.getPrototypeOf(value) === Object.prototype,
          );
        }
        assert.deepEqual(decodeRecordedOp(encodeRecordedOp(op)), op);
      }),
      { numRuns: 300 },
    );
  });

  it('FrameDecoder: the transcript does not depend on chunking, and covers the stream', () => {
    fc.assert(
      fc.property(
        stream,
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.integer({ min: 16, max: 48 }),
        (bytes, cuts, windowSize) => {
          const whole = transcribe([bytes], windowSize);
          const split = transcribe(chunked(bytes, cuts), windowSize);
          const bytewise = transcribe(
            [...bytes].map((b) => Uint8Array.of(b)),
            windowSize,
          );
          assert.deepEqual(split, whole);
          assert.deepEqual(bytewise, whole);

          // Events are contiguous from the start offset and replay the input exactly.
          let offset = 7;
          const replay: number[] = [];
          for (const event of whole.events) {
            assert.equal(event.offset, offset);
            offset += event.bytes.length;
            replay.push(...event.bytes);
          }
          assert.equal(whole.finalOffset, offset);
          assert.deepEqual(replay, [...bytes.subarray(0, offset - 7)]);
          const last = whole.events.at(-1);
          if (whole.error === undefined) {
            assert.equal(last?.kind, 'eof');
            const rest = bytes.length - (offset - 7);
            assert.ok(rest === 0 || (rest === 1 && bytes[bytes.length - 1] === 0x0a));
          } else {
            assert.equal(whole.error.offset, offset);
            assert.equal(whole.error.present, bytes.length - (offset - 7));
            assert.ok(whole.error.present < whole.error.expected);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('FrameDecoder: encoded frames come back whole whatever the chunking', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 30 }), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (payloads, cuts) => {
          const bytes = Uint8Array.from(payloads.flatMap((p) => [...encodeFrame(p)]));
          const decoder = new FrameDecoder();
          const seen: number[][] = [];
          for (const chunk of chunked(bytes, cuts)) {
            decoder.push(chunk);
            for (let e = decoder.next(); e !== undefined; e = decoder.next()) {
              assert.equal(e.type, 'frame');
              if (e.type === 'frame') seen.push([...e.payload]);
            }
          }
          decoder.end();
          assert.equal(decoder.next()?.type, 'eof');
          assert.deepEqual(
            seen,
            payloads.map((p) => [...p]),
          );
        },
      ),
    );
  });
});
