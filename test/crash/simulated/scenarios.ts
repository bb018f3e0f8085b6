/**
 * Reusable simulated-crash scenarios: crash a recovery at every Player I/O step and at every
 * storage event of its hand-off, and the unfenced fork with a zombie branch. The crash-in-recovery
 * and fork tests run them over many workloads; the seeded-bug suite runs them with a bug on.
 */
import { fatesFor } from '../lib/crash-modes.js';
import { caseName } from '../lib/corpus.js';
import { CrashableTarget } from '../lib/crashable-target.js';
import type { DiskModel } from '../lib/disk-model.js';
import { FaultyFs } from '../lib/faulty-fs.js';
import {
  checkRecovery,
  sameRecovery,
  type Observation,
  type Violation,
} from '../lib/invariants.js';
import type { Expectation } from '../lib/ledger.js';
import { runRecovery } from '../lib/recover.js';
import { opProblem, type TreeOp, type TreeState } from '../lib/tree-model.js';
import type { CrashStats } from '../lib/stats.js';
import { SIM_JOURNAL_DIR, SimWorld } from '../lib/world.js';
import { saveFailure, simStats } from './run-stats.js';
import type { WaitPattern } from './workloads.js';

const HAND_OFF_AUTHOR = 0x0b0b0001;

/** Hand-picked workloads: hard links, renames over files and onto a property, large and sparse writes. */
export const PICKED: { ops: TreeOp[]; pattern: WaitPattern }[] = [
  {
    ops: [
      { kind: 'create', path: '/a/x' },
      { kind: 'write', path: '/a/x', offset: 0, data: { pattern: 1, length: 5000 } },
      { kind: 'link', from: '/a/x', to: '/b/x' },
      { kind: 'create', path: '/a/y' },
      { kind: 'write', path: '/a/y', offset: 9000, data: { pattern: 2, length: 8 } },
      { kind: 'rename', from: '/a/y', to: '/a/x' },
    ],
    pattern: 'hints',
  },
  {
    ops: [
      { kind: 'create', path: '/a/x' },
      { kind: 'append', path: '/a/x', data: { pattern: 3, length: 40 } },
      { kind: 'create', path: '/b/x' },
      { kind: 'rename', from: '/a/x', to: '/IDENTITY' },
      { kind: 'link', from: '/b/x', to: '/b/y' },
    ],
    pattern: 'each',
  },
  {
    ops: [
      { kind: 'create', path: '/a/x' },
      { kind: 'create', path: '/a/y' },
      { kind: 'unlink', path: '/a/x' },
      { kind: 'write', path: '/a/y', offset: 3, data: { pattern: 4, length: 700 } },
    ],
    pattern: 'end',
  },
];

function observationOf(o: Observation): Observation {
  // Hand-off recoveries may find earlier attempts' no-ops in the log: compare trees only.
  return o.ok ? { ...o, nextSeqNo: undefined, nextChecksum: undefined } : o;
}

export async function crashPlayerAtEveryStep(
  disk: DiskModel,
  expectation: Expectation,
  handoff: boolean,
  where: string,
  stats: CrashStats = simStats,
): Promise<{ steps: number; violations: Violation[] }> {
  const violations: Violation[] = [];
  const recover = (target: CrashableTarget, storage: FaultyFs, author?: number) =>
    runRecovery({
      storage,
      journalDir: SIM_JOURNAL_DIR,
      hints: expectation.hints?.hints,
      target,
      handoff: author,
    });
  const clean = await recover(
    new CrashableTarget(),
    new FaultyFs(disk.clone(), { record: false }),
    handoff ? HAND_OFF_AUTHOR : undefined,
  );
  violations.push(...checkRecovery(expectation, clean.observation, { kind: 'crash' }).violations);
  // Recovering twice in a row (same target, same disk) equals recovering once.
  const twice = await recover(clean.target.reboot(), new FaultyFs(disk.clone(), { record: false }));
  violations.push(
    ...sameRecovery(clean.observation, twice.observation, `${where}: recovering twice`),
  );
  let step = 0;
  for (; ; step++) {
    // The machine keeps running the journal's disk (a process crash: nothing is lost there).
    const storage = new FaultyFs(disk.clone(), { record: false });
    const target = new CrashableTarget(undefined, step);
    await recover(target, storage, handoff ? HAND_OFF_AUTHOR + step : undefined);
    stats.recoveries++;
    if (!target.crashed) break;
    const rebooted = storage.crash({ op: () => ({ kind: 'keep' }), keepDirChanges: () => true });
    const again = await recover(
      target.reboot(),
      rebooted,
      handoff ? HAND_OFF_AUTHOR + 1000 + step : undefined,
    );
    stats.recoveries++;
    stats.states++;
    stats.note(handoff ? 'crash-in-handoff-recovery' : 'crash-in-recovery');
    const found = [
      ...sameRecovery(
        observationOf(clean.observation),
        observationOf(again.observation),
        `${where}: crash at Player step ${step}`,
      ),
      ...checkRecovery(expectation, observationOf(again.observation), { kind: 'crash' }).violations,
    ];
    violations.push(
      ...found.map((v) => ({
        ...v,
        message: `${where}, crash at Player I/O step ${step}: ${v.message}`,
      })),
    );
  }
  return { steps: step, violations };
}

/** Crashes a hand-off recovery at each of its own storage events, then recovers again. */
export async function crashHandoffStorage(
  disk: DiskModel,
  expectation: Expectation,
  where: string,
  stats: CrashStats = simStats,
): Promise<Violation[]> {
  const violations: Violation[] = [];
  const storage = new FaultyFs(disk.clone());
  const clean = await runRecovery({
    storage,
    journalDir: SIM_JOURNAL_DIR,
    hints: expectation.hints?.hints,
    handoff: HAND_OFF_AUTHOR,
  });
  const events = storage.events;
  for (let c = 0; c <= events.length; c++) {
    const at = disk.clone();
    for (const event of events.slice(0, c)) at.apply(event);
    for (const mode of [{ kind: 'drop-all' }, { kind: 'keep-all' }] as const) {
      const crashed = at.crash(fatesFor(mode, at));
      const again = await runRecovery({
        storage: new FaultyFs(crashed, { record: false }),
        journalDir: SIM_JOURNAL_DIR,
        hints: expectation.hints?.hints,
        handoff: HAND_OFF_AUTHOR + 1,
      });
      stats.recoveries++;
      stats.states++;
      stats.note('crash-in-handoff-append');
      const found = [
        ...sameRecovery(observationOf(clean.observation), observationOf(again.observation), where),
        ...checkRecovery(expectation, observationOf(again.observation), { kind: 'crash' })
          .violations,
      ];
      violations.push(
        ...found.map((v) => ({
          ...v,
          message: `${where}, crash at hand-off storage event ${c}/${events.length} (${mode.kind}): ${v.message}`,
        })),
      );
    }
  }
  return violations;
}

const FORK_PATHS = ['/a/x', '/a/y', '/b/x'] as const;

/** An op of the true history, from generated numbers (mostly applicable). */
function historyOp(state: TreeState, kind: number, i: number, pattern: number): TreeOp {
  const existing = [...state.links.keys()].filter((p) => !p.startsWith('/z')).sort();
  const path = FORK_PATHS[i % FORK_PATHS.length]!;
  if (existing.length === 0 || kind % 4 === 0) return { kind: 'create', path };
  const from = existing[i % existing.length]!;
  switch (kind % 4) {
    case 1:
      return { kind: 'write', path: from, offset: i % 7, data: { pattern, length: 5 + (i % 40) } };
    case 2:
      return state.links.has(path)
        ? { kind: 'unlink', path: from }
        : { kind: 'link', from, to: path };
    default:
      return { kind: 'rename', from, to: path === from ? '/IDENTITY' : path };
  }
}

/** One step after the fork: the new author (true history) or the zombie records. */
export interface ForkStep {
  zombie: boolean;
  kind: number;
  i: number;
  pattern: number;
}

export async function runFork(
  common: readonly ForkStep[],
  after: readonly ForkStep[],
  options: { save?: boolean; stats?: CrashStats } = {},
): Promise<SimWorld> {
  const stats = options.stats ?? simStats;
  const world = await SimWorld.create({ lenient: true });
  for (const step of common) {
    const op = historyOp(world.ledger.current, step.kind, step.i, step.pattern);
    if (opProblem(world.ledger.current, op) === undefined) world.record(op);
  }
  await world.sync();
  await world.forkUnfenced();
  let zombieState: TreeState = world.ledger.current;
  let zombieFiles = 0;
  for (const step of after) {
    if (step.zombie) {
      const own = [...zombieState.links.keys()].filter((p) => p.startsWith('/z'));
      const op: TreeOp =
        own.length === 0 || step.kind % 2 === 0
          ? { kind: 'create', path: `/z${++zombieFiles}` }
          : {
              kind: 'write',
              path: own[step.i % own.length]!,
              offset: 0,
              data: { pattern: step.pattern, length: 9 },
            };
      zombieState = world.zombieRecord(op, zombieState);
    } else {
      const op = historyOp(world.ledger.current, step.kind, step.i, step.pattern);
      if (opProblem(world.ledger.current, op) === undefined) world.record(op);
    }
  }
  // The new author's hints must name a segment of its own after the fork (else hints cannot tell
  // the branches apart and first-writer-wins playback applies, as in Gazette).
  world.record({ kind: 'create', path: '/b/final' });
  world.record({ kind: 'write', path: '/b/final', offset: 0, data: { pattern: 7, length: 11 } });
  await world.buildHints();
  const { disk, expectation, at } = world.crash({ kind: 'keep-all' });
  if (options.save) {
    world.onViolation = async (kase) => {
      await saveFailure('fork', {
        ...kase,
        name: caseName('sim-fork', `${Date.now().toString(36)}`),
      });
    };
  }
  await world.recover(disk, expectation, { damage: { kind: 'raced' }, at });
  stats.states++;
  stats.recoveries++;
  return world;
}
