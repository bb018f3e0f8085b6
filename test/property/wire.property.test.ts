import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
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

// ------------------------------------------------------------------------------------------------
// Differential: the hand-written RecordedOp codec against protobufjs plus a structural check (the
// codec it replaced). The reference adds one rule protobufjs lacks and Gazette has: an unknown
// varint longer than 10 bytes is an error (protobufjs would skip any length).

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs') as typeof import('protobufjs');
const protoRoot = protobuf.loadSync(
  fileURLToPath(new URL('../../proto/recorded_op.proto', import.meta.url)),
);
const RefOp = protoRoot.lookupType('recoverylog.RecordedOp');
/** The same schema with every string field as bytes: strings are Gazette's bytes. */
const RefOpBytes = protobuf
  .parse(
    readFileSync(
      fileURLToPath(new URL('../../proto/recorded_op.proto', import.meta.url)),
      'utf8',
    ).replace(/^(\s*)string(\s+\w+\s*=)/gm, '$1bytes$2'),
  )
  .root.resolveAll()
  .lookupType('recoverylog.RecordedOp');

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/**
 * Reference byte-string decoding, by another algorithm than byte-string.ts: at each byte, the
 * shortest slice of 1-4 bytes a strict UTF-8 decoder accepts is one character; a byte starting
 * none is escaped as U+DC00 + byte.
 */
function refByteString(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length;) {
    let n = 1;
    for (; n <= 4 && i + n <= bytes.length; n++) {
      try {
        out += fatalUtf8.decode(bytes.subarray(i, i + n));
        break;
      } catch {
        // not a whole character yet
      }
    }
    if (n > 4 || i + n > bytes.length) {
      out += String.fromCharCode(0xdc00 + bytes[i]!);
      i++;
    } else {
      i += n;
    }
  }
  return out;
}

type Loose = Record<string, unknown>;
const nonZero = (o: object): Loose =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== 0 && v !== '' && v !== undefined));

function refEncode(op: RecordedOp): Uint8Array {
  const { create, link, unlink, write, property, ...scalars } = op;
  const wire = nonZero(scalars);
  for (const [key, sub] of Object.entries({ create, link, unlink, write, property })) {
    if (sub) wire[key] = nonZero(sub);
  }
  return RefOp.encode(wire).finish();
}

function refSkip(r: import('protobufjs').Reader, wireType: number, id: number): void {
  if (id === 0) throw new Error('field number 0');
  if (wireType === 0) {
    for (let n = 0; ; n++) {
      if (n === 10 || r.pos >= r.len) throw new Error('bad varint');
      if (r.buf[r.pos++]! < 0x80) return;
    }
  }
  if (wireType !== 3) {
    r.skipType(wireType);
    return;
  }
  for (;;) {
    const tag = r.tag();
    if (tag >>> 3 === 0) throw new Error('field number 0');
    if ((tag & 7) === 4) {
      if (tag >>> 3 !== id) throw new Error('end group mismatch');
      return;
    }
    refSkip(r, tag & 7, tag >>> 3);
  }
}

function refCheck(type: import('protobufjs').Type, bytes: Uint8Array): void {
  const r = protobuf.Reader.create(bytes);
  while (r.pos < r.len) {
    const tag = r.tag();
    const field = type.fieldsById[tag >>> 3];
    if (field === undefined) {
      refSkip(r, tag & 7, tag >>> 3);
      continue;
    }
    const sub = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    const expected = sub ? 2 : (protobuf.types.basic as Record<string, number>)[field.type];
    if ((tag & 7) !== expected) throw new Error('wrong wire type');
    if (sub === undefined) {
      r.skipType(tag & 7);
      continue;
    }
    const length = r.size();
    if (r.pos + length > r.len) throw new Error('truncated');
    refCheck(sub, bytes.subarray(r.pos, r.pos + length));
    r.pos += length;
  }
}

type Outcome = { ok: RecordedOp } | { error: string; field?: string; value?: string };

function refDecode(bytes: Uint8Array): Outcome {
  let m: Loose;
  try {
    refCheck(RefOpBytes, bytes);
    m = RefOpBytes.toObject(RefOpBytes.decode(bytes), { longs: String }) as Loose;
  } catch {
    return { error: 'ProtoDecode' };
  }
  const int64 = (o: Loose, key: string, field: string): number => {
    const text = (o[key] as string | undefined) ?? '0';
    if (!Number.isSafeInteger(Number(text))) throw { error: 'Int64Range', field, value: text };
    return Number(text);
  };
  const str = (o: Loose, key: string): string =>
    refByteString((o[key] as Uint8Array | undefined) ?? new Uint8Array(0));
  const u32 = (o: Loose, key: string): number => (o[key] as number | undefined) ?? 0;
  const sub = (key: string): Loose | undefined => m[key] as Loose | undefined;
  try {
    const op: RecordedOp = {
      seqNo: int64(m, 'seqNo', 'RecordedOp.seq_no'),
      checksum: u32(m, 'checksum'),
      author: u32(m, 'author'),
      firstOffset: int64(m, 'firstOffset', 'RecordedOp.first_offset'),
      lastOffset: int64(m, 'lastOffset', 'RecordedOp.last_offset'),
      log: str(m, 'log'),
    };
    const create = sub('create');
    if (create) op.create = { path: str(create, 'path') };
    for (const key of ['link', 'unlink'] as const) {
      const l = sub(key);
      if (l)
        op[key] = { fnode: int64(l, 'fnode', `RecordedOp.${key}.fnode`), path: str(l, 'path') };
    }
    const w = sub('write');
    if (w) {
      op.write = {
        fnode: int64(w, 'fnode', 'RecordedOp.write.fnode'),
        offset: int64(w, 'offset', 'RecordedOp.write.offset'),
        length: int64(w, 'length', 'RecordedOp.write.length'),
      };
      if (u32(w, 'payloadCrc32c') !== 0) op.write.payloadCrc32c = u32(w, 'payloadCrc32c');
    }
    const p = sub('property');
    if (p) op.property = { path: str(p, 'path'), content: str(p, 'content') };
    return { ok: op };
  } catch (thrown) {
    return thrown as Outcome;
  }
}

function ourDecode(bytes: Uint8Array): Outcome {
  try {
    return { ok: decodeRecordedOp(bytes, { byteStrings: true }) };
  } catch (err) {
    if (err instanceof Int64RangeError)
      return { error: err.code, field: err.field, value: err.value };
    assert.ok(err instanceof ProtoDecodeError, `unexpected ${String(err)}`);
    return { error: err.code };
  }
}

/** Varint bytes of a value taken modulo 2^64. */
function varint(value: bigint): number[] {
  let v = BigInt.asUintN(64, value);
  const bytes: number[] = [];
  while (v > 0x7fn) {
    bytes.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  bytes.push(Number(v));
  return bytes;
}
const keyBytes = (field: number, wireType: number): number[] =>
  varint(BigInt(field * 8 + wireType));
const delimited = (field: number, body: number[]): number[] => [
  ...keyBytes(field, 2),
  ...varint(BigInt(body.length)),
  ...body,
];

/** Any 64-bit varint value, biased to the edges of the safe-integer range. */
const int64Bits = fc.oneof(
  fc.bigInt(-(2n ** 63n), 2n ** 64n - 1n),
  fc.bigInt(2n ** 53n - 3n, 2n ** 53n + 3n),
  fc.bigInt(-(2n ** 53n) - 3n, -(2n ** 53n) + 3n),
  fc.bigInt(-300n, 300n),
);

/** One field of any number and wire type, with a payload that is valid, near-valid or extreme. */
const rawField = (maxField: number, body: fc.Arbitrary<number[]>): fc.Arbitrary<number[]> =>
  fc.oneof(
    fc
      .tuple(fc.integer({ min: 1, max: maxField }), int64Bits)
      .map(([f, v]) => [...keyBytes(f, 0), ...varint(v)]),
    fc
      .tuple(fc.integer({ min: 1, max: maxField }), fc.uint8Array({ minLength: 4, maxLength: 4 }))
      .map(([f, b]) => [...keyBytes(f, 5), ...b]),
    fc
      .tuple(fc.integer({ min: 1, max: maxField }), fc.uint8Array({ minLength: 8, maxLength: 8 }))
      .map(([f, b]) => [...keyBytes(f, 1), ...b]),
    fc.tuple(fc.integer({ min: 1, max: maxField }), body).map(([f, b]) => delimited(f, b)),
    fc
      .tuple(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 30 }), fc.nat(300))
      .map(([f, g, v]) => [
        ...keyBytes(f, 3),
        ...keyBytes(1, 0),
        ...varint(BigInt(v)),
        ...keyBytes(g, 4),
      ]),
  );
const utf8ish = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 6 }).map((s) => [...Buffer.from(s)]),
  fc.uint8Array({ maxLength: 6 }).map((b) => [...b]),
);
const subMessage = fc.array(rawField(16, utf8ish), { maxLength: 4 }).map((fields) => fields.flat());
const fieldSoup = fc
  .array(rawField(13, fc.oneof(subMessage, utf8ish)), { maxLength: 8 })
  .map((fields) => Uint8Array.from(fields.flat()));
const concatenatedOps = fc
  .array(recordedOp.map(encodeRecordedOp), { minLength: 1, maxLength: 3 })
  .map((parts) => Uint8Array.from(parts.flatMap((p) => [...p])));

describe('wire properties: hand-written RecordedOp codec vs protobufjs', () => {
  it('encodes every op to the bytes protobufjs writes', () => {
    fc.assert(
      fc.property(recordedOp, (op) => {
        assert.deepEqual([...encodeRecordedOp(op)], [...refEncode(op)]);
      }),
    );
  });

  it('decodes any bytes to the same op, or fails with the same typed error', () => {
    fc.assert(
      fc.property(fc.oneof(anyOpBytes, fieldSoup, concatenatedOps), (bytes) => {
        assert.deepEqual(ourDecode(bytes), refDecode(bytes));
      }),
      { numRuns: 2000 },
    );
  });
});
