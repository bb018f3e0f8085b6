import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkSegmentSetInvariants, SegmentSet } from '../../src/segment.js';
import type { Segment } from '../../src/wire/types.js';

/**
 * A consistent recovery-log history, as hints could describe it: ops 1..N grouped into runs of
 * one (author, log). The runs before `recordedFrom` were replayed by a Player (exact offsets);
 * the runs from it on were written by Recorders, which know only a lower bound of each op's
 * first offset and no last offset, and write to a single log.
 */
interface Op {
  seqNo: number;
  author: number;
  log: string;
  checksum: number;
  /** Exact byte range of the op in its log. */
  begin: number;
  end: number;
  recorded: boolean;
  /** Recorder's lower bound of `begin` (monotone in SeqNo); equals `begin` for replayed ops. */
  lowerBound: number;
}

interface Run {
  ops: Op[];
}

interface RunShape {
  author: number;
  log: string;
  length: number;
  gaps: number[];
  lengths: number[];
  lags: number[];
  checksums: number[];
  /** Sub-ranges [from, to] (indices into the run) that some fnode's segment covers. */
  picks: [number, number][];
}

const LOGS = ['log/A', 'log/B'];

const runShape = fc
  .record(
    {
      author: fc.integer({ min: 1, max: 4 }),
      log: fc.constantFrom(...LOGS),
      length: fc.integer({ min: 1, max: 8 }),
      seed: fc.array(fc.nat(), { minLength: 8 * 6, maxLength: 8 * 6 }),
      picks: fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 0, maxLength: 3 }),
    },
    { noNullPrototype: true },
  )
  .map(({ author, log, length, seed, picks }): RunShape => {
    const take = (k: number) => seed.slice(k * 8, k * 8 + length);
    return {
      author,
      log,
      length,
      gaps: take(0).map((n) => n % 4),
      lengths: take(1).map((n) => 1 + (n % 5)),
      lags: take(2).map((n) => n % 4),
      checksums: take(3).map((n) => (n * 2654435761) >>> 0),
      picks: picks.map(([a, b]) => {
        const x = a % length;
        const y = b % length;
        return [Math.min(x, y), Math.max(x, y)];
      }),
    };
  });

const history = fc
  .record(
    {
      shapes: fc.array(runShape, { minLength: 1, maxLength: 10 }),
      recordedFrom: fc.nat(10),
      singleLog: fc.boolean(),
      startOffsets: fc.tuple(fc.nat(100), fc.nat(100)),
    },
    { noNullPrototype: true },
  )
  .map(({ shapes, recordedFrom: wanted, singleLog, startOffsets }) => {
    // Runs from this index on were recorded (none when it is past the end).
    const recordedFrom = Math.min(wanted, shapes.length);
    const recordedLog = singleLog ? LOGS[0]! : (shapes[recordedFrom]?.log ?? LOGS[0]!);
    // Normalise so that the history is one a real log could hold.
    let prev: { author: number; log: string } | undefined;
    const fixed = shapes.map((s, i) => {
      let log = singleLog || i >= recordedFrom ? recordedLog : s.log;
      let author = s.author;
      // Adjacent runs differ in (author, log) by definition of a run, and a Recorder that
      // follows a replay is a new author.
      const mustDifferInAuthor = i === recordedFrom || log === prev?.log;
      if (prev && author === prev.author && (mustDifferInAuthor || log === prev.log)) {
        author = (author % 4) + 1;
      }
      prev = { author, log };
      return { ...s, author, log };
    });

    const cursor = new Map<string, number>(LOGS.map((l, i) => [l, startOffsets[i]!]));
    const ops: Op[] = [];
    const runs: Run[] = [];
    let firstRecorded: number | undefined;
    let lowerIndex = 0;
    fixed.forEach((shape, r) => {
      const run: Run = { ops: [] };
      for (let k = 0; k < shape.length; k++) {
        const seqNo = ops.length + 1;
        const begin = cursor.get(shape.log)! + shape.gaps[k]!;
        const end = begin + shape.lengths[k]!;
        cursor.set(shape.log, end);
        const recorded = r >= recordedFrom;
        let lowerBound = begin;
        if (recorded) {
          // A Recorder's first-offset bound is its write head when the op was issued: it never
          // decreases and never passes the op itself.
          firstRecorded ??= ops.length;
          lowerIndex = Math.max(lowerIndex, firstRecorded, ops.length - shape.lags[k]!);
          lowerBound = ops[lowerIndex]?.begin ?? begin;
        }
        const op: Op = {
          seqNo,
          author: shape.author,
          log: shape.log,
          checksum: shape.checksums[k]!,
          begin,
          end,
          recorded,
          lowerBound,
        };
        ops.push(op);
        run.ops.push(op);
      }
      runs.push(run);
    });
    return { ops, runs, shapes: fixed };
  });

function segmentOf(ops: Op[], from: number, to: number): Segment {
  const first = ops[from]!;
  const last = ops[to]!;
  return {
    author: first.author,
    log: first.log,
    firstSeqNo: first.seqNo,
    lastSeqNo: last.seqNo,
    firstChecksum: first.checksum,
    firstOffset: first.recorded ? first.lowerBound : first.begin,
    lastOffset: last.recorded ? 0 : last.end,
  };
}

/** The segments hints would list (per fnode sub-ranges), and the set they must reduce to. */
function derive(h: { runs: Run[]; shapes: RunShape[] }): {
  segments: Segment[];
  expected: Segment[];
} {
  const segments: Segment[] = [];
  const expected: Segment[] = [];
  h.runs.forEach((run, r) => {
    const covered = new Array<boolean>(run.ops.length).fill(false);
    for (const [from, to] of h.shapes[r]!.picks) {
      segments.push(segmentOf(run.ops, from, to));
      for (let k = from; k <= to; k++) covered[k] = true;
    }
    // Expected: the maximal covered intervals of the run (ops of one author and log merge).
    for (let k = 0; k < covered.length; k++) {
      if (!covered[k]) continue;
      let end = k;
      while (end + 1 < covered.length && covered[end + 1]) end++;
      expected.push(segmentOf(run.ops, k, end));
      k = end;
    }
  });
  return { segments, expected };
}

describe('SegmentSet (property)', () => {
  it('adding the segments of a consistent history in any order keeps the invariants', () => {
    const scenario = history.chain((h) => {
      const { segments, expected } = derive(h);
      return fc.record(
        {
          segments: fc.constant(segments),
          expected: fc.constant(expected),
          order: fc.shuffledSubarray(segments, {
            minLength: segments.length,
            maxLength: segments.length,
          }),
        },
        { noNullPrototype: true },
      );
    });

    fc.assert(
      fc.property(scenario, ({ segments, expected, order }) => {
        const shuffled = SegmentSet.from(order);
        assert.equal(checkSegmentSetInvariants(shuffled.segments), undefined);
        assert.deepStrictEqual([...shuffled], expected);

        const inOrder = SegmentSet.from(
          [...segments].sort((a, b) => a.firstSeqNo - b.firstSeqNo || a.lastSeqNo - b.lastSeqNo),
        );
        assert.deepStrictEqual([...shuffled], [...inOrder]);

        // Adding any member again changes nothing (idempotence).
        for (const s of order) shuffled.add(s);
        assert.deepStrictEqual([...shuffled], expected);
      }),
      { numRuns: 400 },
    );
  });

  it('intersect returns exactly the members overlapping the range (single-log sets)', () => {
    const scenario = history
      .map((h) => derive(h).expected)
      .filter((set) => set.length > 0 && set.every((s) => s.log === set[0]!.log))
      .chain((expected) =>
        fc.record(
          {
            expected: fc.constant(expected),
            first: fc.nat(400),
            width: fc.nat(120),
          },
          { noNullPrototype: true },
        ),
      );
    fc.assert(
      fc.property(scenario, ({ expected, first, width }) => {
        const set = SegmentSet.from(expected);
        const log = expected[0]!.log;
        const last = first + width;
        const overlapping = expected.filter(
          (s) => s.firstOffset < last && (s.lastOffset === 0 || s.lastOffset > first),
        );
        assert.deepStrictEqual(set.intersect(log, first, last), overlapping);
      }),
      { numRuns: 300 },
    );
  });
});
