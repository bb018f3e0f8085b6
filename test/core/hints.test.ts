import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeHints,
  encodeHints,
  HintsDecodeError,
  HintsValidationError,
  hintsFromJSON,
  hintsToJSON,
  liveLogSegments,
  validateHints,
} from '../../src/hints.js';
import { SegmentConsistencyError, SegmentValidationError } from '../../src/segment.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { seg, hints } from '../helpers/fixtures.js';

const aRecoveryLog = 'examples/integration-tests/recovery-log';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const utf8 = (s: string) => new TextEncoder().encode(s);

/** Hints of spec 1.10/2.2, used for both stored forms. */
const exampleHints = hints({
  log: 'a/log',
  liveNodes: [
    { fnode: 1, segments: [seg({ author: 1234, firstSeqNo: 1, firstOffset: 100, lastSeqNo: 4 })] },
  ],
  properties: [{ path: '/IDENTITY', content: 'value' }],
});
const exampleProto =
  '0a05612f6c6f67 120f 0801 120b 0dd2040000 1001 1864 2804 1a12 0a092f4944454e54495459 120576616c7565';

describe('hints', () => {
  describe('validateHints (FSMHints.Validate)', () => {
    const valid = hints({
      log: 'a/log',
      liveNodes: [
        {
          fnode: 1,
          segments: [
            seg({ author: 1, firstSeqNo: 1, lastSeqNo: 2 }),
            seg({ author: 2, firstSeqNo: 3, lastSeqNo: 3, log: 'other/log' }),
          ],
        },
      ],
    });

    it('accepts segments with an implied or a different explicit log', () => {
      validateHints(valid);
    });

    it('refuses a segment that repeats the hints log explicitly', () => {
      const h = structuredClone(valid);
      h.liveNodes[0]!.segments[1]!.log = 'a/log';
      assert.throws(
        () => validateHints(h),
        (err: unknown) =>
          err instanceof HintsValidationError &&
          err.code === 'HintsValidation' &&
          err.message.startsWith('contained segment.Log duplicates FSMHints.Log'),
      );
    });

    it('reports segment problems in the Segment context', () => {
      const h = structuredClone(valid);
      h.liveNodes[0]!.segments[1]!.author = 0;
      assert.throws(
        () => validateHints(h),
        (err: unknown) =>
          err instanceof HintsValidationError &&
          err.message.startsWith('Segment: Author is zero (live node #0, fnode 1, segment #1)') &&
          err.cause instanceof SegmentValidationError,
      );
      // An implied log is validated as the hints' log: an empty hints log is an invalid name.
      assert.throws(
        () => validateHints({ ...valid, log: '' }),
        (err: unknown) =>
          err instanceof HintsValidationError &&
          err.message.startsWith('Segment.Log: invalid length (0; expected 4 <= length <= 512)'),
      );
    });
  });

  describe('liveLogSegments', () => {
    it('fills implied logs and merges segments of different fnodes by one author', () => {
      const { fnodes, segments } = liveLogSegments(
        hints({
          log: 'a/log',
          liveNodes: [
            {
              fnode: 3,
              segments: [seg({ author: 9, firstSeqNo: 3, lastSeqNo: 5, firstChecksum: 7 })],
            },
            { fnode: 6, segments: [seg({ author: 9, firstSeqNo: 6, lastSeqNo: 6 })] },
          ],
        }),
      );
      assert.deepStrictEqual(fnodes, [3, 6]);
      assert.deepStrictEqual(
        [...segments],
        [seg({ author: 9, firstSeqNo: 3, lastSeqNo: 6, firstChecksum: 7, log: 'a/log' })],
      );
    });

    it('refuses a live node without segments', () => {
      assert.throws(
        () => liveLogSegments(hints({ log: 'a/log', liveNodes: [{ fnode: 3, segments: [] }] })),
        (err: unknown) =>
          err instanceof HintsValidationError &&
          err.message.startsWith(
            'expected Fnode to match Segment FirstSeqNo: live node #0 (fnode 3) has no segments',
          ),
      );
    });

    it('wraps segment inconsistencies, keeping the cause', () => {
      assert.throws(
        () =>
          liveLogSegments(
            hints({
              log: 'a/log',
              liveNodes: [
                { fnode: 3, segments: [seg({ author: 9, firstSeqNo: 3, lastSeqNo: 5 })] },
                { fnode: 4, segments: [seg({ author: 8, firstSeqNo: 4, lastSeqNo: 4 })] },
              ],
            }),
          ),
        (err: unknown) =>
          err instanceof HintsValidationError &&
          err.message.startsWith('expected Segment Author equality: ') &&
          err.cause instanceof SegmentConsistencyError,
      );
    });
  });

  describe('JSON form (Go encoding/json)', () => {
    it('round-trips the Gazette fixture byte-exactly', () => {
      const text =
        `{"log":"${aRecoveryLog}","live_nodes":[{"fnode":1,"segments":[{"author":123,` +
        `"first_seq_no":1,"first_offset":100,"last_seq_no":1}]}],"properties":null}`;
      const h = hintsFromJSON(text);
      assert.deepStrictEqual(
        h,
        hints({
          log: aRecoveryLog,
          liveNodes: [
            {
              fnode: 1,
              segments: [seg({ author: 123, firstSeqNo: 1, firstOffset: 100, lastSeqNo: 1 })],
            },
          ],
        }),
      );
      assert.equal(hintsToJSON(h), text);
      assert.deepStrictEqual(decodeHints(utf8(text)), h);
      assert.deepStrictEqual(encodeHints(h, 'json'), utf8(text));
    });

    it('writes empty hints with null arrays', () => {
      assert.equal(
        hintsToJSON(hints({ log: 'a/log' })),
        '{"log":"a/log","live_nodes":null,"properties":null}',
      );
      assert.equal(hintsToJSON(hints({})), '{"live_nodes":null,"properties":null}');
    });

    it('writes every field in struct order, omitting zeros where Go does', () => {
      const h = hints({
        log: 'a/log',
        liveNodes: [
          {
            fnode: 5,
            segments: [
              seg({
                author: 0xffffffff,
                firstSeqNo: 5,
                firstOffset: 10,
                firstChecksum: 0xfeedbeef,
                lastSeqNo: 9,
                lastOffset: 99,
                log: 'b/log',
              }),
            ],
          },
          { fnode: 0, segments: [] },
        ],
        properties: [
          { path: '/p', content: '' },
          { path: '', content: 'c' },
        ],
      });
      assert.equal(
        hintsToJSON(h),
        '{"log":"a/log","live_nodes":[{"fnode":5,"segments":[{"author":4294967295,' +
          '"first_seq_no":5,"first_offset":10,"first_checksum":4276993775,"last_seq_no":9,' +
          '"last_offset":99,"log":"b/log"}]},{"segments":null}],' +
          '"properties":[{"path":"/p"},{"content":"c"}]}',
      );
    });

    it('escapes strings as Go does (HTML characters, control characters, U+2028/9)', () => {
      const content = 'a<b>&"\\\n\r\t\b\f\u0001\u001f\u007f\u2028\u2029é😀';
      const json = hintsToJSON(hints({ log: '<journal>', properties: [{ path: '/p', content }] }));
      assert.equal(
        json,
        '{"log":"\\u003cjournal\\u003e","live_nodes":null,"properties":[{"path":"/p",' +
          '"content":"a\\u003cb\\u003e\\u0026\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u001f\u007f\\u2028\\u2029é😀"}]}',
      );
      // And reads them back unchanged.
      assert.equal(hintsFromJSON(json).properties[0]!.content, content);
      assert.equal(hintsFromJSON('{"log":"<journal>"}').log, '<journal>');
    });

    it('refuses to write a lone surrogate', () => {
      assert.throws(
        () => hintsToJSON(hints({ properties: [{ path: '/p\ud800', content: '' }] })),
        (err: unknown) =>
          err instanceof InvalidArgumentError &&
          err.reason === 'StringField' &&
          /properties\[0\]\.path/.test(err.message),
      );
    });

    it('reads like Go: case-insensitive keys, unknown keys ignored, nulls and missing fields are zero', () => {
      const h = hintsFromJSON(
        '{"LOG":"a/log","Live_Nodes":[{"FNODE":1,"Segments":[{"Author":5,"First_Seq_No":1,' +
          '"first_offset":null,"extra":{"deep":[1,2]}},null]},null],"Properties":[null,' +
          '{"Path":"/p","CONTENT":"c"}],"unknown":true}',
      );
      assert.deepStrictEqual(
        h,
        hints({
          log: 'a/log',
          liveNodes: [
            { fnode: 1, segments: [seg({ author: 5, firstSeqNo: 1 }), seg({})] },
            { fnode: 0, segments: [] },
          ],
          properties: [
            { path: '', content: '' },
            { path: '/p', content: 'c' },
          ],
        }),
      );
      assert.deepStrictEqual(hintsFromJSON('{}'), hints({}));
      assert.deepStrictEqual(hintsFromJSON('null'), hints({}));
      assert.deepStrictEqual(
        hintsFromJSON('{"log":"a/log","live_nodes":null,"properties":null}'),
        hints({ log: 'a/log' }),
      );
    });

    const badJSON: [string, string, RegExp][] = [
      ['malformed text', '{"log":', /malformed JSON/],
      ['a top-level array', '[]', /must be an object/],
      ['a numeric log', '{"log":5}', /field log must be a string, got number 5/],
      [
        'an object for live_nodes',
        '{"live_nodes":{}}',
        /field live_nodes must be an array or null/,
      ],
      [
        'a string fnode',
        '{"live_nodes":[{"fnode":"1"}]}',
        /field live_nodes\[0\]\.fnode must be an integer/,
      ],
      [
        'a fractional seqNo',
        '{"live_nodes":[{"segments":[{"first_seq_no":1.5}]}]}',
        /live_nodes\[0\]\.segments\[0\]\.first_seq_no = 1\.5/,
      ],
      [
        'an unsafe offset',
        '{"live_nodes":[{"segments":[{"first_offset":9007199254740993}]}]}',
        /first_offset = 9007199254740992 is not an integer within/,
      ],
      [
        'a negative author',
        '{"live_nodes":[{"segments":[{"author":-1}]}]}',
        /author = -1 is not an unsigned 32-bit integer/,
      ],
      [
        'a 33-bit checksum',
        '{"live_nodes":[{"segments":[{"first_checksum":4294967296}]}]}',
        /first_checksum = 4294967296/,
      ],
      [
        'a boolean property path',
        '{"properties":[{"path":true}]}',
        /properties\[0\]\.path must be a string, got boolean true/,
      ],
      [
        'a string segment',
        '{"live_nodes":[{"segments":["x"]}]}',
        /live_nodes\[0\]\.segments\[0\] must be an object/,
      ],
    ];
    for (const [name, text, message] of badJSON) {
      it(`refuses ${name} with a HintsDecodeError`, () => {
        assert.throws(
          () => hintsFromJSON(text),
          (err: unknown) => {
            assert.ok(err instanceof HintsDecodeError, `got ${String(err)}`);
            assert.equal(err.code, 'HintsDecode');
            assert.equal(err.format, 'json');
            assert.match(err.message, message);
            assert.match(err.message, /restore them from the backup hints/);
            return true;
          },
        );
        // Stored bytes reach the JSON decoder only when they start with '{'.
        assert.throws(
          () => decodeHints(utf8(text)),
          (err: unknown) =>
            err instanceof HintsDecodeError &&
            err.format === (text.startsWith('{') ? 'json' : 'protobuf') &&
            (!text.startsWith('{') || message.test(err.message)),
        );
      });
    }
  });

  describe('stored forms', () => {
    it('encodes and decodes the protobuf form (spec 2.2 vector)', () => {
      assert.deepStrictEqual(encodeHints(exampleHints, 'protobuf'), hex(exampleProto));
      assert.deepStrictEqual(decodeHints(hex(exampleProto)), exampleHints);
    });

    it('chooses JSON by a leading "{" and protobuf otherwise', () => {
      const json = encodeHints(exampleHints, 'json');
      assert.equal(json[0], 0x7b);
      assert.deepStrictEqual(decodeHints(json), exampleHints);
      // Leading whitespace is not JSON to Gazette: it is tried (and fails) as protobuf.
      assert.throws(
        () => decodeHints(utf8(' ' + hintsToJSON(exampleHints))),
        (err: unknown) => err instanceof HintsDecodeError && err.format === 'protobuf',
      );
      assert.deepStrictEqual(decodeHints(new Uint8Array()), hints({}));
    });

    it('turns protobuf decode failures into HintsDecodeError with the cause', () => {
      // Field 1 (log) claims 5 bytes but only 2 follow.
      assert.throws(
        () => decodeHints(hex('0a05612f')),
        (err: unknown) =>
          err instanceof HintsDecodeError &&
          err.code === 'HintsDecode' &&
          err.message.startsWith('cannot decode protobuf FSMHints: ') &&
          err.cause instanceof Error,
      );
    });

    it('never throws anything but HintsDecodeError on arbitrary bytes', () => {
      const onlyTyped = (bytes: Uint8Array) => {
        try {
          decodeHints(bytes);
        } catch (err) {
          if (!(err instanceof HintsDecodeError)) throw err;
        }
      };
      fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), onlyTyped), { numRuns: 500 });
      // Text that starts like JSON hints but may be anything after.
      fc.assert(
        fc.property(fc.string({ maxLength: 64 }), (s) => onlyTyped(utf8('{' + s))),
        { numRuns: 300 },
      );
      fc.assert(
        fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
          onlyTyped(utf8(JSON.stringify({ log: v, live_nodes: v, properties: v })));
          onlyTyped(
            utf8(
              JSON.stringify({ live_nodes: [{ fnode: v, segments: [v, { author: v, log: v }] }] }),
            ),
          );
        }),
        { numRuns: 300 },
      );
    });

    it('round-trips arbitrary hints through both forms', () => {
      const safeInt = fc.integer({ min: -(2 ** 40), max: Number.MAX_SAFE_INTEGER });
      const u32 = fc.integer({ min: 0, max: 0xffffffff });
      const text = fc.string({ maxLength: 12, unit: 'grapheme' });
      const segment = fc.record(
        {
          author: u32,
          firstSeqNo: safeInt,
          firstOffset: safeInt,
          firstChecksum: u32,
          lastSeqNo: safeInt,
          lastOffset: safeInt,
          log: text,
        },
        { noNullPrototype: true },
      );
      const arbHints = fc.record(
        {
          log: text,
          liveNodes: fc.array(
            fc.record(
              { fnode: safeInt, segments: fc.array(segment, { maxLength: 3 }) },
              { noNullPrototype: true },
            ),
            {
              maxLength: 3,
            },
          ),
          properties: fc.array(
            fc.record({ path: text, content: text }, { noNullPrototype: true }),
            { maxLength: 3 },
          ),
        },
        { noNullPrototype: true },
      );
      fc.assert(
        fc.property(arbHints, (h) => {
          assert.deepStrictEqual(decodeHints(encodeHints(h, 'json')), h);
          assert.deepStrictEqual(hintsFromJSON(hintsToJSON(h)), h);
          assert.deepStrictEqual(decodeHints(encodeHints(h, 'protobuf')), h);
        }),
        { numRuns: 200 },
      );
    });
  });
});
