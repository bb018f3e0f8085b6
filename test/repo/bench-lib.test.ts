import assert from 'node:assert/strict';
import { scanFrames, FrameScanError } from '../../bench/lib/frames.js';
import { decodeMappings, hotSpots } from '../../bench/lib/profile.js';
import { measure, measurePaired } from '../../bench/lib/measure.js';
import {
  formatMarkdownTable,
  formatNumber,
  formatTable,
  meetsTargets,
  reportShapeProblems,
  withVerdict,
  type BenchReport,
  type BenchResult,
} from '../../bench/lib/report.js';
import { chartRows, escapeXml, renderSvg } from '../../bench/lib/svg.js';
import { EmptySampleError, median, slope, summarize } from '../../bench/lib/stats.js';
import { encodeRecordedOp } from '../../src/wire/codec.js';
import { encodeFrame } from '../../src/wire/framing.js';
import type { RecordedOp } from '../../src/wire/types.js';

function result(over: Partial<BenchResult> = {}): BenchResult {
  return {
    name: 'record-small-ops',
    value: 400_000,
    unit: 'ops/s',
    baseline: 700_000,
    ratio: 0.57,
    params: { ops: 1000 },
    min: 390_000,
    max: 410_000,
    runs: 3,
    ...over,
  };
}

function report(results: BenchResult[]): BenchReport {
  return {
    env: {
      node: 'v20.20.2',
      platform: 'linux',
      arch: 'x64',
      cpu: 'AMD EPYC',
      cpus: 2,
      memoryMiB: 24000,
      disk: { tmpdir: '/tmp', device: '/dev/vda', fsType: 'ext4' },
      physical: { fdatasyncLatencyMs: 0.22, seqWriteMBps: 450, seqReadMBps: 9000 },
      quick: true,
      startedAt: '2025-01-01T00:00:00.000Z',
      durationSeconds: 60,
      command: 'npm run bench -- --quick',
    },
    results,
    failures: [],
  };
}

describe('bench stats', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([7]), 7);
  });

  it('does not reorder the caller’s samples', () => {
    const xs = [3, 1, 2];
    median(xs);
    assert.deepEqual(xs, [3, 1, 2]);
  });

  it('summarises median, min, max and count, and rejects empty or non-finite samples', () => {
    assert.deepEqual(summarize([10, 30, 20, 1000]), { median: 25, min: 10, max: 1000, n: 4 });
    assert.throws(() => summarize([]), EmptySampleError);
    assert.throws(() => summarize([1, NaN]), RangeError);
    assert.throws(() => summarize([1, Infinity]), RangeError);
  });

  it('fits the least-squares slope', () => {
    assert.equal(slope([1, 2, 3], [2, 4, 6]), 2);
    assert.equal(slope([16, 64, 256], [5, 5, 5]), 0);
    assert.ok(Math.abs(slope([0, 1, 2, 3], [1, 3, 2, 4]) - 0.8) < 1e-12);
    assert.throws(() => slope([1], [1]), RangeError);
    assert.throws(() => slope([2, 2], [1, 3]), RangeError);
    assert.throws(() => slope([1, 2], [1]), RangeError);
  });
});

describe('bench measurement discipline', () => {
  it('discards warm-up runs', async () => {
    const seen: number[] = [];
    const s = await measure({ warmup: 2, runs: 3 }, async (run) => {
      seen.push(run);
      return run < 0 ? 1e9 : run + 1;
    });
    assert.deepEqual(seen, [-1, -2, 0, 1, 2]);
    assert.deepEqual(s, { median: 2, min: 1, max: 3, n: 3 });
  });

  it('alternates which side of a pair goes first and takes the median of per-run ratios', async () => {
    const order: string[] = [];
    const ours = [10, 20, 30];
    const base = [5, 5, 60];
    const m = await measurePaired(
      { warmup: 1, runs: 3 },
      async (run) => {
        order.push(`o${run}`);
        return run < 0 ? 0 : ours[run]!;
      },
      async (run) => {
        order.push(`b${run}`);
        return run < 0 ? 1 : base[run]!;
      },
      (o, b) => o / b,
    );
    assert.deepEqual(order, ['b-1', 'o-1', 'o0', 'b0', 'b1', 'o1', 'o2', 'b2']);
    assert.equal(m.ours.median, 20);
    assert.equal(m.baseline.median, 5);
    // Ratios 2, 4, 0.5: the median of ratios (2), not the ratio of medians (4).
    assert.equal(m.ratio.median, 2);
    assert.equal(m.ratio.min, 0.5);
    assert.equal(m.ratio.max, 4);
  });
});

describe('bench report', () => {
  it('judges every target, on the value or on the ratio', () => {
    const targets = [
      { on: 'value', op: '>=', threshold: 300_000 },
      { on: 'ratio', op: '>=', threshold: 0.5 },
    ] as const;
    assert.equal(meetsTargets(result({ targets })), true);
    assert.equal(meetsTargets(result({ targets, value: 299_999 })), false);
    assert.equal(meetsTargets(result({ targets, ratio: 0.49 })), false);
    assert.equal(meetsTargets(result({ targets, ratio: null, baseline: null })), false);
    assert.equal(meetsTargets(result()), undefined);
    const lower = [{ on: 'value', op: '<=', threshold: 200 }] as const;
    assert.equal(meetsTargets(result({ value: 200, targets: lower })), true);
    assert.equal(meetsTargets(result({ value: 201, targets: lower })), false);
    assert.equal(withVerdict(result({ targets })).met, true);
    assert.equal('met' in withVerdict(result()), false);
  });

  it('a bound on max holds only when every run keeps it, not just the median', () => {
    const bound = [{ on: 'max', op: '<=', threshold: 405_000 }] as const;
    assert.equal(meetsTargets(result({ targets: bound, max: 405_000 })), true);
    // The median (value 400,000) is within the bound; one run (410,000) is not.
    assert.equal(meetsTargets(result({ targets: bound })), false);
  });

  it('accepts a well-formed report and survives a JSON round trip', () => {
    const r = report([
      withVerdict(result({ targets: [{ on: 'ratio', op: '>=', threshold: 0.5 }] })),
    ]);
    assert.deepEqual(reportShapeProblems(JSON.parse(JSON.stringify(r))), []);
  });

  it('names each problem of a malformed report', () => {
    assert.deepEqual(reportShapeProblems(null), ['report is not an object']);
    const bad = JSON.parse(JSON.stringify(report([result()]))) as {
      env: { physical: Record<string, unknown> };
      results: Record<string, unknown>[];
      failures?: unknown;
    };
    bad.env.physical['seqWriteMBps'] = 'fast';
    bad.results[0]!['value'] = 5; // outside [min, max]
    delete bad.results[0]!['ratio'];
    bad.results.push({
      name: '',
      value: 1,
      unit: 'x',
      baseline: null,
      ratio: 2,
      params: {},
      min: 1,
      max: 1,
    });
    delete bad.failures;
    const problems = reportShapeProblems(bad);
    assert.deepEqual(problems, [
      'env.physical.seqWriteMBps is not a finite number',
      'results[0].ratio is missing (use null when there is none)',
      'results[0]: value is not within [min, max]',
      'results[1].name is empty',
      'results[1] has a ratio but no baseline',
      'failures is not an array',
    ]);
  });

  it('formats numbers to about three significant digits', () => {
    assert.equal(formatNumber(1234567.8), '1,234,568');
    assert.equal(formatNumber(123.4), '123');
    assert.equal(formatNumber(12.34), '12.3');
    assert.equal(formatNumber(1.234), '1.23');
    assert.equal(formatNumber(0.01234), '0.012');
    assert.equal(formatNumber(0), '0');
  });

  it('prints one aligned row per result with the verdict', () => {
    const rows = [
      withVerdict(result({ targets: [{ on: 'ratio', op: '>=', threshold: 0.9 }] })),
      result({
        name: 'playback-memory',
        value: 80,
        unit: 'MiB',
        baseline: null,
        ratio: null,
        min: 70,
        max: 90,
        params: {},
      }),
    ];
    const lines = formatTable(rows).split('\n');
    assert.equal(lines.length, 4);
    assert.match(
      lines[2]!,
      /^record-small-ops\s+ops=1000\s+400,000\s+ops\/s\s+700,000\s+0\.57\s+ratio >= 0\.90\s+NO$/,
    );
    assert.match(lines[3]!, /^playback-memory\s+80\.0\s+MiB\s+-\s+-$/);
    // Columns line up: every line's "unit" column starts at the same place.
    const col = lines[0]!.indexOf('unit');
    assert.equal(lines[2]!.slice(col, col + 5), 'ops/s');
    assert.match(
      formatMarkdownTable(rows),
      /\| record-small-ops \| ops=1000 \| 400,000 \| ops\/s \| 700,000 \| 0\.57 \| ratio >= 0\.90 \| \*\*no\*\* \|/,
    );
  });
});

describe('bench chart', () => {
  it('plots the ratio target when there is one, the value target otherwise, parity for peers', () => {
    const rows = chartRows([
      withVerdict(
        result({
          targets: [
            { on: 'value', op: '>=', threshold: 300_000 },
            { on: 'ratio', op: '>=', threshold: 0.5 },
          ],
        }),
      ),
      withVerdict(
        result({
          name: 'playback-memory',
          value: 300,
          unit: 'MiB',
          min: 300,
          max: 300,
          targets: [{ on: 'value', op: '<=', threshold: 200 }],
        }),
      ),
      result({ name: 'peer-hypercore', ratio: 3, label: 'peer-hypercore (100 B)' }),
      result({ name: 'peer-no-figure', baseline: null, ratio: null }),
      result({ name: 'scaling', ratio: 1.1 }),
    ]);
    assert.equal(rows.length, 3);
    assert.ok(Math.abs(rows[0]!.scaled - 0.57 / 0.5) < 1e-12);
    assert.equal(rows[0]!.state, 'met');
    assert.equal(rows[1]!.scaled, 1.5);
    assert.equal(rows[1]!.state, 'missed');
    assert.equal(rows[1]!.lowerIsBetter, true);
    assert.equal(rows[2]!.scaled, 3);
    assert.equal(rows[2]!.label, 'peer-hypercore (100 B)');
    assert.equal(rows[0]!.label, 'record-small-ops  ops=1000');
    assert.equal(rows[2]!.state, 'none');
  });

  it('renders an SVG document with one bar per plotted result and escaped labels', () => {
    const svg = renderSvg(
      report([
        result({
          params: { note: '<a&b>' },
          targets: [{ on: 'ratio', op: '>=', threshold: 0.5 }],
        }),
        result({ name: 'scaling', params: { logMiB: 16 } }),
        result({ name: 'peer-classic-level', ratio: 10 }),
      ]),
    );
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assert.equal((svg.match(/<rect [^>]*rx="2"/g) ?? []).length, 2);
    assert.ok(svg.includes('note=&lt;a&amp;b&gt;'));
    assert.ok(!svg.includes('<a&b>'));
    // A ratio beyond the drawable range is clipped and marked.
    assert.ok(svg.includes('>»</text>'));
    // Every opened text element is closed.
    assert.equal((svg.match(/<text /g) ?? []).length, (svg.match(/<\/text>/g) ?? []).length);
  });

  it('escapes all XML metacharacters', () => {
    assert.equal(escapeXml(`<"a" & 'b'>`), '&lt;&quot;a&quot; &amp; &apos;b&apos;&gt;');
  });
});

describe('bench frame scanner', () => {
  function op(seqNo: number, body: Partial<RecordedOp>): Uint8Array {
    return encodeFrame(
      encodeRecordedOp({
        seqNo,
        checksum: 0x1234,
        author: 99,
        firstOffset: 0,
        lastOffset: 0,
        log: '',
        ...body,
      }),
    );
  }

  it('finds frames, creates and write payloads in library-encoded logs', () => {
    const payload = new Uint8Array(300).fill(7);
    const parts = [
      op(1, { create: { path: '/a' } }),
      op(2, { write: { fnode: 1, offset: 0, length: 300, payloadCrc32c: 0xdeadbeef } }),
      payload,
      op(3, { write: { fnode: 1, offset: 70_000_000_000, length: 0 } }),
      op(4, { unlink: { fnode: 1, path: '/a' } }),
    ];
    const log = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) {
      log.set(p, at);
      at += p.length;
    }
    const { frames, consumed } = scanFrames(log, 1000);
    assert.equal(consumed, log.length);
    assert.deepEqual(
      frames.map((f) => [f.seqNo, f.isCreate, f.write?.fnode, f.write?.offset, f.write?.length]),
      [
        [1, true, undefined, undefined, undefined],
        [2, false, 1, 0, 300],
        [3, false, 1, 70_000_000_000, 0],
        [4, false, undefined, undefined, undefined],
      ],
    );
    const w = frames[1]!;
    assert.equal(w.begin, 1000 + parts[0]!.length);
    assert.equal(w.write!.payloadBegin, w.begin + parts[1]!.length);
    assert.equal(w.end, w.write!.payloadBegin + 300);
    assert.equal(frames[3]!.end, 1000 + log.length);

    // Cut inside the payload: the scan stops before the incomplete frame.
    const cut = scanFrames(log.subarray(0, parts[0]!.length + parts[1]!.length + 10));
    assert.equal(cut.frames.length, 1);
    assert.equal(cut.consumed, parts[0]!.length);
  });

  it('rejects bytes that are not frames', () => {
    assert.throws(() => scanFrames(new Uint8Array(16).fill(1), 5), FrameScanError);
    assert.throws(() => scanFrames(new Uint8Array(16).fill(1), 5), /byte 5/);
  });
});

describe('bench profile reader', () => {
  it('decodes source-map VLQ mappings (relative fields, negative deltas)', () => {
    // Line 0: col 0 -> src 0 line 0; col 4 -> line 0. Line 1: col 0 -> line 1.
    // Line 2: col 2 -> line 0 (line delta -1: "D"), then col 7 -> src 1 line 5 ("K" = +5).
    assert.deepEqual(decodeMappings('AAAA,IAAI;AACA;EADA,KCKA'), [
      [
        [0, 0, 0],
        [4, 0, 0],
      ],
      [[0, 0, 1]],
      [
        [2, 0, 0],
        [7, 1, 5],
      ],
    ]);
    // Multi-digit VLQ: "gB" is 16.
    assert.deepEqual(decodeMappings('gBAgBA'), [[[16, 0, 16]]]);
  });

  it('attributes self time to the sampled function and total time to every caller once', () => {
    const frame = (functionName: string) => ({
      functionName,
      url: '',
      lineNumber: 0,
      columnNumber: 0,
    });
    const spots = hotSpots({
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2] },
        { id: 2, callFrame: frame('outer'), children: [3, 4] },
        { id: 3, callFrame: frame('leaf'), children: [5] },
        { id: 4, callFrame: frame('other') },
        // Recursion: outer -> leaf -> outer counts outer once per sample.
        { id: 5, callFrame: frame('outer') },
      ],
      samples: [3, 3, 4, 5],
      timeDeltas: [1000, 1000, 2000, 4000],
    });
    const by = new Map(spots.map((s) => [s.where, s]));
    assert.deepEqual(by.get('leaf'), { where: 'leaf', selfMs: 2, totalMs: 6 });
    assert.deepEqual(by.get('other'), { where: 'other', selfMs: 2, totalMs: 2 });
    assert.deepEqual(by.get('outer'), { where: 'outer', selfMs: 4, totalMs: 8 });
    assert.equal(by.get('(root)')!.totalMs, 8);
  });
});
