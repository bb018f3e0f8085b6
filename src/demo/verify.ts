/**
 * Step 5 of the demo: the recovered tree must be exactly one workload state, at or after the
 * last acknowledged one, and the store must reopen from it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { workloadStates, type WorkloadStates } from './model.js';
import type { DemoOptions, DemoResult } from './options.js';
import { fail, plural } from './report.js';
import { describeTreeDifference, readTree, treeDigest } from './tree.js';
import { readStore, type Action } from './workload.js';

/** Verifies `recoveredDir` against the workload's states, completing `result`. */
export async function verifyRecovered(
  actions: readonly Action[],
  model: WorkloadStates,
  recoveredDir: string,
  result: DemoResult,
  options: DemoOptions,
  print: (line: string) => void,
): Promise<DemoResult> {
  await options.beforeVerify?.(recoveredDir);
  const recovered = await readTree(recoveredDir);
  const verdict = matchRecoveredState(model.digests, result.ackedState, treeDigest(recovered));
  if (verdict.state === undefined) {
    const expected = workloadStates(actions, new Set([result.ackedState])).entries.get(
      result.ackedState,
    )!;
    const older =
      verdict.olderState !== undefined ? ` (it equals older state ${verdict.olderState})` : '';
    return fail(
      result,
      print,
      `the recovered tree is not any state at or after the acknowledged state ` +
        `${result.ackedState}${older}. Versus the acknowledged state: ` +
        describeTreeDifference(expected, recovered),
    );
  }
  result.recoveredState = verdict.state;
  const reopened = await readStore(async (path) => {
    try {
      return await readFile(join(recoveredDir, path), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  });
  const beyond = result.recoveredState - result.ackedState;
  print(
    `5. Verification: the recovered tree (${recovered.length} files) equals workload state ` +
      `${result.recoveredState}` +
      (beyond > 0
        ? `, ${plural(beyond, 'state', 'states')} past the last acknowledgement (ops that ` +
          'reached the journal after it survived too).'
        : ', exactly the last acknowledged state.'),
  );
  if (reopened !== undefined) {
    print(
      `   The store reopens from it: MANIFEST generation ${reopened.generation}, ` +
        `${reopened.files.length} table files, ${reopened.values.size} keys, ` +
        `${model.putsAt[result.recoveredState]} puts.`,
    );
  }
  result.verified = true;
  print('');
  print(
    'VERIFIED: nothing acknowledged was lost, and nothing recovered is a state that never existed.',
  );
  return result;
}

/**
 * The verdict: the first workload state at or after `ackedState` whose digest is the recovered
 * tree's (recovery may include ops recorded after the last acknowledgement, never fewer), or
 * undefined, with the latest older matching state if there is one (acknowledged data lost).
 */
export function matchRecoveredState(
  digests: readonly string[],
  ackedState: number,
  recoveredDigest: string,
): { state?: number; olderState?: number } {
  for (let i = ackedState; i < digests.length; i++) {
    if (digests[i] === recoveredDigest) return { state: i };
  }
  for (let i = Math.min(ackedState, digests.length) - 1; i >= 0; i--) {
    if (digests[i] === recoveredDigest) return { olderState: i };
  }
  return {};
}
