// Host-side tests of the dm-flakey harness (test/crash/dmflakey/): its pure parts (dm tables,
// extent and free-block mapping, the damage scan of a v2 journal's fragment files, the lineage
// oracle, the storage-event bookkeeping, the error-window rules) and a short end-to-end pass of
// its recording child and checks on a plain directory (no device-mapper: the power cuts
// themselves need the VM, run.sh), with small fragments and prune. The checker must be able to
// fail, so each check is also fed a case it must reject.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileJournal } from '../../src/journal/file.js';
import { pruneMark } from '../../src/journal/fragment-layout.js';
import { COMMIT, decodeRecord, type Decoded } from '../../src/journal/fragment-record.js';
import { nodeStorage } from '../../src/journal/storage.js';
import { ChildHandle } from '../crash/dmflakey/child-handle.js';
import { damageVerdict, gapFrom, scanJournalFiles } from '../crash/dmflakey/damage.js';
import {
  mergeRanges,
  parseFilefrag,
  parseFreeBlocks,
  segmentsFor,
} from '../crash/dmflakey/extents.js';
import { flakeyTable, flakeyTableLines, type FlakeyMode } from '../crash/dmflakey/flakey.js';
import { eventStorage } from '../crash/dmflakey/journal-events.js';
import {
  Lineage,
  errorWindowViolations,
  storageActivity,
  treeOpOf,
} from '../crash/dmflakey/lineage.js';
import { planRounds, readJournalFiles } from '../crash/dmflakey/powercut.js';
import {
  monotonicMicros,
  parseReport,
  type ChildReport,
  type Outcome,
  type StorageEvent,
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

  it('maps a device that starts further into the backing disk', () => {
    assert.equal(
      flakeyTable('/dev/vda', 1024, { kind: 'drop' }, 4096),
      '0 1024 flakey /dev/vda 4096 0 3600 1 drop_writes',
    );
    assert.equal(
      flakeyTableLines(
        '/dev/vda',
        [
          { start: 0, length: 8, mode: { kind: 'allow' } },
          { start: 8, length: 8, mode: { kind: 'random-write-corrupt', probability: 1 } },
        ],
        100,
      ),
      [
        '0 8 flakey /dev/vda 100 3600 0',
        '8 8 flakey /dev/vda 108 0 3600 2 random_write_corrupt 1000000000',
      ].join('\n'),
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

  // Real `dumpe2fs` output (e2fsprogs 1.47.0) of a fresh 128 MiB ext4 with 4 KiB blocks, cut
  // down; the second group's line is made up to cover lists.
  const dumpe2fs = [
    'Filesystem magic number:  0xEF53',
    'Free blocks:              26599',
    'Free inodes:              32757',
    'Block size:               4096',
    '',
    'Group 0: (Blocks 0-32767) csum 0xddb3 [ITABLE_ZEROED]',
    '  Primary superblock at 0, Group descriptors at 1-1',
    '  Inode table at 49-2096 (+49)',
    '  26599 free blocks, 32757 free inodes, 2 directories, 32757 unused inodes',
    '  Free blocks: 6169-32767',
    '  Free inodes: 12-32768',
    'Group 1: (Blocks 32768-65535) csum 0x1234 [INODE_UNINIT]',
    '  Free blocks: 32768-32800, 33000, 40000-40001',
    '  Free inodes: ',
    'Group 2: (Blocks 65536-98303) csum 0x1234',
    '  Free blocks: ',
  ].join('\n');

  it('reads the free blocks of an unmounted ext4 (not the superblock count), in sectors', () => {
    assert.deepEqual(parseFreeBlocks(dumpe2fs), [
      { start: 6169 * 8, length: (32800 - 6169 + 1) * 8 },
      { start: 33000 * 8, length: 8 },
      { start: 40000 * 8, length: 16 },
    ]);
    assert.throws(() => parseFreeBlocks('Free blocks: 1-2'), /block size/);
    assert.throws(
      () => parseFreeBlocks('Block size: 4096\n  Free blocks: 9-x'),
      /unreadable free block range/,
    );
  });
});

/** The records of an index file, in order (position, length, kind, data range). */
function recordsOf(index: Uint8Array): Decoded[] {
  const out: Decoded[] = [];
  for (let at = 0; at < index.byteLength;) {
    const decoded = decodeRecord(index, at, 0);
    if (decoded.kind !== 'record') break;
    out.push(decoded.record);
    at += decoded.record.length;
  }
  return out;
}

/**
 * A real v2 journal: 7 appends of 100-106 bytes into fragments of >= 250 bytes (three commits
 * each: epochs 1, 2 and 3), closed (every fragment sealed). Returns its files and the end of
 * each append.
 */
async function realJournal(
  root: string,
): Promise<{ files: Map<string, Uint8Array>; ends: number[] }> {
  const dir = await mkdtemp(join(root, 'journal-'));
  const journal = await FileJournal.create(dir, 'crash/damage', { fragmentBytes: 250 });
  const ends: number[] = [];
  for (let n = 0; n < 7; n++) {
    ends.push((await journal.append(new Uint8Array(100 + n).fill(n + 1))).end);
  }
  await journal.close();
  return { files: await readJournalFiles(dir), ends };
}

/** Reads the whole journal the files make up, as the library does: its head, or its error code. */
async function libraryReads(
  root: string,
  files: ReadonlyMap<string, Uint8Array>,
): Promise<{ head: number } | { error: string }> {
  const dir = await mkdtemp(join(root, 'copy-'));
  for (const [name, bytes] of files) await writeFile(join(dir, name), bytes);
  let journal: FileJournal | undefined;
  try {
    journal = await FileJournal.open(dir, { readOnly: true });
    const head = await journal.head();
    for (let offset = journal.low; offset < head;) {
      const { offset: at, bytes } = await journal.read(offset, { blocking: false });
      offset = at + bytes.byteLength;
    }
    return { head };
  } catch (error) {
    return { error: (error as { code?: string }).code ?? String(error) };
  } finally {
    await journal?.close();
  }
}

function withFile(
  files: ReadonlyMap<string, Uint8Array>,
  name: string,
  change: (bytes: Buffer) => Uint8Array,
): Map<string, Uint8Array> {
  const copy = new Map(files);
  copy.set(name, change(Buffer.from(files.get(name)!)));
  return copy;
}

function flip(at: number): (bytes: Buffer) => Buffer {
  return (bytes) => {
    bytes[at]! ^= 0x10;
    return bytes;
  };
}

describe('dm-flakey harness: damage scan (v2 fragments)', function () {
  this.timeout(20_000);
  let root: string;
  let files: Map<string, Uint8Array>;
  let ends: number[];
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'dmflakey-damage-'));
    ({ files, ends } = await realJournal(root));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const head = (): number => ends[6]!;

  it('reads a journal of sealed fragments as undamaged', async () => {
    const scan = scanJournalFiles(files);
    assert.deepEqual(
      scan.fragments.map((f) => [f.epoch, f.state, f.begin, f.end]),
      [
        [1, 'sealed', 0, ends[2]],
        [2, 'sealed', ends[2], ends[5]],
        [3, 'sealed', ends[5], ends[6]],
      ],
    );
    assert.equal(scan.committedHead, head());
    assert.deepEqual(scan.damaged, []);
    assert.deepEqual(damageVerdict(scan, head()), { kind: 'crash' });
    assert.deepEqual(await libraryReads(root, files), { head: head() });
  });

  it('finds a damaged data byte, which the library refuses to read', async () => {
    // Epoch 2's data: its second commit (the journal's fifth append), inline in its index.
    const second = recordsOf(files.get('0000000002.index')!).find(
      (r) => r.kind === COMMIT && r.begin === ends[3],
    );
    const payloadAt = (second as { payloadAt: number }).payloadAt;
    const bad = withFile(files, '0000000002.index', flip(payloadAt + 7));
    const scan = scanJournalFiles(bad);
    assert.deepEqual(
      scan.damaged.map((d) => [d.where, d.begin, d.end, d.last]),
      [['data', ends[3], ends[4], false]],
    );
    assert.deepEqual(damageVerdict(scan, head()), {
      kind: 'media',
      acknowledged: true,
      lastCommit: false,
    });
    assert.deepEqual(await libraryReads(root, bad), { error: 'JournalCorrupt' });
  });

  it('finds a damaged record that a valid record follows, and a damaged START', async () => {
    const index = files.get('0000000002.index')!;
    const [start, first] = recordsOf(index);
    const record = withFile(files, '0000000002.index', flip(first!.position + 20));
    const scan = scanJournalFiles(record);
    assert.deepEqual(
      scan.damaged.map((d) => [d.where, d.begin, d.end]),
      [['index', ends[2], ends[3]]],
    );
    assert.equal(damageVerdict(scan, head()).kind, 'media');
    assert.deepEqual(await libraryReads(root, record), { error: 'JournalCorrupt' });

    const startDamaged = withFile(files, '0000000002.index', flip(start!.position + 20));
    const scan2 = scanJournalFiles(startDamaged);
    assert.ok(scan2.fragments[1]!.startDamaged);
    assert.deepEqual(
      scan2.damaged.map((d) => [d.where, d.begin, d.end]),
      [['index', ends[2], ends[5]]],
    );
    assert.deepEqual(await libraryReads(root, startDamaged), { error: 'JournalCorrupt' });
  });

  it('finds commits an older fragment lost (its successor says where it ended)', async () => {
    // Epoch 1's index without its last commit and SEAL: unreadable bytes at its end.
    const records = recordsOf(files.get('0000000001.index')!);
    const lastCommit = records.at(-2)!;
    const bad = withFile(files, '0000000001.index', (bytes) => {
      bytes.fill(0xee, lastCommit.position);
      return bytes;
    });
    const scan = scanJournalFiles(bad);
    assert.deepEqual(
      scan.damaged.map((d) => [d.where, d.begin, d.end]),
      [['index', ends[1], ends[2]]],
    );
    assert.deepEqual(await libraryReads(root, bad), { error: 'JournalCorrupt' });
  });

  it('takes a damaged SEAL of an older fragment for no damage, as the library does', async () => {
    const seal = recordsOf(files.get('0000000001.index')!).at(-1)!;
    const bad = withFile(files, '0000000001.index', flip(seal.position + 30));
    const scan = scanJournalFiles(bad);
    assert.deepEqual(scan.damaged, []);
    assert.equal(scan.fragments[0]!.tailBytes, seal.length);
    assert.deepEqual(await libraryReads(root, bad), { head: head() });
  });

  it('tells the unconfirmed last commit (the documented gap) from a torn tail', async () => {
    // The newest fragment as a cut leaves it before the writer confirmed its last commit (no
    // SEAL, no empty COMMIT after it), with one byte of that commit record damaged.
    const records = recordsOf(files.get('0000000003.index')!);
    const last = records.find((r) => r.kind === COMMIT && r.end > r.begin)!;
    const unconfirmed = withFile(files, '0000000003.index', (bytes) => {
      const cut = Buffer.from(bytes.subarray(0, last.position + last.length));
      cut[last.position + 20]! ^= 0x01;
      return cut;
    });
    const scan = scanJournalFiles(unconfirmed);
    assert.equal(scan.committedHead, ends[5]);
    assert.equal(scan.topTailBytes, last.length);
    // Its append was acknowledged: damage, and exactly the gap.
    assert.deepEqual(damageVerdict(scan, head()), {
      kind: 'media',
      acknowledged: true,
      lastCommit: true,
    });
    assert.equal(gapFrom(scan, head()), ends[5]);
    // Not acknowledged: a record cut short by the power cut looks the same.
    assert.deepEqual(damageVerdict(scan, ends[5]!), { kind: 'crash' });
    assert.equal(gapFrom(scan, ends[5]!), undefined);
    // The library reads it as never written.
    assert.deepEqual(await libraryReads(root, unconfirmed), { head: ends[5] });
  });

  it('ignores fragments below the prune mark', () => {
    const first = recordsOf(files.get('0000000001.index')!)[1] as { payloadAt: number };
    const pruned = withFile(files, '0000000001.index', flip(first.payloadAt + 3));
    assert.equal(scanJournalFiles(pruned).damaged.length, 1);
    pruned.set(pruneMark(ends[2]!), new Uint8Array(0));
    assert.equal(scanJournalFiles(pruned).prunedBelow, ends[2]);
    assert.deepEqual(scanJournalFiles(pruned).damaged, []);
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

describe('dm-flakey harness: storage events (roll, prune, take-over)', () => {
  const io = (n: number, ev: StorageEvent, file = '0000000001.index'): ChildReport => ({
    t: 'io',
    at: at(n),
    ev,
    file,
  });
  const reports: ChildReport[] = [
    io(1, 'claim'), // the hand-off's take-over
    io(2, 'start'),
    { t: 'ready', at: at(3) },
    io(10, 'seal'), // a roll
    io(11, 'sealed'),
    io(12, 'claim', '0000000002.index'),
    io(13, 'start', '0000000002.index'),
    { t: 'prune', at: at(20), i: 9 },
    io(21, 'mark', 'pruned-0000000000000100'),
    io(22, 'unlink', '0000000001.data'),
    io(23, 'unlink', '0000000001.index'),
    { t: 'pruned', at: at(24), i: 9, deleted: 1, kept: 1, below: 120 },
    { t: 'prune', at: at(30), i: 20 },
    { t: 'pruned', at: at(31), i: 20, deleted: 0, kept: 1, below: 120 },
  ];

  it('counts claims, rolls, prunes that deleted, and deleted files', () => {
    const all = storageActivity(reports, undefined);
    assert.deepEqual(
      [all.claims, all.rolls, all.prunes, all.deletedFiles, all.inFlight],
      [2, 1, 1, 2, []],
    );
  });

  it('places a cut inside a take-over, a roll or a prune, and not between them', () => {
    const during = (n: number) => storageActivity(reports, at(n)).inFlight;
    assert.deepEqual(during(0), []);
    assert.deepEqual(during(1), ['takeover']);
    assert.deepEqual(during(3), []);
    assert.deepEqual(during(10), ['roll']);
    assert.deepEqual(during(12), ['roll']);
    assert.deepEqual(during(13), []);
    assert.deepEqual(during(20), []); // prune began, but has not decided to delete anything yet
    assert.deepEqual(during(22), ['prune']);
    assert.deepEqual(during(24), []);
    assert.deepEqual(during(30), []);
    assert.equal(storageActivity(reports, at(22)).deletedFiles, 2); // totals: every report
  });

  it("reports the journal's epochs, seals and prune deletions from its storage calls", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dmflakey-events-'));
    try {
      const events: string[] = [];
      const storage = eventStorage(nodeStorage, (ev, file) => events.push(`${ev} ${file}`));
      const journal = await FileJournal.create(dir, 'crash/events', {
        storage,
        fragmentBytes: 10,
      });
      await journal.append(new Uint8Array(20)); // epoch 1, then the roll seals it
      await journal.append(new Uint8Array(20)); // epoch 2
      await journal.close(); // seals epoch 2
      assert.deepEqual(events, [
        'claim 0000000001.index',
        'start 0000000001.index',
        'seal 0000000001.index',
        'sealed 0000000001.index',
        'claim 0000000002.index',
        'start 0000000002.index',
        'seal 0000000002.index',
        'sealed 0000000002.index',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('dm-flakey harness: error_writes window rules', () => {
  const typed: Outcome = {
    ok: false,
    typed: true,
    errorName: 'JournalWriteError',
    errorCode: 'JournalWrite',
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
  it('plans every cut: a tenth each for error windows and corruption, a fifth on XFS', () => {
    for (const cuts of [4, 10, 30, 60, 61]) {
      for (const corrupt of [true, false]) {
        for (const xfs of [true, false]) {
          const plans = planRounds(cuts, corrupt, xfs);
          assert.equal(
            plans.reduce((n, p) => n + p.cycles, 0),
            cuts,
          );
          assert.ok(plans.every((p) => p.cycles > 0));
          assert.equal(
            plans.some((p) => p.fault === 'corrupt'),
            corrupt,
          );
          assert.equal(
            plans.some((p) => p.fs === 'xfs'),
            xfs,
          );
        }
      }
    }
    assert.deepEqual(
      planRounds(60, true).map((p) => [p.label, p.fs, p.cycles]),
      [
        ['commit=1000', 'ext4', 18],
        ['commit=5', 'ext4', 18],
        ['error_writes', 'ext4', 6],
        ['random_write_corrupt', 'ext4', 6],
        ['xfs', 'xfs', 12],
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
  this.timeout(90_000);
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'dmflakey-harness-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /**
   * Runs a child until it has `acks` acknowledgements and (with `until`, for at most 20 s more) a
   * report matching `until`; kills it and folds it into the lineage.
   */
  async function generation(
    lineage: Lineage,
    author: number,
    acks: number,
    options: { fragmentBytes?: number; until?: (r: ChildReport) => boolean } = {},
  ) {
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
      fragmentBytes: options.fragmentBytes,
      prune: options.fragmentBytes !== undefined ? 'between' : undefined,
    });
    const enough = await child.waitFor((r) => r.t === 'ack' && r.i >= acks, 30_000);
    const until = options.until;
    const reached = until === undefined || (await child.waitFor(until, 20_000)) !== undefined;
    await child.kill();
    assert.ok(enough, `the child did not acknowledge ${acks} ops: ${child.stderrTail()}`);
    const cutAt = monotonicMicros();
    return {
      child,
      reached,
      absorbed: lineage.absorb({ author, startedAt, reports: child.reports }),
      cutAt,
    };
  }

  it('records, rolls, prunes, is killed, recovers; the next child continues and fences the previous one', async () => {
    const lineage = new Lineage('crash/host', join(root, 'ok'));
    const random = () => 0.5;
    // Every commit gets a fragment of its own (fragmentBytes 1): many rolls. From the third
    // child on (whose backups no longer include the first child's empty hints, which need the
    // whole log) a prune can delete fragments no stored hints need any more.
    let pruned = false;
    for (const [n, author] of [0x21, 0x22, 0x23, 0x24, 0x25].entries()) {
      const { child, reached, absorbed, cutAt } = await generation(lineage, author, 12, {
        fragmentBytes: 1,
        until:
          n >= 2 ? (r) => r.t === 'pruned' && r.deleted > 0 : (r) => r.t === 'pruned' && r.i >= 30,
      });
      assert.deepEqual(absorbed.violations, []);
      const activity = storageActivity(child.reports, undefined);
      assert.ok(activity.rolls >= 3, `only ${activity.rolls} rolls`);
      assert.ok(
        child.reports.every((r) => r.t !== 'fail'),
        JSON.stringify(child.reports.filter((r) => r.t === 'fail')),
      );
      if (n > 0) {
        const zombie = child.reports.find((r) => r.t === 'zombie');
        assert.ok(
          zombie?.t === 'zombie' && zombie.fenced,
          `the previous author was not fenced: ${JSON.stringify(zombie)}`,
        );
      }
      const check = await checkLineageRecovery(lineage, lineage.expectation(cutAt), {
        damage: { kind: 'crash' },
        random,
      });
      assert.deepEqual(check.violations, []);
      assert.ok(check.k !== undefined && check.checked !== undefined);
      assert.ok(lineage.expectation(cutAt).acked >= 12);
      lineage.settle(check.k, check.checked);
      if (n >= 2 && reached) {
        // Pruned: replay from 0 is no longer possible; every stored hints file still is.
        assert.ok(activity.prunes >= 1 && activity.deletedFiles >= 2);
        assert.ok(check.low !== undefined && check.low > 0, `low ${check.low}`);
        assert.ok(!check.others.includes('replay from offset 0'));
        // Instead, the stored hints that need the most of what is left (a backup).
        assert.ok(
          check.others.length === 1 && /backup/.test(check.others[0]!),
          check.others.join(', '),
        );
        assert.ok(
          (await readdir(lineage.journalDir)).some((name) => name.startsWith('pruned-')),
          'no prune mark',
        );
        pruned = true;
        break;
      }
      if (n < 2) {
        assert.equal(check.low, 0);
        assert.deepEqual(check.others, ['replay from offset 0']);
      }
    }
    assert.ok(pruned, 'no child pruned a fragment');
  });

  it('reports acknowledged ops that the journal lost (I2)', async () => {
    const lineage = new Lineage('crash/host-loss', join(root, 'loss'));
    const { cutAt } = await generation(lineage, 0x31, 12);
    // Lose the second half of the newest fragment's commit records, as a power cut would if
    // syncs were missing.
    const files = await readJournalFiles(lineage.journalDir);
    const newest = [...files.keys()]
      .filter((name) => name.endsWith('.index'))
      .sort()
      .at(-1)!;
    const index = join(lineage.journalDir, newest);
    await truncate(index, Math.floor((await stat(index)).size / 2));
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
