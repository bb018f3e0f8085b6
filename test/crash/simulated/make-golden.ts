/**
 * Makes the golden cases of test/corpus/ (run once; the cases are checked in and replayed on
 * every run by corpus.test.ts):
 *
 *   npx tsx test/crash/simulated/make-golden.ts [corpus dir]
 *
 * Each case is a crashed journal directory plus the ledger of the run that wrote it: one
 * workload under the three wait patterns, crashed at the instants that matter (after the last
 * data write, after its commit record, after the syncs) in the crash modes that matter (torn at
 * a byte, a sector and mid-record, garbage, zeros, dropped, reordered, directory entries lost),
 * media damage (bit flips: typed error expected), and the regressions this layer found.
 */
import { caseName, journalFiles, saveCorpusCase, type CorpusCase } from '../lib/corpus.js';
import { describeCrashMode, fatesFor, type CrashMode } from '../lib/crash-modes.js';
import type { DiskModel } from '../lib/disk-model.js';
import type { Damage } from '../lib/invariants.js';
import type { TreeOp } from '../lib/tree-model.js';
import { SIM_JOURNAL_DIR, SimWorld } from '../lib/world.js';
import { frameRegions } from '../lib/explore.js';
import { runWorkload, type WaitPattern } from './workloads.js';
import { DiskModel as Disk } from '../lib/disk-model.js';

const corpusDir = process.argv[2];

const WORKLOAD: TreeOp[] = [
  { kind: 'create', path: '/a/x' },
  { kind: 'write', path: '/a/x', offset: 0, data: { pattern: 11, length: 5000 } },
  { kind: 'link', from: '/a/x', to: '/b/x' },
  { kind: 'create', path: '/a/y' },
  { kind: 'append', path: '/a/y', data: { pattern: 12, length: 300 } },
  { kind: 'rename', from: '/a/y', to: '/IDENTITY' },
  { kind: 'write', path: '/b/x', offset: 9000, data: { pattern: 13, length: 8 } },
];

let made = 0;

async function save(
  name: string,
  description: string,
  world: SimWorld,
  disk: DiskModel,
  at: number | null,
  damage: Damage,
  lenient = false,
): Promise<void> {
  const kase: CorpusCase = {
    name: caseName('golden', name),
    meta: {
      version: 1,
      layer: 'golden',
      description,
      at,
      damage,
      recovery: { lenient, useHints: true },
      reproduce: { generator: 'test/crash/simulated/make-golden.ts' },
      violations: [],
    },
    ledger: JSON.parse(JSON.stringify(world.ledger.toJSON())) as CorpusCase['ledger'],
    journal: journalFiles(disk, SIM_JOURNAL_DIR),
  };
  await saveCorpusCase(kase, corpusDir);
  made++;
}

/** Index of the run's last storage event writing the journal file `name`. */
function lastWrite(world: SimWorld, name: string): number {
  const ino = world.fs.model.lookup(`${SIM_JOURNAL_DIR}/${name}`);
  let found = -1;
  world.fs.events.forEach((e, i) => {
    if (e.t === 'write' && e.ino === ino) found = i;
  });
  return found;
}

async function crashCases(pattern: WaitPattern): Promise<void> {
  const world = await runWorkload(WORKLOAD, pattern);
  const events = world.fs.events;
  const lastData = lastWrite(world, 'data');
  const lastCommit = lastWrite(world, 'commits');
  const points: [string, number, CrashMode][] = [
    ['after-data-torn-1', lastData + 1, { kind: 'torn-last', bytes: 1, grain: 1, dirs: 'keep' }],
    ['after-data-torn-8', lastData + 1, { kind: 'torn-last', bytes: 8, grain: 1, dirs: 'keep' }],
    ['after-data-garbage', lastData + 1, { kind: 'garbage-last', seed: 99, dirs: 'keep' }],
    ['after-data-zeros', lastData + 1, { kind: 'zeros-last', dirs: 'keep' }],
    [
      'after-record-torn-24',
      lastCommit + 1,
      { kind: 'torn-last', bytes: 24, grain: 1, dirs: 'keep' },
    ],
    ['after-record-data-dropped', lastCommit + 1, { kind: 'subset', mask: 0b10, dirs: 'keep' }],
    ['after-record-all-dropped', lastCommit + 1, { kind: 'drop-all' }],
    ['after-record-kept', lastCommit + 1, { kind: 'keep-all' }],
    ['synced', events.length, { kind: 'drop-all' }],
    [
      'before-create-finished',
      Math.max(1, world.ledger.journalCreatedAt - 2),
      { kind: 'drop-all' },
    ],
  ];
  for (const [name, at, mode] of points) {
    const disk = world.diskAt(at);
    await save(
      `${pattern}-${name}`,
      `workload of ${WORKLOAD.length} ops (wait=${pattern}) crashed at storage event ${at}/${events.length}, ${describeCrashMode(mode)}`,
      world,
      disk.crash(fatesFor(mode, disk)),
      at,
      { kind: 'crash' },
    );
  }
  if (pattern === 'each') {
    // Media damage in the final log: one bit flipped per region of an early frame (typed error).
    const disk = world.crashImage({ kind: 'keep-all' });
    const files = disk.files();
    const data = files.get(`${SIM_JOURNAL_DIR}/data`)!;
    for (const region of frameRegions(data).filter((r) => r.frame === 2)) {
      const at = Math.floor((region.begin + region.end - 1) / 2);
      const flipped = new Map(files);
      const bytes = data.slice();
      bytes[at] ^= 1 << (at % 8);
      flipped.set(`${SIM_JOURNAL_DIR}/data`, bytes);
      await save(
        `each-bitflip-frame2-${region.region}`,
        `fully synced log with one bit flipped in the ${region.region} of frame 2 (byte ${at}): a typed integrity error is expected`,
        world,
        Disk.fromFiles(flipped),
        null,
        { kind: 'media', acknowledged: true, lastCommit: false },
      );
    }
  }
  await world.close();
}

async function regressions(): Promise<void> {
  {
    // FileJournal.recordEndingAt took a record that ends before the file's end for the last one
    // when a torn record's bytes read as a plausible length: an acknowledged commit was cut.
    const world = await runWorkload(
      [
        { kind: 'create', path: '/a/x' },
        { kind: 'create', path: '/a/y' },
        { kind: 'write', path: '/a/x', offset: 8, data: { pattern: 202, length: 16 } },
      ],
      'each',
    );
    // After the last commit record was written, before its sync; the record tears at byte 24.
    const at = lastWrite(world, 'commits') + 1;
    const disk = world.diskAt(at);
    const mode: CrashMode = { kind: 'torn-last', bytes: 24, grain: 1, dirs: 'keep' };
    await save(
      'regression-torn-record-reads-as-earlier-record',
      'a torn commit record whose bytes at the trailer position point back to an earlier record: reopening must not cut the acknowledged commit before it',
      world,
      disk.crash(fatesFor(mode, disk)),
      at,
      { kind: 'crash' },
    );
    await world.close();
  }
  {
    // FSM: a create after the last hinted fnode's create, inside a hinted segment, was tracked
    // although the hints say it died (its unlink lies between hinted segments): a phantom file.
    const world = await runWorkload([{ kind: 'create', path: '/x' }], 'each');
    world.record({ kind: 'create', path: '/y' });
    world.record({ kind: 'link', from: '/y', to: '/z' });
    world.record({ kind: 'link', from: '/x', to: '/w' });
    await world.handoffLive();
    world.record({ kind: 'unlink', path: '/z' });
    world.record({ kind: 'unlink', path: '/w' });
    world.record({ kind: 'unlink', path: '/y' });
    await world.buildHints();
    const { disk, at } = world.crash({ kind: 'keep-all' });
    await save(
      'regression-hinted-playback-phantom-file',
      "hints after a hand-off; a file created and linked in the first author's segment, unlinked by the second: hinted playback must not bring it back",
      world,
      disk,
      at,
      { kind: 'crash' },
    );
  }
  {
    const world = await runWorkload([{ kind: 'create', path: '/a/x' }], 'each');
    await world.handoffLive({ race: true });
    world.record({ kind: 'write', path: '/a/x', offset: 0, data: { pattern: 5, length: 20 } });
    await world.buildHints();
    const { disk, at } = world.crash({ kind: 'keep-all' });
    await save(
      'handoff-race',
      "a zombie's append landed between the hand-off Player's look at the head and its no-op; the Player retried one SeqNo later",
      world,
      disk,
      at,
      { kind: 'crash' },
    );
  }
  {
    const world = await SimWorld.create({ lenient: true });
    world.record({ kind: 'create', path: '/a/x' });
    await world.sync();
    await world.forkUnfenced();
    let zombie = world.ledger.current;
    zombie = world.zombieRecord({ kind: 'create', path: '/z1' }, zombie);
    world.record({ kind: 'create', path: '/a/y' });
    zombie = world.zombieRecord(
      { kind: 'write', path: '/z1', offset: 0, data: { pattern: 4, length: 9 } },
      zombie,
    );
    world.record({ kind: 'write', path: '/a/y', offset: 0, data: { pattern: 3, length: 9 } });
    await world.buildHints();
    const { disk, at } = world.crash({ kind: 'keep-all' });
    await save(
      'unfenced-fork-zombie-branch',
      "an unfenced take-over: both authors continued from the same SeqNo; recovery from the new author's hints must leave out the zombie branch",
      world,
      disk,
      at,
      { kind: 'raced' },
      true,
    );
  }
}

for (const pattern of ['end', 'each', 'hints'] as const) await crashCases(pattern);
await regressions();
console.log(`made ${made} golden cases`);
