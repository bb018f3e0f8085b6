/**
 * Bounded workloads for the exhaustive layer: every sequence of up to `maxOps` domain ops (the
 * first file is /a/x: the domain is symmetric under renaming paths), each run under one of three
 * wait patterns that shape the journal's batches and hints.
 */
import { SimWorld, type WorldOptions } from '../lib/world.js';
import { EMPTY_TREE, applyTreeOp, describeTreeOp, type TreeOp } from '../lib/tree-model.js';
import { domainOps } from './domain.js';

/**
 * - `end`: ops are recorded back to back and awaited once (group commit: later ops share batches);
 * - `each`: a barrier after every op (one commit per op, each acknowledged before the next);
 * - `hints`: BuildHints after every op (recovery then starts from the latest hints).
 */
export type WaitPattern = 'end' | 'each' | 'hints';

export const WAIT_PATTERNS: readonly WaitPattern[] = ['end', 'each', 'hints'];

/** Every op sequence of length 1..maxOps starting with create /a/x. */
export function* workloads(maxOps: number): Generator<TreeOp[]> {
  const first: TreeOp = { kind: 'create', path: '/a/x' };
  function* extend(prefix: TreeOp[], state: typeof EMPTY_TREE, depth: number): Generator<TreeOp[]> {
    yield prefix;
    if (prefix.length >= maxOps) return;
    for (const op of domainOps(state, depth)) {
      yield* extend([...prefix, op], applyTreeOp(state, op), depth + 1);
    }
  }
  yield* extend([first], applyTreeOp(EMPTY_TREE, first), 1);
}

export function describeWorkload(ops: readonly TreeOp[], pattern: WaitPattern): string {
  return `[${ops.map(describeTreeOp).join('; ')}] wait=${pattern}`;
}

/** Runs `ops` on a fresh world; the run's storage events are then explored. */
export async function runWorkload(
  ops: readonly TreeOp[],
  pattern: WaitPattern,
  options: WorldOptions = {},
): Promise<SimWorld> {
  const world = await SimWorld.create(options);
  for (const op of ops) {
    world.record(op);
    if (pattern === 'each') await world.sync();
    if (pattern === 'hints') await world.buildHints();
  }
  await world.sync();
  return world;
}
