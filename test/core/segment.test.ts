import assert from 'node:assert/strict';
import {
  checkSegmentSetInvariants,
  NOT_REDUCIBLE,
  reduceSegment,
  SegmentConsistencyError,
  SegmentSet,
  SegmentValidationError,
  validateSegment,
} from '../../src/segment.js';
import type { Segment } from '../../src/wire/types.js';
import { seg } from '../helpers/fixtures.js';

const A = 'log/A';
const B = 'log/B';

/** Gazette's model set M (segment_test.go). */
function modelSegments(): Segment[] {
  return [
    seg({ author: 0xa, firstSeqNo: 5, lastSeqNo: 10, firstOffset: 500, lastOffset: 1001, log: A }),
    seg({
      author: 0xb,
      firstSeqNo: 11,
      lastSeqNo: 11,
      firstOffset: 1100,
      lastOffset: 1101,
      log: A,
    }),
    seg({
      author: 0xb,
      firstSeqNo: 13,
      lastSeqNo: 15,
      firstOffset: 1300,
      lastOffset: 1501,
      log: A,
    }),
  ];
}

function modelSet(): SegmentSet {
  return SegmentSet.from(modelSegments());
}

/** mulberry32: small seeded PRNG so that failing permutations can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: readonly T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const BASE_SEED = Number(process.env.SEGMENT_TEST_SEED ?? Date.now() % 2 ** 31);
const PERMUTATIONS = 25;

/**
 * Adds `from` to a copy of `to` in many random orders and checks each result. On failure the
 * message names the seed (replay with SEGMENT_TEST_SEED=<seed>).
 */
function checkPermutedAdds(to: readonly Segment[], from: readonly Segment[], expect: Segment[]) {
  for (let p = 0; p < PERMUTATIONS; p++) {
    const seed = BASE_SEED + p;
    const set = SegmentSet.from(to);
    const order = shuffled(from, rng(seed));
    try {
      for (const s of order) set.add(s);
      assert.deepStrictEqual([...set], expect);
      assert.equal(checkSegmentSetInvariants(set.segments), undefined);
    } catch (err) {
      (err as Error).message +=
        ` [permutation seed ${seed}; replay with SEGMENT_TEST_SEED=${seed}]`;
      throw err;
    }
  }
}

describe('segment', () => {
  describe('validateSegment (TestSegmentValidationCases)', () => {
    const model = seg({
      author: 0xfefe,
      firstSeqNo: 10,
      firstChecksum: 0xabab,
      firstOffset: 0,
      lastSeqNo: 10,
      lastOffset: 1,
      log: 'a/log',
    });
    const cases: [string, Partial<Segment>, RegExp][] = [
      ['zero author', { author: 0 }, /^Author is zero$/],
      ['zero FirstSeqNo', { firstSeqNo: 0 }, /^FirstSeqNo <= 0$/],
      ['negative FirstSeqNo', { firstSeqNo: -1 }, /^FirstSeqNo <= 0$/],
      ['negative FirstOffset', { firstOffset: -1 }, /^FirstOffset < 0$/],
      ['LastSeqNo before FirstSeqNo', { lastSeqNo: 9 }, /^LastSeqNo < segment\.FirstSeqNo$/],
      [
        'LastOffset before FirstOffset',
        { firstOffset: 100, lastOffset: 99 },
        /^LastOffset <= segment\.FirstOffset$/,
      ],
      ['empty log', { log: '' }, /^Log: invalid length .*/],
    ];
    for (const [name, change, message] of cases) {
      it(`refuses ${name}`, () => {
        validateSegment(model);
        assert.throws(
          () => validateSegment({ ...model, ...change }),
          (err: unknown) =>
            err instanceof SegmentValidationError &&
            err.code === 'SegmentValidation' &&
            message.test(err.message),
        );
      });
    }

    it('reports the exact log problem with its Log context', () => {
      assert.throws(
        () => validateSegment({ ...model, log: '' }),
        (err: unknown) =>
          err instanceof SegmentValidationError &&
          err.message === 'Log: invalid length (0; expected 4 <= length <= 512)' &&
          err.context.join('.') === 'Log',
      );
    });

    it('checks in Gazette order (author before seqNo before offsets before log)', () => {
      assert.throws(
        () => validateSegment(seg({ firstSeqNo: -1, firstOffset: -1, log: '' })),
        (err: unknown) => err instanceof SegmentValidationError && err.message === 'Author is zero',
      );
      assert.throws(
        () => validateSegment(seg({ author: 1, firstOffset: -1, lastSeqNo: -5, log: '' })),
        (err: unknown) =>
          err instanceof SegmentValidationError && err.message === 'FirstSeqNo <= 0',
      );
      assert.throws(
        () => validateSegment(seg({ author: 1, firstSeqNo: 3, firstOffset: -1, log: '' })),
        (err: unknown) =>
          err instanceof SegmentValidationError && err.message === 'FirstOffset < 0',
      );
    });

    it('accepts an unknown (zero) LastOffset and a zero FirstChecksum', () => {
      validateSegment({ ...model, lastOffset: 0 });
      validateSegment({ ...model, firstChecksum: 0 });
    });
  });

  describe('reduceSegment (TestSegmentReductionCases, both argument orders)', () => {
    type Row = {
      name: string;
      a: Segment;
      b: Segment;
      e?: Segment;
      err?: RegExp | 'not reducible';
    };
    const rows: Row[] = [
      {
        name: 'overlap',
        a: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 7,
          firstOffset: 200,
          lastOffset: 700,
          firstChecksum: 0x22,
          log: A,
        }),
        b: seg({
          author: 0x1,
          firstSeqNo: 4,
          lastSeqNo: 9,
          firstOffset: 400,
          lastOffset: 901,
          firstChecksum: 0x44,
          log: A,
        }),
        e: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 9,
          firstOffset: 200,
          lastOffset: 901,
          firstChecksum: 0x22,
          log: A,
        }),
      },
      {
        name: 'overlap, non-monotonic FirstOffset',
        a: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 7,
          firstOffset: 200,
          lastOffset: 701,
          firstChecksum: 0x22,
          log: A,
        }),
        b: seg({
          author: 0x1,
          firstSeqNo: 4,
          lastSeqNo: 9,
          firstOffset: 100,
          lastOffset: 901,
          firstChecksum: 0x44,
          log: A,
        }),
        err: /^expected monotonic FirstOffset: .*/,
      },
      {
        name: 'overlap, non-monotonic LastOffset',
        a: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 7,
          firstOffset: 200,
          lastOffset: 701,
          firstChecksum: 0x22,
          log: A,
        }),
        b: seg({
          author: 0x1,
          firstSeqNo: 4,
          lastSeqNo: 9,
          firstOffset: 400,
          lastOffset: 700,
          firstChecksum: 0x44,
          log: A,
        }),
        err: /^expected monotonic LastOffset: .*/,
      },
      {
        name: 'overlap, preceding segment is missing LastOffset',
        a: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 7,
          firstOffset: 200,
          lastOffset: 0,
          firstChecksum: 0x22,
          log: A,
        }),
        b: seg({
          author: 0x1,
          firstSeqNo: 4,
          lastSeqNo: 9,
          firstOffset: 400,
          lastOffset: 901,
          firstChecksum: 0x44,
          log: A,
        }),
        err: /^expected preceding Segment to also include LastOffset: .*/,
      },
      {
        name: 'overlap, mismatched authors',
        a: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 7,
          firstOffset: 200,
          lastOffset: 701,
          firstChecksum: 0x22,
          log: A,
        }),
        b: seg({
          author: 0x2,
          firstSeqNo: 4,
          lastSeqNo: 9,
          firstOffset: 400,
          lastOffset: 901,
          firstChecksum: 0x44,
          log: A,
        }),
        err: /^expected Segment Author equality: .*/,
      },
      {
        name: 'overlap, mismatched logs',
        a: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 7,
          firstOffset: 200,
          lastOffset: 701,
          firstChecksum: 0x22,
          log: A,
        }),
        b: seg({
          author: 0x1,
          firstSeqNo: 4,
          lastSeqNo: 9,
          firstOffset: 400,
          lastOffset: 901,
          firstChecksum: 0x44,
          log: B,
        }),
        err: /^expected Segment Log equality: .*/,
      },
      {
        name: 'covered',
        a: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 7,
          firstOffset: 200,
          lastOffset: 701,
          firstChecksum: 0x22,
          log: A,
        }),
        b: seg({
          author: 0x1,
          firstSeqNo: 3,
          lastSeqNo: 6,
          firstOffset: 300,
          lastOffset: 0,
          firstChecksum: 0x33,
          log: A,
        }),
        e: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 7,
          firstOffset: 200,
          lastOffset: 701,
          firstChecksum: 0x22,
          log: A,
        }),
      },
      {
        name: 'disjoint',
        a: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 4,
          firstOffset: 200,
          lastOffset: 401,
          firstChecksum: 0x22,
          log: A,
        }),
        b: seg({
          author: 0x1,
          firstSeqNo: 6,
          lastSeqNo: 7,
          firstOffset: 600,
          firstChecksum: 0x66,
          log: A,
        }),
        err: 'not reducible',
      },
      {
        name: 'equal-right (the non-zero LastOffset is kept)',
        a: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 7,
          firstOffset: 200,
          lastOffset: 701,
          firstChecksum: 0x22,
          log: A,
        }),
        b: seg({
          author: 0x1,
          firstSeqNo: 4,
          lastSeqNo: 7,
          firstOffset: 400,
          lastOffset: 0,
          firstChecksum: 0x44,
          log: A,
        }),
        e: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 7,
          firstOffset: 200,
          lastOffset: 701,
          firstChecksum: 0x22,
          log: A,
        }),
      },
      {
        name: 'equal-right, unequal LastOffset',
        a: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 7,
          firstOffset: 200,
          lastOffset: 701,
          firstChecksum: 0x22,
          log: A,
        }),
        b: seg({
          author: 0x1,
          firstSeqNo: 4,
          lastSeqNo: 7,
          firstOffset: 400,
          lastOffset: 702,
          firstChecksum: 0x44,
          log: A,
        }),
        err: /^expected monotonic LastOffset: .*/,
      },
      {
        name: 'equal-left (the larger FirstOffset is kept)',
        a: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 7,
          firstOffset: 200,
          lastOffset: 701,
          firstChecksum: 0x22,
          log: A,
        }),
        b: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 9,
          firstOffset: 210,
          lastOffset: 901,
          firstChecksum: 0x22,
          log: A,
        }),
        e: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 9,
          firstOffset: 210,
          lastOffset: 901,
          firstChecksum: 0x22,
          log: A,
        }),
      },
      {
        name: 'equal-left, checksum mismatch',
        a: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 7,
          firstOffset: 200,
          lastOffset: 701,
          firstChecksum: 0x22,
          log: A,
        }),
        b: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 9,
          firstOffset: 210,
          lastOffset: 901,
          firstChecksum: 0xbad,
          log: A,
        }),
        err: /^expected FirstChecksum equality: .*/,
      },
      {
        name: 'identity',
        a: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 7,
          firstOffset: 190,
          lastOffset: 701,
          firstChecksum: 0x22,
          log: A,
        }),
        b: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 7,
          firstOffset: 200,
          lastOffset: 0,
          firstChecksum: 0x22,
          log: A,
        }),
        e: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 7,
          firstOffset: 200,
          lastOffset: 701,
          firstChecksum: 0x22,
          log: A,
        }),
      },
      {
        name: 'adjacent',
        a: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 4,
          firstOffset: 200,
          lastOffset: 401,
          firstChecksum: 0x22,
          log: A,
        }),
        b: seg({
          author: 0x1,
          firstSeqNo: 5,
          lastSeqNo: 7,
          firstOffset: 500,
          lastOffset: 701,
          firstChecksum: 0x55,
          log: A,
        }),
        e: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 7,
          firstOffset: 200,
          lastOffset: 701,
          firstChecksum: 0x22,
          log: A,
        }),
      },
      {
        name: 'adjacent, different authors',
        a: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 4,
          firstOffset: 200,
          lastOffset: 401,
          firstChecksum: 0x22,
          log: A,
        }),
        b: seg({
          author: 0x2,
          firstSeqNo: 5,
          lastSeqNo: 7,
          firstOffset: 500,
          lastOffset: 701,
          firstChecksum: 0x55,
          log: A,
        }),
        err: 'not reducible',
      },
      {
        name: 'adjacent, different logs',
        a: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 4,
          firstOffset: 200,
          lastOffset: 401,
          firstChecksum: 0x22,
          log: A,
        }),
        b: seg({
          author: 0x1,
          firstSeqNo: 5,
          lastSeqNo: 7,
          firstOffset: 500,
          lastOffset: 701,
          firstChecksum: 0x55,
          log: B,
        }),
        err: 'not reducible',
      },
      {
        name: 'adjacent, different logs, zero LastOffset',
        a: seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 4,
          firstOffset: 200,
          lastOffset: 0,
          firstChecksum: 0x22,
          log: A,
        }),
        b: seg({
          author: 0x1,
          firstSeqNo: 5,
          lastSeqNo: 7,
          firstOffset: 500,
          lastOffset: 0,
          firstChecksum: 0x55,
          log: B,
        }),
        err: /^Segment cannot use a different log where preceding Segment\.LastOffset is zero: .*/,
      },
    ];

    it('has all 17 of Gazette table rows', () => assert.equal(rows.length, 17));

    for (const row of rows) {
      it(row.name, () => {
        for (const [x, y] of [
          [row.a, row.b],
          [row.b, row.a],
        ] as const) {
          const before = [{ ...x }, { ...y }];
          if (row.err === 'not reducible') {
            assert.equal(reduceSegment(x, y), NOT_REDUCIBLE);
          } else if (row.err) {
            const message = row.err;
            assert.throws(
              () => reduceSegment(x, y),
              (err: unknown) =>
                err instanceof SegmentConsistencyError &&
                err.code === 'SegmentConsistency' &&
                message.test(err.message),
            );
          } else {
            assert.deepStrictEqual(reduceSegment(x, y), row.e);
          }
          // Reduction never mutates its inputs.
          assert.deepStrictEqual([x, y], before);
        }
      });
    }
  });

  describe('SegmentSet.add', () => {
    it('rebuilds the model from its members in any order (TestSetIdentityCases)', () => {
      checkPermutedAdds([], modelSegments(), modelSegments());
    });

    it('interleaves non-overlapping insertions (TestSetNonOverlappingInsertionCases)', () => {
      checkPermutedAdds(
        modelSegments(),
        [
          seg({
            author: 0xf,
            firstSeqNo: 1,
            lastSeqNo: 4,
            firstOffset: 100,
            lastOffset: 401,
            log: A,
          }),
          seg({
            author: 0xf,
            firstSeqNo: 12,
            lastSeqNo: 12,
            firstOffset: 1200,
            lastOffset: 1201,
            log: A,
          }),
          seg({
            author: 0xf,
            firstSeqNo: 16,
            lastSeqNo: 18,
            firstOffset: 1600,
            lastOffset: 1801,
            log: A,
          }),
          seg({
            author: 0xf,
            firstSeqNo: 19,
            lastSeqNo: 20,
            firstOffset: 20,
            lastOffset: 21,
            log: B,
          }),
        ],
        [
          seg({
            author: 0xf,
            firstSeqNo: 1,
            lastSeqNo: 4,
            firstOffset: 100,
            lastOffset: 401,
            log: A,
          }),
          seg({
            author: 0xa,
            firstSeqNo: 5,
            lastSeqNo: 10,
            firstOffset: 500,
            lastOffset: 1001,
            log: A,
          }),
          seg({
            author: 0xb,
            firstSeqNo: 11,
            lastSeqNo: 11,
            firstOffset: 1100,
            lastOffset: 1101,
            log: A,
          }),
          seg({
            author: 0xf,
            firstSeqNo: 12,
            lastSeqNo: 12,
            firstOffset: 1200,
            lastOffset: 1201,
            log: A,
          }),
          seg({
            author: 0xb,
            firstSeqNo: 13,
            lastSeqNo: 15,
            firstOffset: 1300,
            lastOffset: 1501,
            log: A,
          }),
          seg({
            author: 0xf,
            firstSeqNo: 16,
            lastSeqNo: 18,
            firstOffset: 1600,
            lastOffset: 1801,
            log: A,
          }),
          seg({
            author: 0xf,
            firstSeqNo: 19,
            lastSeqNo: 20,
            firstOffset: 20,
            lastOffset: 21,
            log: B,
          }),
        ],
      );
    });

    it('merges overlapping and abutting segments (TestSetOverlapCases)', () => {
      checkPermutedAdds(
        modelSegments(),
        [
          seg({
            author: 0xa,
            firstSeqNo: 1,
            lastSeqNo: 4,
            firstOffset: 100,
            lastOffset: 401,
            log: A,
          }),
          seg({
            author: 0xb,
            firstSeqNo: 12,
            lastSeqNo: 12,
            firstOffset: 1200,
            lastOffset: 1201,
            log: A,
          }),
          seg({ author: 0xb, firstSeqNo: 16, lastSeqNo: 18, firstOffset: 1600, log: A }),
        ],
        [
          seg({
            author: 0xa,
            firstSeqNo: 1,
            lastSeqNo: 10,
            firstOffset: 100,
            lastOffset: 1001,
            log: A,
          }),
          seg({ author: 0xb, firstSeqNo: 11, lastSeqNo: 18, firstOffset: 1100, log: A }),
        ],
      );
    });

    it('treats covered segments as no-ops (TestSetCoveredCases)', () => {
      checkPermutedAdds(
        modelSegments(),
        [
          seg({ author: 0xa, firstSeqNo: 5, lastSeqNo: 9, firstOffset: 500, log: A }),
          seg({ author: 0xa, firstSeqNo: 6, lastSeqNo: 10, firstOffset: 600, log: A }),
          seg({ author: 0xb, firstSeqNo: 11, lastSeqNo: 11, firstOffset: 1100, log: A }),
          seg({ author: 0xb, firstSeqNo: 13, lastSeqNo: 14, firstOffset: 1300, log: A }),
          seg({ author: 0xb, firstSeqNo: 14, lastSeqNo: 15, firstOffset: 1400, log: A }),
        ],
        modelSegments(),
      );
    });

    it('extends and merges single-op segments (TestSetPointExtensions)', () => {
      checkPermutedAdds(
        modelSegments(),
        [
          seg({
            author: 0xb,
            firstSeqNo: 16,
            firstOffset: 1600,
            lastSeqNo: 16,
            lastOffset: 1601,
            log: A,
          }),
          seg({
            author: 0xb,
            firstSeqNo: 17,
            firstOffset: 1700,
            lastSeqNo: 17,
            lastOffset: 1701,
            log: A,
          }),
          seg({
            author: 0xb,
            firstSeqNo: 18,
            firstOffset: 1800,
            lastSeqNo: 18,
            lastOffset: 1801,
            log: A,
          }),
          seg({
            author: 0xc,
            firstSeqNo: 19,
            firstOffset: 1900,
            lastSeqNo: 19,
            lastOffset: 0,
            log: A,
          }),
          seg({
            author: 0xc,
            firstSeqNo: 20,
            firstOffset: 2000,
            lastSeqNo: 20,
            lastOffset: 0,
            log: A,
          }),
        ],
        [
          seg({
            author: 0xa,
            firstSeqNo: 5,
            lastSeqNo: 10,
            firstOffset: 500,
            lastOffset: 1001,
            log: A,
          }),
          seg({
            author: 0xb,
            firstSeqNo: 11,
            lastSeqNo: 11,
            firstOffset: 1100,
            lastOffset: 1101,
            log: A,
          }),
          seg({
            author: 0xb,
            firstSeqNo: 13,
            lastSeqNo: 18,
            firstOffset: 1300,
            lastOffset: 1801,
            log: A,
          }),
          seg({
            author: 0xc,
            firstSeqNo: 19,
            lastSeqNo: 20,
            firstOffset: 1900,
            lastOffset: 0,
            log: A,
          }),
        ],
      );
    });

    describe('consistency checks (TestSetConsistencyChecks)', () => {
      const cases: [string, Segment, RegExp][] = [
        [
          'overlap with a different author (before a)',
          seg({
            author: 0xc,
            firstSeqNo: 4,
            lastSeqNo: 5,
            firstOffset: 400,
            lastOffset: 501,
            log: A,
          }),
          /^expected Segment Author equality: .*/,
        ],
        [
          'overlap of a into b',
          seg({
            author: 0xa,
            firstSeqNo: 10,
            lastSeqNo: 11,
            firstOffset: 1000,
            lastOffset: 1101,
            log: A,
          }),
          /^expected Segment Author equality: .*/,
        ],
        [
          'overlap of b into a',
          seg({
            author: 0xb,
            firstSeqNo: 10,
            lastSeqNo: 11,
            firstOffset: 1000,
            lastOffset: 1101,
            log: A,
          }),
          /^expected Segment Author equality: .*/,
        ],
        [
          'overlap with a different author (at the end)',
          seg({
            author: 0xc,
            firstSeqNo: 15,
            lastSeqNo: 15,
            firstOffset: 1500,
            lastOffset: 1501,
            log: A,
          }),
          /^expected Segment Author equality: .*/,
        ],
        [
          'overlap with a different log',
          seg({
            author: 0xa,
            firstSeqNo: 4,
            lastSeqNo: 5,
            firstOffset: 400,
            lastOffset: 501,
            log: 'wrong',
          }),
          /^expected Segment Log equality: .*/,
        ],
        [
          'missing LastOffset before a known one',
          seg({
            author: 0xb,
            firstSeqNo: 12,
            lastSeqNo: 12,
            firstOffset: 1200,
            lastOffset: 0,
            log: A,
          }),
          /^expected preceding Segment to also include LastOffset: .*/,
        ],
        [
          'non-monotonic FirstOffset',
          seg({
            author: 0xb,
            firstSeqNo: 12,
            lastSeqNo: 12,
            firstOffset: 1050,
            lastOffset: 1200,
            log: A,
          }),
          /^expected monotonic FirstOffset: .*/,
        ],
        [
          'non-monotonic LastOffset',
          seg({
            author: 0xa,
            firstSeqNo: 3,
            lastSeqNo: 3,
            firstOffset: 300,
            lastOffset: 1050,
            log: A,
          }),
          /^expected monotonic LastOffset: .*/,
        ],
      ];
      for (const [name, s, message] of cases) {
        it(`refuses ${name} and leaves the set unchanged`, () => {
          const set = modelSet();
          assert.throws(
            () => set.add(s),
            (err: unknown) => err instanceof SegmentConsistencyError && message.test(err.message),
          );
          assert.deepStrictEqual([...set], modelSegments());
        });
      }
    });

    it('validates the segment before adding it', () => {
      const set = modelSet();
      assert.throws(
        () => set.add(seg({ author: 0, firstSeqNo: 20, lastSeqNo: 20, log: A })),
        SegmentValidationError,
      );
      assert.equal(set.length, 3);
    });

    it('keeps its members out of reach of callers', () => {
      const input = seg({
        author: 0xa,
        firstSeqNo: 5,
        lastSeqNo: 10,
        firstOffset: 500,
        lastOffset: 1001,
        log: A,
      });
      const set = new SegmentSet();
      set.add(input);
      input.lastSeqNo = 99; // Mutating the argument afterwards does not reach the set.
      assert.equal(set.segments[0]!.lastSeqNo, 10);
      assert.ok(Object.isFrozen(set.segments[0]));
    });
  });

  describe('SegmentSet.intersect (TestIntersectionCases)', () => {
    const m = modelSegments();
    const cases: [number, number, Segment[]][] = [
      [0, 100000, m],
      [0, 500, m.slice(0, 0)],
      [0, 501, m.slice(0, 1)],
      [1000, 1001, m.slice(0, 1)],
      [1000, 1100, m.slice(0, 1)],
      [1000, 1101, m.slice(0, 2)],
      [1000, 1300, m.slice(0, 2)],
      [1000, 1301, m],
      [1000, 100000, m],
      [1001, 1001, m.slice(1, 1)],
      [1001, 1100, m.slice(1, 1)],
      [1001, 1101, m.slice(1, 2)],
      [1100, 1101, m.slice(1, 2)],
      [1101, 1101, m.slice(2, 2)],
      [1101, 1300, m.slice(2, 2)],
      [1101, 1301, m.slice(2, 3)],
      [1300, 1301, m.slice(2, 3)],
      [1300, 100000, m.slice(2, 3)],
      [1500, 100000, m.slice(2, 3)],
      [1501, 100000, m.slice(3, 3)],
      [10000, 100000, m.slice(3, 3)],
    ];
    it('has all 21 of Gazette table rows', () => assert.equal(cases.length, 21));
    for (const [first, last, expect] of cases) {
      it(`[${first}, ${last})`, () => {
        assert.deepStrictEqual(modelSet().intersect(A, first, last), expect);
      });
    }

    it('includes a preceding segment whose LastOffset is unknown', () => {
      const set = SegmentSet.from([
        ...modelSegments(),
        seg({ author: 0xc, firstSeqNo: 19, lastSeqNo: 20, firstOffset: 1900, log: A }),
      ]);
      assert.deepStrictEqual(
        set.intersect(A, 5000, 6000).map((s) => s.firstSeqNo),
        [19],
      );
    });

    it('throws a typed error for a reversed range or a foreign log', () => {
      assert.throws(() => modelSet().intersect(A, 10, 9), {
        code: 'InvalidArgument',
        reason: 'SegmentRange',
      });
      assert.throws(() => modelSet().intersect(B, 0, 10), {
        code: 'InvalidArgument',
        reason: 'SegmentRange',
      });
    });
  });

  describe('checkSegmentSetInvariants', () => {
    it('accepts the model and sets with an unknown-LastOffset suffix', () => {
      assert.equal(checkSegmentSetInvariants(modelSegments()), undefined);
      assert.equal(
        checkSegmentSetInvariants([
          ...modelSegments(),
          seg({ author: 0xc, firstSeqNo: 19, lastSeqNo: 20, firstOffset: 1900, log: A }),
        ]),
        undefined,
      );
    });

    it('reports overlap, offset regressions and a known LastOffset after an unknown one', () => {
      const m = modelSegments();
      assert.match(
        checkSegmentSetInvariants([m[1]!, m[0]!]) ?? '',
        /overlap or are out of SeqNo order/,
      );
      assert.match(
        checkSegmentSetInvariants([m[0]!, { ...m[1]!, firstOffset: 400 }]) ?? '',
        /smaller firstOffset/,
      );
      assert.match(
        checkSegmentSetInvariants([m[0]!, { ...m[1]!, lastOffset: 1000, firstOffset: 999 }]) ?? '',
        /smaller lastOffset/,
      );
      assert.match(
        checkSegmentSetInvariants([{ ...m[0]!, lastOffset: 0 }, m[1]!]) ?? '',
        /known lastOffset after/,
      );
      assert.match(checkSegmentSetInvariants([{ ...m[0]!, author: 0 }]) ?? '', /Author is zero/);
    });
  });
});
