/**
 * The small domain the simulated layer enumerates over (B3's bounded workloads): two directories,
 * three file paths (one file, a sibling in the same directory, a file in the other directory:
 * every relation two or three paths can have up to renaming), the IDENTITY property, and write
 * shapes that matter to a journal: small, large (crossing 512 B and 4 KiB boundaries),
 * overlapping, sparse (a hole), append.
 */
import { opProblem, type DataSpec, type TreeOp, type TreeState } from '../lib/tree-model.js';

export const PATHS = ['/a/x', '/a/y', '/b/x'] as const;
export const PROPERTY = '/IDENTITY';

export const WRITE_SHAPES = {
  small: { offset: 0, length: 16 },
  large: { offset: 0, length: 5000 },
  overlap: { offset: 8, length: 16 },
  sparse: { offset: 9000, length: 8 },
} as const;

export type WriteShape = keyof typeof WRITE_SHAPES;

let patternCounter = 0;

/** Distinct data for each write, so a misplaced or stale write is visible. */
function data(length: number, pattern?: number): DataSpec {
  return { pattern: pattern ?? ++patternCounter, length };
}

/** Every op of the domain that applies to `state` (deterministic order and data). */
export function domainOps(state: TreeState, salt: number): TreeOp[] {
  const ops: TreeOp[] = [];
  const existing = PATHS.filter((p) => state.links.has(p));
  for (const path of PATHS) ops.push({ kind: 'create', path });
  let n = 0;
  for (const path of existing) {
    for (const shape of Object.keys(WRITE_SHAPES) as WriteShape[]) {
      const { offset, length } = WRITE_SHAPES[shape];
      ops.push({ kind: 'write', path, offset, data: data(length, salt * 100 + n++) });
    }
    ops.push({ kind: 'append', path, data: data(12, salt * 100 + n++) });
    ops.push({ kind: 'unlink', path });
    for (const to of PATHS) {
      if (to !== path) ops.push({ kind: 'link', from: path, to });
      if (to !== path) ops.push({ kind: 'rename', from: path, to });
    }
    ops.push({ kind: 'rename', from: path, to: PROPERTY });
  }
  return ops.filter((op) => opProblem(state, op) === undefined);
}

export { data as domainData };
