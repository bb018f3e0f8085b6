import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors.js';
import { crc32cUpdate } from '../../src/crc32c.js';
import {
  decodeFSMHints,
  decodeRecordedOp,
  encodeFSMHints,
  encodeRecordedOp,
} from '../../src/wire/codec.js';
import { Int64RangeError, ProtoDecodeError } from '../../src/wire/errors.js';
import { encodeFrame, FRAME_HEADER_LENGTH } from '../../src/wire/framing.js';
import type { FSMHints, RecordedOp } from '../../src/wire/types.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const fromHex = (text: string): Uint8Array =>
  Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));

const AUTHOR = 1234;
const OTHER_AUTHOR = 5678;

/** A RecordedOp with zeroed meta-fields; `fields` sets the rest. */
function op(fields: Partial<RecordedOp> & { seqNo: number }): RecordedOp {
  return { checksum: 0, author: AUTHOR, firstOffset: 0, lastOffset: 0, log: '', ...fields };
}

/** Frames an op and returns the frame and the checksum that follows it in the chain. */
function chain(previous: number, recorded: RecordedOp): { frame: Uint8Array; next: number } {
  const frame = encodeFrame(encodeRecordedOp(recorded));
  return { frame, next: crc32cUpdate(previous, frame.subarray(FRAME_HEADER_LENGTH)) };
}

function expectDecodeError(bytes: Uint8Array, pattern?: RegExp): ProtoDecodeError {
  let caught: unknown;
  try {
    decodeRecordedOp(bytes);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ProtoDecodeError, `expected ProtoDecodeError, got ${String(caught)}`);
  assert.equal(caught.code, 'ProtoDecode');
  if (pattern) assert.match(caught.message, pattern);
  return caught;
}

describe('wire/codec: RecordedOp vectors of the spec (section 2.2)', () => {
  it('encodes the 32-byte create of /path/to/file and chains to 0x568e8e4e', () => {
    const { frame, next } = chain(0, op({ seqNo: 1, create: { path: '/path/to/file' } }));
    assert.equal(hex(frame), '663393361800000008011dd2040000220f0a0d2f706174682f746f2f66696c65');
    assert.equal(frame.length, 32);
    assert.equal(next, 0x568e8e4e);
  });

  it('encodes the write of op 2 and chains through link, unlink and property', () => {
    const write = chain(
      0x568e8e4e,
      op({ seqNo: 2, checksum: 0x568e8e4e, write: { fnode: 1, offset: 0, length: 5 } }),
    );
    assert.equal(hex(write.frame), '66339336120000000802154e8e8e561dd20400003a0408011805');
    assert.equal(write.next, 0xe096af84);

    const link = chain(
      write.next,
      op({ seqNo: 3, checksum: write.next, link: { fnode: 1, path: '/linked' } }),
    );
    assert.equal(link.next, 0x0cf46a01);
    const unlink = chain(
      link.next,
      op({ seqNo: 4, checksum: link.next, unlink: { fnode: 1, path: '/path/to/file' } }),
    );
    assert.equal(unlink.next, 0x452db2ba);
    const property = chain(
      unlink.next,
      op({ seqNo: 5, checksum: unlink.next, property: { path: '/IDENTITY', content: 'value' } }),
    );
    assert.equal(property.next, 0x6632049a);
  });

  it('encodes the hand-off no-op and chains to 0x61669370', () => {
    const create = chain(0, op({ seqNo: 1, create: { path: '/file1' } }));
    assert.equal(create.next, 0x1f19bf57);
    const noop = chain(create.next, op({ seqNo: 2, checksum: create.next, author: OTHER_AUTHOR }));
    assert.equal(hex(noop.frame), '663393360c00000008021557bf191f1d2e160000');
    assert.equal(noop.frame.length, 20);
    assert.equal(noop.next, 0x61669370);
  });

  it('encodes 31-byte creates of 12-character paths with the fixture checksums', () => {
    const target = chain(0, op({ seqNo: 1, create: { path: '/target/path' } }));
    assert.equal(target.frame.length, 31);
    assert.equal(target.next, 0x5ccbeeaa);
    const del = chain(0, op({ seqNo: 1, create: { path: '/delete/path' } }));
    assert.equal(del.frame.length, 31);
    assert.equal(del.next, 0x950c2859);
  });

  it('chains an unlink after the 32-byte create to 0x8ee45505', () => {
    const create = chain(0, op({ seqNo: 1, create: { path: '/path/to/file' } }));
    const unlink = chain(
      create.next,
      op({ seqNo: 2, checksum: create.next, unlink: { fnode: 1, path: '/path/to/file' } }),
    );
    assert.equal(unlink.next, 0x8ee45505);
  });

  it('decodes the vectors back to plain objects of the types.ts shape', () => {
    const decoded = decodeRecordedOp(fromHex('0802154e8e8e561dd20400003a0408011805'));
    assert.deepEqual(decoded, {
      seqNo: 2,
      checksum: 0x568e8e4e,
      author: AUTHOR,
      firstOffset: 0,
      lastOffset: 0,
      log: '',
      write: { fnode: 1, offset: 0, length: 5 },
    });
    assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
    assert.equal(Object.getPrototypeOf(decoded.write), Object.prototype);
    assert.equal('payloadCrc32c' in (decoded.write ?? {}), false);
    assert.equal('create' in decoded, false);
  });
});

describe('wire/codec: RecordedOp encoding rules', () => {
  it('keeps an empty sub-message present on encode and decode', () => {
    const bytes = encodeRecordedOp(op({ seqNo: 2, author: 0, create: { path: '' } }));
    assert.equal(hex(bytes), '08022200');
    const decoded = decodeRecordedOp(bytes);
    assert.deepEqual(decoded.create, { path: '' });
    assert.equal(decoded.link, undefined);
  });

  it('emits every present sub-message in ascending tag order', () => {
    const bytes = encodeRecordedOp(
      op({
        seqNo: 1,
        author: 0,
        property: { path: '', content: '' },
        unlink: { fnode: 0, path: '' },
        create: { path: '' },
        write: { fnode: 0, offset: 0, length: 0 },
        link: { fnode: 0, path: '' },
      }),
    );
    assert.equal(hex(bytes), '0801' + '2200' + '2a00' + '3200' + '3a00' + '4200');
    const decoded = decodeRecordedOp(bytes);
    for (const key of ['create', 'link', 'unlink', 'write', 'property'] as const) {
      assert.notEqual(decoded[key], undefined, key);
    }
  });

  it('writes the meta-fields and payload_crc32c only when non-zero, and decodes them', () => {
    const plain = op({ seqNo: 7, write: { fnode: 3, offset: 10, length: 4 } });
    assert.equal(hex(encodeRecordedOp(plain)), '08071dd20400003a06080310' + '0a1804');

    const withMeta = op({
      seqNo: 7,
      write: { fnode: 3, offset: 10, length: 4, payloadCrc32c: 0xdeadbeef },
      firstOffset: 100,
      lastOffset: 200,
      log: 'a/log',
    });
    const bytes = encodeRecordedOp(withMeta);
    // Write gains tag 15 (fixed32, key 0x7d); meta tags 9, 10, 11 follow the sub-messages.
    assert.equal(
      hex(bytes),
      '08071dd20400003a0b0803100a1804' + '7defbeadde' + '4864' + '50c801' + '5a05612f6c6f67',
    );
    assert.deepEqual(decodeRecordedOp(bytes), withMeta);
  });

  it('encodes negative int64 values as 10-byte two-complement varints and decodes them', () => {
    const bytes = encodeRecordedOp(op({ seqNo: -1, author: 0 }));
    assert.equal(hex(bytes), '08ffffffffffffffffff01');
    assert.equal(decodeRecordedOp(bytes).seqNo, -1);
    const extremes = op({ seqNo: Number.MAX_SAFE_INTEGER, firstOffset: -Number.MAX_SAFE_INTEGER });
    assert.deepEqual(decodeRecordedOp(encodeRecordedOp(extremes)), extremes);
  });

  it('treats missing fields as zero when encoding', () => {
    const partial = { seqNo: 2, create: { path: '' } } as unknown as RecordedOp;
    assert.equal(hex(encodeRecordedOp(partial)), '08022200');
  });

  it('refuses int64 values that are not safe integers', () => {
    for (const bad of [2 ** 53, -(2 ** 53), 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(
        () => encodeRecordedOp(op({ seqNo: 1, write: { fnode: 1, offset: 0, length: bad } })),
        (err: unknown) =>
          err instanceof Int64RangeError &&
          err.code === 'Int64Range' &&
          err.field === 'RecordedOp.write.length',
        String(bad),
      );
    }
    assert.throws(() => encodeRecordedOp(op({ seqNo: 2 ** 60 })), Int64RangeError);
  });

  it('refuses fixed32 values outside [0, 2^32)', () => {
    for (const bad of [-1, 2 ** 32, 0.5]) {
      assert.throws(
        () => encodeRecordedOp(op({ seqNo: 1, checksum: bad })),
        (err: unknown) =>
          err instanceof InvalidArgumentError &&
          err.reason === 'Uint32Field' &&
          err.message.includes('RecordedOp.checksum'),
      );
    }
    assert.equal(
      decodeRecordedOp(encodeRecordedOp(op({ seqNo: 1, author: 0xffffffff }))).author,
      0xffffffff,
    );
  });

  it('refuses strings with a lone surrogate instead of silently replacing it', () => {
    assert.throws(
      () => encodeRecordedOp(op({ seqNo: 1, create: { path: '/a\ud800b' } })),
      (err: unknown) =>
        err instanceof InvalidArgumentError &&
        err.reason === 'StringField' &&
        err.message.includes('RecordedOp.create.path'),
    );
    const ok = op({ seqNo: 1, create: { path: '/dir/\u{1f600}/é' } });
    assert.deepEqual(decodeRecordedOp(encodeRecordedOp(ok)), ok);
  });
});

describe('wire/codec: RecordedOp decoding rules', () => {
  it('rejects values beyond the safe-integer range with Int64RangeError', () => {
    // seq_no = 2^53 (varint 80 80 80 80 80 80 80 10).
    assert.throws(
      () => decodeRecordedOp(fromHex('08 8080808080808010')),
      (err: unknown) =>
        err instanceof Int64RangeError &&
        err.field === 'RecordedOp.seq_no' &&
        err.value === '9007199254740992',
    );
    // write.length = 2^63 - 1.
    assert.throws(
      () => decodeRecordedOp(fromHex('3a0a 18 ffffffffffffffff7f')),
      (err: unknown) => err instanceof Int64RangeError && err.field === 'RecordedOp.write.length',
    );
  });

  it('rejects a known tag with the wrong wire type', () => {
    // seq_no sent as fixed32.
    expectDecodeError(fromHex('0d01000000'), /wire type 5, expected 0/);
    // checksum sent as a varint.
    expectDecodeError(fromHex('1001'), /wire type 0, expected 5/);
    // create sent as a varint.
    expectDecodeError(fromHex('2001'), /wire type 0, expected 2/);
    // Inside a sub-message: write.length as length-delimited.
    expectDecodeError(fromHex('3a03 1a0100'), /wire type 2, expected 0/);
  });

  it('rejects truncated input, tag 0 and invalid wire types', () => {
    const err = expectDecodeError(fromHex('08'));
    assert.ok(err.cause instanceof Error);
    expectDecodeError(fromHex('2205 0a03'));
    expectDecodeError(fromHex('00'));
    expectDecodeError(fromHex('0f'));
    expectDecodeError(fromHex('1d0102'));
  });

  it('rejects invalid UTF-8 in strings by default (damage in our logs), from a Uint8Array or a Buffer', () => {
    expectDecodeError(fromHex('2203 0a01ff'));
    assert.throws(() => decodeRecordedOp(Buffer.from('22030a01ff', 'hex')), ProtoDecodeError);
  });

  it('with byteStrings, keeps strings that are not UTF-8 exactly (Gazette logs, issue 9)', () => {
    const opts = { byteStrings: true };
    for (const bytes of [fromHex('2203 0a01ff'), Buffer.from('22030a01ff', 'hex')]) {
      const decoded = decodeRecordedOp(bytes, opts);
      assert.equal(decoded.create?.path, '\udcff');
      assert.equal(Buffer.from(encodeRecordedOp(decoded)).toString('hex'), '22030a01ff');
    }
    // A valid character next to invalid bytes: each invalid byte escaped on its own.
    const mixed = fromHex('2207 0a05 2fc3a9e0ff'); // "/é" then E0 FF
    assert.equal(decodeRecordedOp(mixed, opts).create?.path, '/é\udce0\udcff');
    assert.equal(
      Buffer.from(encodeRecordedOp(decodeRecordedOp(mixed, opts))).toString('hex'),
      '22070a052fc3a9e0ff',
    );
    // A lone surrogate that is not an escaped byte has no bytes: still refused.
    assert.throws(() => encodeRecordedOp(op({ seqNo: 1, create: { path: '/\ud800' } })), {
      code: 'InvalidArgument',
      reason: 'StringField',
    });
  });

  it('skips unknown fields of every wire type', () => {
    const known = encodeRecordedOp(op({ seqNo: 3, create: { path: '/x' } }));
    const unknown = fromHex(
      // tag 20 varint, tag 21 fixed64, tag 22 bytes, tag 23 group (with a varint inside), tag 24 fixed32
      'a00196 01' + 'a90101020304050607 08' + 'b2010278 79' + 'bb01 0801 bc01' + 'c50101020304',
    );
    const bytes = new Uint8Array([...known, ...unknown]);
    assert.deepEqual(decodeRecordedOp(bytes), decodeRecordedOp(known));
  });

  it('lets the last scalar win and merges a repeated sub-message', () => {
    const bytes = fromHex('0801 0802 2a02 0805 2a04 1202 2f61');
    assert.deepEqual(decodeRecordedOp(bytes), {
      seqNo: 2,
      checksum: 0,
      author: 0,
      firstOffset: 0,
      lastOffset: 0,
      log: '',
      link: { fnode: 5, path: '/a' },
    });
  });

  it('decodes an empty payload as an all-zero no-op', () => {
    assert.deepEqual(decodeRecordedOp(new Uint8Array(0)), {
      seqNo: 0,
      checksum: 0,
      author: 0,
      firstOffset: 0,
      lastOffset: 0,
      log: '',
    });
  });
});

describe('wire/codec: FSMHints', () => {
  const hints: FSMHints = {
    log: 'a/log',
    liveNodes: [
      {
        fnode: 1,
        segments: [
          {
            author: 1234,
            firstSeqNo: 1,
            firstOffset: 100,
            firstChecksum: 0,
            lastSeqNo: 4,
            lastOffset: 0,
            log: '',
          },
        ],
      },
    ],
    properties: [{ path: '/IDENTITY', content: 'value' }],
  };
  const vector =
    '0a05612f6c6f67 120f 0801 120b 0dd2040000 1001 1864 2804 1a12 0a092f4944454e54495459 120576616c7565';

  it('encodes the spec example byte for byte', () => {
    assert.equal(hex(encodeFSMHints(hints)), vector.replace(/\s+/g, ''));
  });

  it('decodes it back to plain objects', () => {
    const decoded = decodeFSMHints(fromHex(vector));
    assert.deepEqual(decoded, hints);
    assert.equal(Object.getPrototypeOf(decoded.liveNodes[0].segments[0]), Object.prototype);
  });

  it('keeps empty repeated elements and defaults absent lists to []', () => {
    const empty: FSMHints = { log: '', liveNodes: [], properties: [] };
    assert.equal(encodeFSMHints(empty).length, 0);
    assert.deepEqual(decodeFSMHints(new Uint8Array(0)), empty);

    const zeroed: FSMHints = {
      log: '',
      liveNodes: [
        {
          fnode: 0,
          segments: [
            {
              author: 0,
              firstSeqNo: 0,
              firstOffset: 0,
              firstChecksum: 0,
              lastSeqNo: 0,
              lastOffset: 0,
              log: '',
            },
          ],
        },
      ],
      properties: [{ path: '', content: '' }],
    };
    const bytes = encodeFSMHints(zeroed);
    assert.equal(hex(bytes), '1202' + '1200' + '1a00');
    assert.deepEqual(decodeFSMHints(bytes), zeroed);
  });

  it('round-trips every segment field', () => {
    const full: FSMHints = {
      log: 'log/A',
      liveNodes: [
        {
          fnode: 42,
          segments: [
            {
              author: 0xfeedbeef,
              firstSeqNo: 42,
              firstOffset: 1234,
              firstChecksum: 0xfeedbeef,
              lastSeqNo: 43,
              lastOffset: 1238,
              log: 'log/B',
            },
          ],
        },
      ],
      properties: [],
    };
    assert.deepEqual(decodeFSMHints(encodeFSMHints(full)), full);
  });

  it('rejects malformed bytes and out-of-range values with typed errors', () => {
    assert.throws(() => decodeFSMHints(fromHex('1205 0801')), ProtoDecodeError);
    assert.throws(() => decodeFSMHints(fromHex('1202 1001')), /wire type 0, expected 2/);
    assert.throws(
      () => encodeFSMHints({ ...hints, liveNodes: [{ fnode: 2 ** 53, segments: [] }] }),
      (err: unknown) =>
        err instanceof Int64RangeError && err.field === 'FSMHints.live_nodes[0].fnode',
    );
  });
});
