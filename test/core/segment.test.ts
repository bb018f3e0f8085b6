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

/** A segment in the column order of Gazette's tables. */
function S(
  author: number,
  firstSeqNo: number,
  lastSeqNo: number,
  firstOffset: number,
  lastOffset: number,
  firstChecksum: number,
  log: string,
): Segment {
  return seg({ author, firstSeqNo, lastSeqNo, firstOffset, lastOffset, firstChecksum, log });
}

const A = 'log/A';
const B = 'log/B';

/** Gazette's model set M (segment_test.go). */
function modelSegments(): Segment[] {
  return [
    S(0xa, 5, 10, 500, 1001, 0, A),
    S(0xb, 11, 11, 1100, 1101, 0, A),
    S(0xb, 13, 15, 1300, 1501, 0, A),
  ];
}

function modelSet(): SegmentSet {
  return SegmentSet.from(modelSegments());
}

/** Gazette's consistency errors, as the tables below expect them. */
const MONOTONIC_FIRST = /^expected monotonic FirstOffset: .*/;
const MONOTONIC_LAST = /^expected monotonic LastOffset: .*/;
const PRECEDING_LAST = /^expected preceding Segment to also include LastOffset: .*/;
const SAME_AUTHOR = /^expected Segment Author equality: .*/;
const SAME_LOG = /^expected Segment Log equality: .*/;
const SAME_CHECKSUM = /^expected FirstChecksum equality: .*/;
const LOG_AFTER_ZERO =
  /^Segment cannot use a different log where preceding Segment\.LastOffset is zero: .*/;

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
    // prettier-ignore
    const cases: [string, Partial<Segment>, RegExp][] = [
      ['zero author', { author: 0 }, /^Author is zero$/],
      ['zero FirstSeqNo', { firstSeqNo: 0 }, /^FirstSeqNo <= 0$/],
      ['negative FirstSeqNo', { firstSeqNo: -1 }, /^FirstSeqNo <= 0$/],
      ['negative FirstOffset', { firstOffset: -1 }, /^FirstOffset < 0$/],
      ['LastSeqNo before FirstSeqNo', { lastSeqNo: 9 }, /^LastSeqNo < segment\.FirstSeqNo$/],
      ['LastOffset before FirstOffset', { firstOffset: 100, lastOffset: 99 }, /^LastOffset <= segment\.FirstOffset$/],
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
    const NR = 'not reducible';
    // One row per line, as in Gazette's table: name, a, b, and the reduction or its error.
    // prettier-ignore
    const table: [string, Segment, Segment, Segment | RegExp | typeof NR][] = [
      ['overlap', S(0x1, 2, 7, 200, 700, 0x22, A), S(0x1, 4, 9, 400, 901, 0x44, A), S(0x1, 2, 9, 200, 901, 0x22, A)],
      ['overlap, non-monotonic FirstOffset', S(0x1, 2, 7, 200, 701, 0x22, A), S(0x1, 4, 9, 100, 901, 0x44, A), MONOTONIC_FIRST],
      ['overlap, non-monotonic LastOffset', S(0x1, 2, 7, 200, 701, 0x22, A), S(0x1, 4, 9, 400, 700, 0x44, A), MONOTONIC_LAST],
      ['overlap, preceding segment is missing LastOffset', S(0x1, 2, 7, 200, 0, 0x22, A), S(0x1, 4, 9, 400, 901, 0x44, A), PRECEDING_LAST],
      ['overlap, mismatched authors', S(0x1, 2, 7, 200, 701, 0x22, A), S(0x2, 4, 9, 400, 901, 0x44, A), SAME_AUTHOR],
      ['overlap, mismatched logs', S(0x1, 2, 7, 200, 701, 0x22, A), S(0x1, 4, 9, 400, 901, 0x44, B), SAME_LOG],
      ['covered', S(0x1, 2, 7, 200, 701, 0x22, A), S(0x1, 3, 6, 300, 0, 0x33, A), S(0x1, 2, 7, 200, 701, 0x22, A)],
      ['disjoint', S(0x1, 2, 4, 200, 401, 0x22, A), S(0x1, 6, 7, 600, 0, 0x66, A), NR],
      ['equal-right (the non-zero LastOffset is kept)', S(0x1, 2, 7, 200, 701, 0x22, A), S(0x1, 4, 7, 400, 0, 0x44, A), S(0x1, 2, 7, 200, 701, 0x22, A)],
      ['equal-right, unequal LastOffset', S(0x1, 2, 7, 200, 701, 0x22, A), S(0x1, 4, 7, 400, 702, 0x44, A), MONOTONIC_LAST],
      ['equal-left (the larger FirstOffset is kept)', S(0x1, 2, 7, 200, 701, 0x22, A), S(0x1, 2, 9, 210, 901, 0x22, A), S(0x1, 2, 9, 210, 901, 0x22, A)],
      ['equal-left, checksum mismatch', S(0x1, 2, 7, 200, 701, 0x22, A), S(0x1, 2, 9, 210, 901, 0xbad, A), SAME_CHECKSUM],
      ['identity', S(0x1, 2, 7, 190, 701, 0x22, A), S(0x1, 2, 7, 200, 0, 0x22, A), S(0x1, 2, 7, 200, 701, 0x22, A)],
      ['adjacent', S(0x1, 2, 4, 200, 401, 0x22, A), S(0x1, 5, 7, 500, 701, 0x55, A), S(0x1, 2, 7, 200, 701, 0x22, A)],
      ['adjacent, different authors', S(0x1, 2, 4, 200, 401, 0x22, A), S(0x2, 5, 7, 500, 701, 0x55, A), NR],
      ['adjacent, different logs', S(0x1, 2, 4, 200, 401, 0x22, A), S(0x1, 5, 7, 500, 701, 0x55, B), NR],
      ['adjacent, different logs, zero LastOffset', S(0x1, 2, 4, 200, 0, 0x22, A), S(0x1, 5, 7, 500, 0, 0x55, B), LOG_AFTER_ZERO],
    ];
    const rows: Row[] = table.map(([name, a, b, expect]) =>
      expect === NR || expect instanceof RegExp
        ? { name, a, b, err: expect }
        : { name, a, b, e: expect },
    );

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
          S(0xf, 1, 4, 100, 401, 0, A),
          S(0xf, 12, 12, 1200, 1201, 0, A),
          S(0xf, 16, 18, 1600, 1801, 0, A),
          S(0xf, 19, 20, 20, 21, 0, B),
        ],
        [
          S(0xf, 1, 4, 100, 401, 0, A),
          S(0xa, 5, 10, 500, 1001, 0, A),
          S(0xb, 11, 11, 1100, 1101, 0, A),
          S(0xf, 12, 12, 1200, 1201, 0, A),
          S(0xb, 13, 15, 1300, 1501, 0, A),
          S(0xf, 16, 18, 1600, 1801, 0, A),
          S(0xf, 19, 20, 20, 21, 0, B),
        ],
      );
    });

    it('merges overlapping and abutting segments (TestSetOverlapCases)', () => {
      checkPermutedAdds(
        modelSegments(),
        [
          S(0xa, 1, 4, 100, 401, 0, A),
          S(0xb, 12, 12, 1200, 1201, 0, A),
          S(0xb, 16, 18, 1600, 0, 0, A),
        ],
        [S(0xa, 1, 10, 100, 1001, 0, A), S(0xb, 11, 18, 1100, 0, 0, A)],
      );
    });

    it('treats covered segments as no-ops (TestSetCoveredCases)', () => {
      checkPermutedAdds(
        modelSegments(),
        [
          S(0xa, 5, 9, 500, 0, 0, A),
          S(0xa, 6, 10, 600, 0, 0, A),
          S(0xb, 11, 11, 1100, 0, 0, A),
          S(0xb, 13, 14, 1300, 0, 0, A),
          S(0xb, 14, 15, 1400, 0, 0, A),
        ],
        modelSegments(),
      );
    });

    it('extends and merges single-op segments (TestSetPointExtensions)', () => {
      checkPermutedAdds(
        modelSegments(),
        [
          S(0xb, 16, 16, 1600, 1601, 0, A),
          S(0xb, 17, 17, 1700, 1701, 0, A),
          S(0xb, 18, 18, 1800, 1801, 0, A),
          S(0xc, 19, 19, 1900, 0, 0, A),
          S(0xc, 20, 20, 2000, 0, 0, A),
        ],
        [
          S(0xa, 5, 10, 500, 1001, 0, A),
          S(0xb, 11, 11, 1100, 1101, 0, A),
          S(0xb, 13, 18, 1300, 1801, 0, A),
          S(0xc, 19, 20, 1900, 0, 0, A),
        ],
      );
    });

    describe('consistency checks (TestSetConsistencyChecks)', () => {
      // prettier-ignore
      const cases: [string, Segment, RegExp][] = [
        ['overlap with a different author (before a)', S(0xc, 4, 5, 400, 501, 0, A), SAME_AUTHOR],
        ['overlap of a into b', S(0xa, 10, 11, 1000, 1101, 0, A), SAME_AUTHOR],
        ['overlap of b into a', S(0xb, 10, 11, 1000, 1101, 0, A), SAME_AUTHOR],
        ['overlap with a different author (at the end)', S(0xc, 15, 15, 1500, 1501, 0, A), SAME_AUTHOR],
        ['overlap with a different log', S(0xa, 4, 5, 400, 501, 0, 'wrong'), SAME_LOG],
        ['missing LastOffset before a known one', S(0xb, 12, 12, 1200, 0, 0, A), PRECEDING_LAST],
        ['non-monotonic FirstOffset', S(0xb, 12, 12, 1050, 1200, 0, A), MONOTONIC_FIRST],
        ['non-monotonic LastOffset', S(0xa, 3, 3, 300, 1050, 0, A), MONOTONIC_LAST],
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
