// Host-side tests of the dm-flakey harness (test/crash/dmflakey/): its pure parts (dm tables,
// extent mapping, the damage scan, the lineage oracle, the error-window rules) and one short
// end-to-end pass of its recording child and checks on a plain directory (no device-mapper: the
// power cuts themselves need the VM, run.sh). The checker must be able to fail, so each check is
// also fed a case it must reject.
import assert from 'node:assert/strict';
import { mkdtemp, rm, truncate, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32c, encodeCommitRecord } from '../../src/journal/commit-record.js';
import { ChildHandle } from '../crash/dmflakey/child-handle.js';
import { damageVerdict, scanJournalFiles } from '../crash/dmflakey/damage.js';
import { mergeRanges, parseFilefrag, segmentsFor } from '../crash/dmflakey/extents.js';
import { flakeyTable, flakeyTableLines, type FlakeyMode } from '../crash/dmflakey/flakey.js';
import { Lineage, errorWindowViolations, treeOpOf } from '../crash/dmflakey/lineage.js';
import { planRounds } from '../crash/dmflakey/powercut.js';
import {
  monotonicMicros,
  parseReport,
  type ChildReport,
  type Outcome,
} from '../crash/dmflakey/protocol.js';
import { checkLineageRecovery } from '../crash/dmflakey/recovery-check.js';
import { payloadBytes, type KillOp } from '../crash/kill/model.js';
import { stateKey } from '../crash/lib/tree-model.js';

describe('dm-flakey harness: tables (go-dmflakey formats)', () => {
  it('writes allow, drop, error and corrupt tables', () => {
    assert.equal(
      flakeyTable('/dev/vda', 1024, { kind: 'allow' }),
      '0 1024 flakey /dev/vda 0 3600 0',
    );
    assert.equal(
      flakeyTable('/dev/vda', 1024, { kind: 'drop' }),
      '0 1024 flakey /dev/vda 0 0 3600 1 drop_writes',
    );
    assert.equal(
      flakeyTable('/dev/vda', 1024, { kind: 'error' }),
      '0 1024 flakey /dev/vda 0 0 3600 1 error_writes',
    );
    assert.equal(
      flakeyTable('/dev/vda', 1024, { kind: 'random-write-corrupt', probability: 0.001 }),
      '0 1024 flakey /dev/vda 0 0 3600 2 random_write_corrupt 1000000',
    );
  });

  it('maps each segment of a multi-target table onto the same sectors of the device', () => {
    const table = flakeyTableLines(
      '/dev/vda',
      segmentsFor<FlakeyMode>(
        1000,
        [{ start: 100, length: 50 }],
        { kind: 'random-write-corrupt', probability: 0.5 },
        { kind: 'allow' },
      ),
    );
    assert.equal(
      table,
      [
        '0 100 flakey /dev/vda 0 3600 0',
        '100 50 flakey /dev/vda 100 0 3600 2 random_write_corrupt 500000000',
        '150 850 flakey /dev/vda 150 3600 0',
      ].join('\n'),
    );
    assert.throws(
      () =>
        flakeyTableLines('/dev/vda', [
          { start: 0, length: 10, mode: { kind: 'allow' } },
          { start: 20, length: 10, mode: { kind: 'allow' } },
        ]),
      /contiguous/,
    );
  });
});

describe('dm-flakey harness: extents', () => {
  // Real `filefrag -v` output from the test VM (e2fsprogs 1.47): a 16 MiB --keep-size
  // preallocation, and a 5000-byte file.
  const preallocated = [
    'Filesystem type is: ef53',
    'File size of /mnt/x/data is 0 (0 blocks of 4096 bytes)',
    ' ext:     logical_offset:        physical_offset: length:   expected: flags:',
    '   0:        0..    4095:      36864..     40959:   4096:             last,unwritten,eof',
    '/mnt/x/data: 1 extent found',
  ].join('\n');

  it('reads physical extents, unwritten ones included, in 512-byte sectors', () => {
    assert.deepEqual(parseFilefrag(preallocated), [{ start: 36864 * 8, length: 4096 * 8 }]);
    const two = preallocated.replace(
      '   0:        0..    4095:      36864..     40959:   4096:             last,unwritten,eof',
      '   0:        0..       1:      33280..     33281:      2:\n   1:        2..       3:      50000..     50001:      2:      33282: last,eof',
    );
    assert.deepEqual(parseFilefrag(two), [
      { start: 33280 * 8, length: 16 },
      { start: 50000 * 8, length: 16 },
    ]);
    assert.deepEqual(
      parseFilefrag('File size of e is 0 (0 blocks of 4096 bytes)\ne: 0 extents found'),
      [],
    );
    assert.throws(() => parseFilefrag('garbage'), /block size/);
  });

  it('merges ranges and splits a device into inside/outside segments', () => {
    assert.deepEqual(
      mergeRanges([
        { start: 50, length: 10 },
        { start: 0, length: 10 },
        { start: 10, length: 5 },
        { start: 55, length: 20 },
      ]),
      [
        { start: 0, length: 15 },
        { start: 50, length: 25 },
      ],
    );
    assert.deepEqual(segmentsFor(100, [{ start: 0, length: 100 }], 'in', 'out'), [
      { start: 0, length: 100, mode: 'in' },
    ]);
    assert.deepEqual(segmentsFor(100, [], 'in', 'out'), [{ start: 0, length: 100, mode: 'out' }]);
    assert.throws(() => segmentsFor(100, [{ start: 90, length: 20 }], 'in', 'out'), /beyond/);
  });
});

/** A journal's files as FileJournal writes them: batches of data, one commit record each. */
function journalFiles(batches: Uint8Array[]): {
  data: Uint8Array;
  commits: Buffer;
  ends: number[];
} {
  const data = Buffer.concat(batches);
  const records: Buffer[] = [];
  const ends: number[] = [];
  let begin = 0;
  for (const batch of batches) {
    const end = begin + batch.length;
    records.push(encodeCommitRecord({ begin, end, dataCrc: crc32c(batch), registersAt: -1 }));
    ends.push(end);
    begin = end;
  }
  return { data, commits: Buffer.concat(records), ends };
}

const batches = [0, 1, 2, 3].map((n) => new Uint8Array(100 + n).fill(n + 1));

describe('dm-flakey harness: damage scan', () => {
  it('finds no damage in intact files, or in a torn tail', () => {
    const { data, commits } = journalFiles(batches);
    assert.deepEqual(scanJournalFiles(data, commits).damaged, []);
    const torn = scanJournalFiles(data, commits.subarray(0, commits.length - 7));
    assert.equal(torn.records, 3);
    assert.deepEqual(torn.damaged, []);
    assert.deepEqual(damageVerdict(torn, 0), { kind: 'crash' });
  });

  it('locates a corrupt data byte and says whether it was acknowledged', () => {
    const { data, commits, ends } = journalFiles(batches);
    const bad = Buffer.from(data);
    bad[ends[0]! + 5]! ^= 0x10; // inside batch 1
    const scan = scanJournalFiles(bad, commits);
    assert.equal(scan.damaged.length, 1);
    assert.equal(scan.damaged[0]!.begin, ends[0]);
    assert.equal(scan.damaged[0]!.where, 'data');
    assert.deepEqual(damageVerdict(scan, ends[3]!), {
      kind: 'media',
      acknowledged: true,
      lastCommit: false,
    });
    assert.deepEqual(damageVerdict(scan, ends[0]!), {
      kind: 'media',
      acknowledged: false,
      lastCommit: false,
    });
  });

  it('counts a mismatch in the last commit as damage: its data was synced before its record', () => {
    const { data, commits, ends } = journalFiles(batches);
    const bad = Buffer.from(data);
    bad[ends[2]! + 1]! ^= 0x01; // inside the last batch
    const scan = scanJournalFiles(bad, commits);
    assert.equal(scan.damaged[0]!.last, true);
    assert.deepEqual(damageVerdict(scan, ends[3]!), {
      kind: 'media',
      acknowledged: true,
      lastCommit: true,
    });
    assert.deepEqual(damageVerdict(scan, ends[2]!), {
      kind: 'media',
      acknowledged: false,
      lastCommit: true,
    });
  });

  it('tells an unreadable acknowledged last record from a torn one', () => {
    const { data, commits, ends } = journalFiles(batches);
    const bad = Buffer.from(commits);
    bad[bad.length - 10]! ^= 0x20; // inside the last record
    const scan = scanJournalFiles(data, bad);
    assert.deepEqual([scan.records, scan.committedHead, scan.damaged.length], [3, ends[2], 0]);
    // Its batch was acknowledged: the record was complete once, so this is damage.
    assert.deepEqual(damageVerdict(scan, ends[3]!), {
      kind: 'media',
      acknowledged: true,
      lastCommit: true,
    });
    // Not acknowledged: a record cut short by the power cut looks the same.
    assert.deepEqual(damageVerdict(scan, ends[2]!), { kind: 'crash' });
  });

  it('spots a damaged commit record followed by valid ones', () => {
    const { data, commits, ends } = journalFiles(batches);
    const bad = Buffer.from(commits);
    bad[48 + 20]! ^= 0xff; // record 1 (each is 48 bytes without registers)
    const scan = scanJournalFiles(data, bad);
    assert.equal(scan.records, 3);
    assert.deepEqual(
      scan.damaged.map((d) => [d.where, d.begin, d.end]),
      [['commits', ends[0], ends[1]]],
    );
    assert.equal(damageVerdict(scan, ends[3]!).kind, 'media');
  });
});

function at(n: number): number {
  return 1_000_000 + n * 1000;
}

/** Reports of a child that recovered an empty tree and recorded `ops`. */
function childReports(
  ops: KillOp[],
  options: { acks?: [i: number, when: number][]; checksum?: number; key?: string } = {},
): ChildReport[] {
  const reports: ChildReport[] = [
    { t: 'loaded', at: at(0) },
    { t: 'opened', at: at(1), created: true, head: 0 },
    {
      t: 'recovered',
      at: at(2),
      key: options.key ?? '',
      seqNo: 2,
      checksum: 7,
      hinted: false,
      playMs: 5,
    },
    { t: 'ready', at: at(3) },
  ];
  ops.forEach((op, n) => {
    reports.push({ t: 'op', at: at(10 + n), i: n + 1, op });
    reports.push({ t: 'post', at: at(10 + n), i: n + 1, seqNo: 3 + n, checksum: 100 + n });
  });
  for (const [i, when] of options.acks ?? []) reports.push({ t: 'ack', at: at(when), i, head: 0 });
  return reports;
}

const OPS: KillOp[] = [
  { kind: 'create', path: '/a' },
  { kind: 'write', path: '/a', offset: 0, data: { seed: 5, length: 40 } },
  { kind: 'link', from: '/a', to: '/b' },
];

describe('dm-flakey harness: lineage oracle', () => {
  it('spells out workload ops in the shared vocabulary', () => {
    assert.deepEqual(treeOpOf({ kind: 'rename', from: '/a', to: '/IDENTITY' }), {
      kind: 'rename',
      from: '/a',
      to: '/IDENTITY',
    });
    const write = treeOpOf(OPS[1]!);
    assert.equal(write.kind, 'write');
    assert.deepEqual(
      write.kind === 'write' && 'b64' in write.data
        ? Buffer.from(write.data.b64, 'base64')
        : undefined,
      payloadBytes({ seed: 5, length: 40 }),
    );
  });

  it('folds a child into the ledger: hand-off no-op, ops, acknowledgements before the cut', () => {
    const lineage = new Lineage('crash/unit', '/nowhere');
    const result = lineage.absorb({
      author: 0x10,
      startedAt: at(1),
      reports: childReports(OPS, {
        acks: [
          [2, 20],
          [3, 40],
        ],
      }),
    });
    assert.deepEqual(result, { violations: [], ops: 3, acks: 2 });
    assert.equal(lineage.ledger.history.length, 4); // no-op + 3 ops
    assert.equal(lineage.ledger.history[0]!.op.kind, 'noop');
    assert.equal(lineage.expectation(at(30)).acked, 3); // no-op, create, write
    assert.equal(lineage.expectation(at(50)).acked, 4);
    assert.equal(lineage.expectation(undefined).acked, 4);
    assert.equal(lineage.expectation(at(30)).written, 4);
    assert.equal(lineage.ackedSeqNo, 4); // op 3's post said next SeqNo 5
    assert.deepEqual(lineage.expectation(at(30)).seqNoAfter, [1, 2, 3, 4, 5]);
  });

  it('reports a child that recovered another tree than the driver (I6) and an unfenced zombie (I3)', () => {
    const lineage = new Lineage('crash/unit', '/nowhere');
    lineage.absorb({ author: 0x10, startedAt: at(1), reports: childReports(OPS.slice(0, 1)) });
    const s1 = stateKey(lineage.ledger.current);
    lineage.settle(2, { key: s1, nextSeqNo: 3, nextChecksum: 9 });

    const reports = childReports([], { key: '/other=0:x' });
    const notFenced: Outcome = { ok: true };
    reports.push({
      t: 'zombie',
      at: at(5),
      author: 0x10,
      path: '/zombie-10',
      fenced: false,
      outcome: notFenced,
    });
    const result = lineage.absorb({ author: 0x11, startedAt: at(1), reports });
    assert.deepEqual(
      result.violations.map((v) => v.invariant),
      ['I6', 'I3', 'I3'], // other tree; SeqNo 2 is not 3 + 1; zombie
    );
    assert.deepEqual(lineage.expectation(undefined).zombiePaths, ['/zombie-10']);
  });

  it('leaves out ops the file system refused before anything was recorded', () => {
    const lineage = new Lineage('crash/unit', '/nowhere');
    const reports = childReports(OPS.slice(0, 1));
    reports.push({ t: 'op', at: at(30), i: 2, op: { kind: 'link', from: '/a', to: '/z' } });
    reports.push({
      t: 'fail',
      at: at(31),
      i: 2,
      what: 'record',
      recorded: false,
      outcome: { ok: false, typed: false, errorCode: 'EROFS' },
    });
    reports.push({ t: 'op', at: at(32), i: 3, op: { kind: 'create', path: '/z' } });
    const result = lineage.absorb({ author: 1, startedAt: at(1), reports });
    assert.deepEqual(result.violations, []);
    assert.deepEqual(
      lineage.ledger.history.map((e) => e.op.kind),
      ['noop', 'create', 'create'],
    );
  });
});

describe('dm-flakey harness: error_writes window rules', () => {
  const typed: Outcome = {
    ok: false,
    typed: true,
    errorName: 'JournalWriteError',
    errorCode: 'JournalWriteError',
  };
  const refused: Outcome = {
    ok: false,
    typed: true,
    errorName: 'JournalFailedError',
    errorCode: 'JournalFailed',
  };
  const base: ChildReport[] = [
    { t: 'ack', at: at(1), i: 1, head: 10 },
    { t: 'fail', at: at(2), i: 2, what: 'barrier', outcome: typed },
    { t: 'fail', at: at(3), i: -1, what: 'barrier-after-failure', outcome: typed },
    { t: 'stopped', at: at(4) },
    { t: 'probe', at: at(5), barrier: typed, append: refused },
  ];

  it('accepts a failed sync that acknowledges nothing afterwards', () => {
    assert.deepEqual(errorWindowViolations(base, 1000), []);
  });

  it('rejects a window where nothing failed', () => {
    assert.match(errorWindowViolations(base.slice(0, 1), 1000)[0]!.message, /nothing failed/);
  });

  it('rejects an acknowledgement after a failed sync', () => {
    const late: ChildReport = { t: 'ack', at: at(3), i: 3, head: 20 };
    assert.match(errorWindowViolations([...base, late], 1000)[0]!.message, /after one failed/);
  });

  it('rejects a failed Recorder or journal that works again once writes do', () => {
    const probe: ChildReport = {
      t: 'probe',
      at: at(5),
      barrier: { ok: true },
      append: { ok: true },
    };
    assert.equal(errorWindowViolations([...base.slice(0, 4), probe], 1000).length, 2);
    // Tried again (and failed again) instead of refusing: not good enough after a failed sync.
    const again: ChildReport = { t: 'probe', at: at(5), barrier: typed, append: typed };
    assert.match(
      errorWindowViolations([...base.slice(0, 4), again], 1000)[0]!.message,
      /JournalFailedError/,
    );
    const raw: Outcome = { ok: false, typed: false, errorName: 'Error', errorCode: 'EROFS' };
    const lockFailed: ChildReport[] = [
      {
        t: 'fail',
        at: at(2),
        i: 2,
        what: 'barrier',
        outcome: { ...refused, errorCode: 'RegisterMismatch' },
      },
      { t: 'probe', at: at(5), barrier: typed, append: raw },
    ];
    assert.match(errorWindowViolations(lockFailed, 1000)[0]!.message, /untyped/);
  });

  it('rejects an untyped sync failure but not a file system error on a recording call', () => {
    const untyped: Outcome = { ok: false, typed: false, errorName: 'Error', errorCode: 'EIO' };
    const bad: ChildReport[] = [{ t: 'fail', at: at(2), i: 2, what: 'barrier', outcome: untyped }];
    assert.match(errorWindowViolations(bad, 1000)[0]!.message, /untyped/);
    const fsRefused: ChildReport[] = [
      { t: 'fail', at: at(2), i: 2, what: 'record', recorded: false, outcome: untyped },
      { t: 'ack', at: at(3), i: 1, head: 10 }, // nothing pending: the barrier synced nothing
    ];
    assert.deepEqual(errorWindowViolations(fsRefused, 1000), []);
  });
});

describe('dm-flakey harness: plan and protocol', () => {
  it('plans every cut, with a tenth each for error windows and corruption', () => {
    for (const cuts of [4, 10, 30, 61]) {
      for (const corrupt of [true, false]) {
        const plans = planRounds(cuts, corrupt);
        assert.equal(
          plans.reduce((n, p) => n + p.cycles, 0),
          cuts,
        );
        assert.equal(
          plans.some((p) => p.fault === 'corrupt'),
          corrupt,
        );
      }
    }
    assert.deepEqual(
      planRounds(30, true).map((p) => [p.label, p.cycles]),
      [
        ['commit=1000', 12],
        ['commit=5', 12],
        ['error_writes', 3],
        ['random_write_corrupt', 3],
      ],
    );
  });

  it('parses report lines and ignores anything else', () => {
    assert.deepEqual(parseReport('{"t":"ready","at":5}'), { t: 'ready', at: 5 });
    assert.equal(parseReport('(node:1) Warning: something'), undefined);
    assert.equal(parseReport('{"at":5}'), undefined);
    assert.equal(parseReport('{"t":"ready"'), undefined);
  });
});

describe('dm-flakey harness: recording child and checks on a plain directory', function () {
  this.timeout(60_000);
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'dmflakey-harness-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** Runs a child until it has `acks` acknowledgements, kills it, folds it into the lineage. */
  async function generation(lineage: Lineage, author: number, acks: number) {
    const child = new ChildHandle();
    await child.loaded;
    const startedAt = monotonicMicros();
    child.start({
      journalDir: lineage.journalDir,
      journalName: lineage.name,
      hintsDir: lineage.hintsDir,
      treeDir: lineage.treeDir,
      author,
      zombieAuthor: lineage.lastAuthor,
      seed: author,
    });
    const enough = await child.waitFor((r) => r.t === 'ack' && r.i >= acks, 30_000);
    await child.kill();
    assert.ok(enough, `the child did not acknowledge ${acks} ops: ${child.stderrTail()}`);
    const cutAt = monotonicMicros();
    return {
      child,
      absorbed: lineage.absorb({ author, startedAt, reports: child.reports }),
      cutAt,
    };
  }

  it('records, is killed, recovers; the next child continues and fences the previous one', async () => {
    const lineage = new Lineage('crash/host', join(root, 'ok'));
    const random = () => 0.5;
    for (const author of [0x21, 0x22]) {
      const { child, absorbed, cutAt } = await generation(lineage, author, 12);
      assert.deepEqual(absorbed.violations, []);
      if (author === 0x22) {
        const zombie = child.reports.find((r) => r.t === 'zombie');
        assert.ok(zombie?.t === 'zombie' && zombie.fenced, 'the previous author was not fenced');
      }
      const check = await checkLineageRecovery(lineage, lineage.expectation(cutAt), {
        damage: { kind: 'crash' },
        random,
      });
      assert.deepEqual(check.violations, []);
      assert.ok(check.k !== undefined && check.checked !== undefined);
      assert.ok(lineage.expectation(cutAt).acked >= 12);
      lineage.settle(check.k, check.checked);
    }
  });

  it('reports acknowledged ops that the journal lost (I2)', async () => {
    const lineage = new Lineage('crash/host-loss', join(root, 'loss'));
    const { cutAt } = await generation(lineage, 0x31, 12);
    // Lose the second half of the journal, as a power cut would if syncs were missing.
    const data = join(lineage.journalDir, 'data');
    await truncate(data, Math.floor((await stat(data)).size / 2));
    const check = await checkLineageRecovery(lineage, lineage.expectation(cutAt), {
      damage: { kind: 'crash' },
      random: () => 0.5,
    });
    assert.ok(
      check.violations.some((v) => v.invariant === 'I2' || v.invariant === 'I5'),
      JSON.stringify(check.violations),
    );
  });
});
