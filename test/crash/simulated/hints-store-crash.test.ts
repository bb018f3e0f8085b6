/**
 * Hints durability on the simulated disk. The HintsStore writes through the journal's storage
 * port, so here it runs on the world's FaultyFs next to the journal: its temp files, fsyncs,
 * renames over the primary and the rotated backups, and directory fsyncs are storage events of
 * the run like the journal's. The run is crashed after every event in every crash mode, and each
 * crashed disk must give:
 *
 * - stored hints that decode (never torn) and are, slot by slot, the previous or the new
 *   acknowledged hints: the primary, and the newest backup (what recovery falls back to);
 *   hints whose store resolved are never lost;
 * - hints that `pick` (what an application recovers with) chooses among those two, and that
 *   play to the acknowledged state (I1-I5 against the ledger at that instant).
 */
import assert from 'node:assert/strict';
import { HintsStore } from '../../../src/hints-store.js';
import { encodeHints } from '../../../src/hints.js';
import type { FSMHints } from '../../../src/wire/types.js';
import { describeCrashMode, exhaustiveModes, fatesFor } from '../lib/crash-modes.js';
import { CrashableTarget } from '../lib/crashable-target.js';
import type { DiskModel } from '../lib/disk-model.js';
import { FaultyFs } from '../lib/faulty-fs.js';
import {
  checkRecovery,
  describeError,
  type Observation,
  type Violation,
} from '../lib/invariants.js';
import type { Expectation, LedgerHints } from '../lib/ledger.js';
import { runRecovery } from '../lib/recover.js';
import type { TreeOp } from '../lib/tree-model.js';
import { SIM_JOURNAL_DIR, SIM_LOG, SimWorld, imageKey } from '../lib/world.js';
import { domainData } from './domain.js';
import { simStats } from './run-stats.js';

/** A directory that does not exist when the run starts: its creation must be made durable too. */
const HINTS_DIR = '/disk/state/hints';
const BACKUPS = 2;

/** What the store holds, as the test models it (hints as canonical JSON, '' for none). */
interface StoreModel {
  readonly primary: string;
  /** Backup slots, most recent first ('' = empty). */
  readonly backups: readonly string[];
}

/** One store call: the model before and after it, and the storage events it spans. */
interface StoreCall {
  readonly what: string;
  readonly startedAt: number;
  readonly ackedAt: number;
  readonly after: StoreModel;
}

const EMPTY_MODEL: StoreModel = { primary: '', backups: Array<string>(BACKUPS).fill('') };

function key(hints: FSMHints | undefined): string {
  return hints === undefined ? '' : Buffer.from(encodeHints(hints, 'json')).toString('utf8');
}

/** Gazette's rotation (see HintsStore.storeRecovered): shift up to the first empty slot. */
function rotated(backups: readonly string[], hints: string): string[] {
  const next = [...backups];
  let firstEmpty = next.indexOf('');
  if (firstEmpty === -1) firstEmpty = next.length - 1;
  for (let i = firstEmpty; i > 0; i--) next[i] = next[i - 1]!;
  next[0] = hints;
  return next;
}

/** What `pick` returns when the store holds nothing: replay from offset 0. */
const NO_HINTS = key({ log: SIM_LOG, liveNodes: [], properties: [] });

function newest(model: StoreModel): string {
  return model.backups.find((h) => h !== '') ?? '';
}

/** The hints `pick` chooses: the primary, else the newest backup ('' = replay from offset 0). */
function picked(model: StoreModel): string {
  return model.primary !== '' ? model.primary : newest(model);
}

/** A world whose every op is followed by BuildHints and storing them; some stored as recovered. */
async function runWithHintsStore(
  ops: readonly TreeOp[],
): Promise<{ world: SimWorld; calls: StoreCall[] }> {
  const world = await SimWorld.create();
  const store = new HintsStore(HINTS_DIR, 'hints', { backups: BACKUPS, storage: world.fs });
  const calls: StoreCall[] = [];
  let model = EMPTY_MODEL;
  const track = async (what: string, after: StoreModel, call: () => Promise<void>) => {
    const startedAt = world.clock();
    await call();
    calls.push({ what, startedAt, ackedAt: world.clock(), after });
    model = after;
  };
  // As a Player does after recovering: the hints it recovered with become backup 0.
  const initial = await world.buildHints();
  await track('recovered 0', { ...model, backups: rotated(model.backups, key(initial)) }, () =>
    store.storeRecovered(initial),
  );
  for (const [i, op] of ops.entries()) {
    world.record(op);
    const hints = await world.buildHints();
    await track(`primary ${i + 1}`, { ...model, primary: key(hints) }, () =>
      store.storePrimary(hints),
    );
    // Two more recovered hints: the slots fill, then the oldest is overwritten.
    if (i < 2) {
      await track(
        `recovered ${i + 1}`,
        { ...model, backups: rotated(model.backups, key(hints)) },
        () => store.storeRecovered(hints),
      );
    }
  }
  await world.sync();
  return { world, calls };
}

/** The store's state a crash at event `c` may show: the last acknowledged, or the one under way. */
function allowedAt(calls: readonly StoreCall[], c: number): StoreModel[] {
  let acked = EMPTY_MODEL;
  let underWay: StoreModel | undefined;
  for (const call of calls) {
    if (call.ackedAt <= c) acked = call.after;
    else if (call.startedAt < c) underWay = call.after;
  }
  return underWay === undefined ? [acked] : [acked, underWay];
}

function checkSlots(
  stored: { primary?: FSMHints; backups: (FSMHints | undefined)[] },
  allowed: readonly StoreModel[],
): Violation[] {
  const violations: Violation[] = [];
  const slot = (what: string, got: string, options: string[]): void => {
    if (options.includes(got)) return;
    violations.push({
      invariant: 'I5',
      message: `the ${what} holds ${got === '' ? 'nothing' : got}, neither the previous nor the new acknowledged hints (${options.map((o) => o || 'nothing').join(' / ')})`,
    });
  };
  slot(
    'primary hints file',
    key(stored.primary),
    allowed.map((m) => m.primary),
  );
  const backups: StoreModel = { primary: '', backups: stored.backups.map(key) };
  slot('newest backup', newest(backups), allowed.map(newest));
  return violations;
}

/**
 * One crashed disk: the stored hints (read through the storage port) are checked slot by slot,
 * then `pick`'s choice is played and checked against the ledger's expectation at the crash.
 */
async function checkCrashedDisk(
  crashed: DiskModel,
  context: {
    allowed: readonly StoreModel[];
    expectation: Expectation;
    ledgerHints: ReadonlyMap<string, LedgerHints>;
    memo: Map<string, Observation>;
    target: CrashableTarget;
  },
): Promise<Violation[]> {
  const fs = new FaultyFs(crashed, { record: false });
  const store = new HintsStore(HINTS_DIR, 'hints', { backups: BACKUPS, storage: fs });
  const violations: Violation[] = [];
  let hints: FSMHints;
  try {
    violations.push(...checkSlots(await store.fetch(SIM_LOG), context.allowed));
    hints = await store.pick(SIM_LOG);
  } catch (error) {
    const message = `the stored hints cannot be read: ${describeError(error)}`;
    return [...violations, { invariant: 'I5', message }];
  }
  const chosen = key(hints);
  if (!context.allowed.some((m) => (picked(m) || NO_HINTS) === chosen)) {
    violations.push({ invariant: 'I5', message: `pick chose hints never acknowledged: ${chosen}` });
  }
  // Recovery is a function of the journal's files and the hints: memoised on both.
  const memoKey = `${imageKey(crashed)}|${chosen}`;
  let observation = context.memo.get(memoKey);
  if (observation === undefined) {
    const result = await runRecovery({
      storage: fs,
      journalDir: SIM_JOURNAL_DIR,
      hints,
      target: context.target.reboot(),
    });
    observation = result.observation;
    context.memo.set(memoKey, observation);
    simStats.recoveries++;
  }
  const expectation = { ...context.expectation, hints: context.ledgerHints.get(chosen) };
  violations.push(...checkRecovery(expectation, observation, { kind: 'crash' }).violations);
  return violations;
}

describe('simulated crashes: hints store on the storage port', function () {
  this.timeout(0);

  it('every crash while storing hints leaves the previous or the new acknowledged hints, and they play to the acknowledged state', async function () {
    const workloads: TreeOp[][] = [
      [
        { kind: 'create', path: '/a/x' },
        { kind: 'write', path: '/a/x', offset: 0, data: domainData(16) },
        { kind: 'rename', from: '/a/x', to: '/b/x' },
      ],
      [
        { kind: 'create', path: '/a/x' },
        { kind: 'link', from: '/a/x', to: '/a/y' },
        { kind: 'unlink', path: '/a/x' },
      ],
    ];
    const statesBefore = simStats.states;
    const violationsBefore = simStats.violations.length;
    const target = new CrashableTarget();
    const memo = new Map<string, Observation>();
    let hintEvents = 0;
    for (const ops of workloads) {
      const { world, calls } = await runWithHintsStore(ops);
      const where = `hints store [${ops.map((op) => op.kind).join(', ')}]`;
      const events = world.fs.events;
      hintEvents += calls.reduce((n, call) => n + call.ackedAt - call.startedAt, 0);
      const ledgerHints = new Map<string, LedgerHints>();
      for (const h of world.ledger.hints) ledgerHints.set(key(h.hints), h);
      const disk: DiskModel = world.epochDisk.clone();
      for (let c = 0; c <= events.length; c++) {
        if (c > 0) disk.apply(events[c - 1]!);
        const allowed = allowedAt(calls, c);
        for (const mode of exhaustiveModes(disk, { everyByte: false })) {
          const crashed = disk.crash(fatesFor(mode, disk));
          const violations = await checkCrashedDisk(crashed, {
            allowed,
            expectation: world.ledger.expectationAt(c),
            ledgerHints,
            memo,
            target,
          });
          simStats.states++;
          simStats.note('hints-store');
          if (violations.length > 0) {
            simStats.violation(
              `${where} @event ${c}/${events.length} ${describeCrashMode(mode)}`,
              violations,
            );
          }
        }
      }
      await world.close();
      simStats.sequences++;
    }
    const states = simStats.states - statesBefore;
    console.log(
      `      hints store: ${workloads.length} runs, ${hintEvents} storage events inside hints stores, ${states} crash states, ${memo.size} recoveries`,
    );
    assert.ok(hintEvents > 0, 'the hints store issued no storage event on the simulated disk');
    const found = simStats.violations.slice(violationsBefore);
    assert.equal(
      found.length,
      0,
      found
        .slice(0, 5)
        .map((v) => `${v.invariant} [${v.where}]: ${v.message}`)
        .join('\n'),
    );
  });
});
