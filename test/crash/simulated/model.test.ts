/**
 * Model-based crash testing (fast-check `fc.commands` + `fc.asyncModelRun`): random sequences of
 * file operations, syncs, hints, crashes in every crash mode at any earlier storage event,
 * recoveries that continue under a new author, live hand-offs (with a zombie's append racing the
 * hand-off no-op) and appends by the fenced zombie. Every recovery is checked (I1-I5, I7 through
 * the next recovery), and every sequence ends with a crash + recovery.
 *
 * A failure prints fast-check's seed and replay path; re-run exactly that case with
 *   FC_SEED=<seed> FC_PATH=<path> npx mocha --import=tsx test/crash/simulated/model.test.ts
 * and the failing journal + ledger is saved under test/corpus/ (replayed on every run).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { caseName } from '../lib/corpus.js';
import type { CrashMode } from '../lib/crash-modes.js';
import { describeError } from '../lib/invariants.js';
import { describeTreeOp, opProblem, type TreeOp, type TreeState } from '../lib/tree-model.js';
import { SimWorld } from '../lib/world.js';
import { knobs, saveFailure, simStats } from './run-stats.js';

const PATHS = ['/a/x', '/a/y', '/b/x', '/b/y'] as const;
const TARGETS = [...PATHS, '/IDENTITY'] as const;

interface Model {
  state: TreeState;
  crashed: boolean;
  zombie: boolean;
}

interface Real {
  world: SimWorld;
  pending: ReturnType<SimWorld['crash']> | undefined;
}

type Cmd = fc.AsyncCommand<Model, Real>;

function afterRun(model: Model, real: Real): void {
  model.state = real.world.ledger.current;
  if (real.world.violations.length > 0) {
    throw new Error(
      `invariant violated:\n${real.world.violations.map((v) => `  ${v.invariant}: ${v.message}`).join('\n')}`,
    );
  }
}

/** A file operation, resolved against the model when it runs. */
class OpCmd implements Cmd {
  constructor(
    readonly label: string,
    readonly build: (state: TreeState) => TreeOp,
  ) {}
  check(m: Readonly<Model>): boolean {
    if (m.crashed) return false;
    const ok = opProblem(m.state, this.build(m.state)) === undefined;
    if (!ok) simStats.note('fc-op-not-applicable');
    return ok;
  }
  async run(m: Model, r: Real): Promise<void> {
    simStats.note('fc-op');
    const op = this.build(m.state);
    r.world.record(op);
    afterRun(m, r);
  }
  toString(): string {
    return this.label;
  }
}

class SyncCmd implements Cmd {
  check(m: Readonly<Model>): boolean {
    return !m.crashed;
  }
  async run(m: Model, r: Real): Promise<void> {
    await r.world.sync();
    afterRun(m, r);
  }
  toString(): string {
    return 'Sync';
  }
}

class BuildHintsCmd implements Cmd {
  check(m: Readonly<Model>): boolean {
    return !m.crashed;
  }
  async run(m: Model, r: Real): Promise<void> {
    await r.world.buildHints();
    afterRun(m, r);
  }
  toString(): string {
    return 'BuildHints';
  }
}

class PruneCmd implements Cmd {
  check(m: Readonly<Model>): boolean {
    return !m.crashed;
  }
  async run(m: Model, r: Real): Promise<void> {
    await r.world.prune();
    afterRun(m, r);
  }
  toString(): string {
    return 'Prune';
  }
}

interface CrashSpec {
  kind: 'keep-all' | 'drop-all' | 'prefix' | 'torn-last' | 'garbage-last' | 'zeros-last' | 'random';
  /** Fraction used for prefix length / tear position. */
  frac: number;
  grain: 1 | 512 | 4096;
  dirsKept: boolean;
  seed: number;
  /** Crash this many storage events before now (an earlier instant: acks seen after it do not count). */
  back: number;
}

function crashMode(spec: CrashSpec, world: SimWorld, at: number): CrashMode {
  const dirs = spec.dirsKept ? 'keep' : 'lose';
  const pending = world.diskAt(at).pendingOps();
  const last = pending[pending.length - 1]?.op;
  switch (spec.kind) {
    case 'keep-all':
    case 'drop-all':
      return { kind: spec.kind };
    case 'prefix':
      return { kind: 'prefix', keep: Math.floor(spec.frac * (pending.length + 1)), dirs };
    case 'torn-last': {
      const length = last?.kind === 'write' ? last.bytes.length : 0;
      const bytes = Math.floor((spec.frac * length) / spec.grain) * spec.grain;
      return { kind: 'torn-last', bytes, grain: spec.grain, dirs };
    }
    case 'garbage-last':
      return { kind: 'garbage-last', seed: spec.seed, dirs };
    case 'zeros-last':
      return { kind: 'zeros-last', dirs };
    case 'random':
      return { kind: 'random', seed: spec.seed };
  }
}

class CrashCmd implements Cmd {
  constructor(readonly spec: CrashSpec) {}
  check(m: Readonly<Model>): boolean {
    return !m.crashed;
  }
  async run(m: Model, r: Real): Promise<void> {
    const world = r.world;
    // Not before the journal exists (that instant is covered by the exhaustive layer).
    const earliest = world.ledger.epoch === 0 ? world.ledger.journalCreatedAt : 0;
    const at = Math.max(earliest, world.clock() - this.spec.back);
    r.pending = world.crash(crashMode(this.spec, world, at), at);
    simStats.note(`fc-crash-${this.spec.kind}`);
    m.crashed = true;
    m.zombie = false;
  }
  toString(): string {
    const s = this.spec;
    return `Crash(${s.kind}, back ${s.back}, frac ${s.frac.toFixed(2)}, grain ${s.grain}, dirs ${s.dirsKept ? 'kept' : 'lost'}, seed ${s.seed})`;
  }
}

class RecoverCmd implements Cmd {
  check(m: Readonly<Model>): boolean {
    return m.crashed;
  }
  async run(m: Model, r: Real): Promise<void> {
    await recoverPending(r);
    m.crashed = false;
    afterRun(m, r);
  }
  toString(): string {
    return 'Recover';
  }
}

async function recoverPending(r: Real): Promise<void> {
  const pending = r.pending;
  if (pending === undefined) throw new Error('Recover without a crash');
  r.pending = undefined;
  const { check, result } = await r.world.recover(pending.disk, pending.expectation, {
    at: pending.at,
    mode: pending.mode,
  });
  simStats.states++;
  simStats.recoveries++;
  if (check.k === undefined && check.violations.length === 0) {
    throw new Error(
      `recovery found no state to continue from: ${result.observation.ok ? '' : describeError(result.observation.error)}`,
    );
  }
}

class HandoffCmd implements Cmd {
  constructor(readonly race: boolean) {}
  check(m: Readonly<Model>): boolean {
    return !m.crashed;
  }
  async run(m: Model, r: Real): Promise<void> {
    await r.world.handoffLive({ race: this.race });
    simStats.note(this.race ? 'fc-handoff-race' : 'fc-handoff');
    m.zombie = true;
    afterRun(m, r);
  }
  toString(): string {
    return `Handoff(${this.race ? 'zombie races the no-op' : 'live'})`;
  }
}

class ZombieAppendCmd implements Cmd {
  check(m: Readonly<Model>): boolean {
    return !m.crashed && m.zombie;
  }
  async run(m: Model, r: Real): Promise<void> {
    await r.world.zombieAppend();
    simStats.note('fc-zombie-append');
    afterRun(m, r);
  }
  toString(): string {
    return 'ZombieAppend';
  }
}

const pathArb = fc.integer({ min: 0, max: PATHS.length - 1 });
const pickArb = fc.nat({ max: 63 });
const targetArb = fc.integer({ min: 0, max: TARGETS.length - 1 });
const dataArb = (min: number, max: number) =>
  fc.record({ pattern: fc.integer({ min: 1, max: 1 << 20 }), length: fc.integer({ min, max }) });

/** The i-th existing file (mod their number), so generated ops mostly apply. */
function existing(state: TreeState, i: number): string {
  const paths = [...state.links.keys()].sort();
  return paths.length === 0 ? PATHS[0] : paths[i % paths.length]!;
}

/** The j-th domain path that does not exist (a link target). */
function absent(state: TreeState, j: number): string {
  const paths = PATHS.filter((p) => !state.links.has(p));
  return paths.length === 0 ? PATHS[0] : paths[j % paths.length]!;
}

/** While no file exists, every file op starts by creating one (keeps sequences dense). */
function orCreate(state: TreeState, i: number, op: () => TreeOp): TreeOp {
  return state.links.size === 0 ? { kind: 'create', path: PATHS[i % PATHS.length]! } : op();
}

const opArbs: fc.Arbitrary<Cmd>[] = [
  pathArb.map((p) => new OpCmd(`Create(${PATHS[p]})`, () => ({ kind: 'create', path: PATHS[p]! }))),
  fc
    .tuple(
      pickArb,
      fc.constantFrom('small', 'large', 'overlap', 'sparse'),
      fc.integer({ min: 1, max: 1 << 20 }),
      fc.integer({ min: 0, max: 64 }),
    )
    .map(([i, shape, pattern, jitter]) => {
      const [offset, length] =
        shape === 'small'
          ? [jitter, 1 + (jitter % 32)]
          : shape === 'large'
            ? [jitter, 4096 + 1000 + jitter * 37]
            : shape === 'overlap'
              ? [4 + (jitter % 8), 24]
              : [6000 + jitter * 100, 16];
      return new OpCmd(`WriteAt(file #${i}, ${shape}, @${offset}, ${length} B)`, (state) =>
        orCreate(state, i, () => ({
          kind: 'write',
          path: existing(state, i),
          offset,
          data: { pattern, length },
        })),
      );
    }),
  fc
    .tuple(pickArb, dataArb(1, 700))
    .map(
      ([i, data]) =>
        new OpCmd(`Append(file #${i}, ${data.length} B)`, (state) =>
          orCreate(state, i, () => ({ kind: 'append', path: existing(state, i), data })),
        ),
    ),
  fc.tuple(pickArb, pickArb).map(
    ([i, j]) =>
      new OpCmd(`Link(file #${i} -> free path #${j})`, (state) =>
        orCreate(state, i, () => ({
          kind: 'link',
          from: existing(state, i),
          to: absent(state, j),
        })),
      ),
  ),
  pickArb.map(
    (i) =>
      new OpCmd(`Unlink(file #${i})`, (state) =>
        orCreate(state, i, () => ({ kind: 'unlink', path: existing(state, i) })),
      ),
  ),
  fc
    .tuple(pickArb, targetArb)
    .map(
      ([i, b]) =>
        new OpCmd(`Rename(file #${i} -> ${TARGETS[b]})`, (state) =>
          orCreate(state, i, () => ({ kind: 'rename', from: existing(state, i), to: TARGETS[b]! })),
        ),
    ),
];

const crashArb = fc
  .record({
    kind: fc.constantFrom(
      'keep-all',
      'drop-all',
      'prefix',
      'torn-last',
      'garbage-last',
      'zeros-last',
      'random',
    ),
    frac: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
    grain: fc.constantFrom(1, 512, 4096),
    dirsKept: fc.boolean(),
    seed: fc.integer({ min: 0, max: 0x7fffffff }),
    back: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 40 })),
  })
  .map((spec) => new CrashCmd(spec as CrashSpec));

const commandArbs: fc.Arbitrary<Cmd>[] = [
  fc.oneof(
    { weight: 12, arbitrary: fc.oneof(...opArbs) },
    { weight: 3, arbitrary: fc.constant(new SyncCmd()) },
    { weight: 2, arbitrary: fc.constant(new BuildHintsCmd()) },
    { weight: 1, arbitrary: fc.constant(new PruneCmd()) },
    { weight: 2, arbitrary: crashArb },
    { weight: 8, arbitrary: fc.constant(new RecoverCmd()) },
    { weight: 1, arbitrary: fc.boolean().map((race) => new HandoffCmd(race)) },
    { weight: 1, arbitrary: fc.constant(new ZombieAppendCmd()) },
  ),
];

function describeOps(world: SimWorld): string {
  return world.ledger.history.map((e) => describeTreeOp(e.op)).join('; ');
}

describe('simulated crashes: model-based sequences (fast-check)', function () {
  this.timeout(0);

  it(`holds I1-I7 over ${knobs.fcRuns} random sequences with crashes and recoveries`, async function () {
    const started = performance.now();
    let sequences = 0;
    // Chosen here (not by fast-check) so saved corpus cases can name it; fast-check prints it too.
    const seed =
      process.env.FC_SEED === undefined
        ? (Date.now() ^ (Math.random() * 0x100000000)) | 0
        : Number(process.env.FC_SEED);
    const property = fc.asyncProperty(
      fc.commands(commandArbs, { maxCommands: 40, size: 'max' }),
      async (cmds) => {
        sequences++;
        const world = await SimWorld.create();
        world.reproduce = { test: 'test/crash/simulated/model.test.ts', seed };
        let failure: string | undefined;
        world.onViolation = async (kase) => {
          // One case per failing sequence name: shrinking overwrites it with smaller ones.
          const where = await saveFailure('fc', {
            ...kase,
            // The commands run so far (fast-check fills them in as it executes them).
            meta: { ...kase.meta, reproduce: { ...kase.meta.reproduce, commands: String(cmds) } },
            name: caseName('sim-fc', `seed-${seed}`),
          });
          failure = where;
        };
        const real: Real = { world, pending: undefined };
        try {
          await fc.asyncModelRun(
            () => ({ model: { state: world.ledger.current, crashed: false, zombie: false }, real }),
            cmds,
          );
          // Every sequence ends with a crash (losing whatever is unsynced) and a recovery.
          if (real.pending === undefined)
            real.pending = world.crash({ kind: 'random', seed: sequences });
          await recoverPending(real);
          assert.deepEqual(
            world.violations,
            [],
            `violations after the final recovery (${describeOps(world)})`,
          );
        } catch (error) {
          if (failure !== undefined) {
            throw new Error(
              `${error instanceof Error ? error.message : String(error)}\n(saved to ${failure})`,
            );
          }
          throw error;
        } finally {
          await world.close();
        }
      },
    );
    try {
      await fc.assert(property, {
        numRuns: knobs.fcRuns,
        seed,
        path: process.env.FC_PATH,
        endOnFailure: process.env.FC_SHRINK === '0',
      });
    } finally {
      simStats.sequences += sequences;
      simStats.timings.set(
        'fast-check',
        (simStats.timings.get('fast-check') ?? 0) + performance.now() - started,
      );
    }
    console.log(
      `      fast-check: ${sequences} sequences in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    assert.ok(
      sequences >= knobs.fcRuns,
      `ran ${sequences} sequences, expected at least ${knobs.fcRuns}`,
    );
  });
});
