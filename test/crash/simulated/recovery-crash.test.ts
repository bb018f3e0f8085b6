/**
 * Crashes inside recovery (I6), SQLite writecrash.test style: for each workload, run a recovery
 * that loses power at Player I/O step k = 0, 1, 2, ... (preparePlayback's delete, staging
 * creates and writes, makeLive's links, unlinks and property writes) until a recovery completes
 * without reaching its crash step; after each crash, recover again on the same target (its
 * leftovers included) and require exactly the result of an uninterrupted recovery. Recoveries
 * that take the log over (hand-off) are also crashed at every storage event of their own (the
 * hand-off no-op's write and sync), rebooted, and recovered again. Recovering twice in a row
 * must equal recovering once.
 */
import assert from 'node:assert/strict';
import type { Violation } from '../lib/invariants.js';
import type { TreeOp } from '../lib/tree-model.js';
import { simStats } from './run-stats.js';
import { PICKED, crashHandoffStorage, crashPlayerAtEveryStep } from './scenarios.js';
import { describeWorkload, runWorkload, workloads, type WaitPattern } from './workloads.js';

describe('simulated crashes: crashes during recovery', function () {
  this.timeout(0);

  const cases: { ops: TreeOp[]; pattern: WaitPattern }[] = [...PICKED];
  let i = 0;
  for (const ops of workloads(3)) {
    if (ops.length === 3 && i++ % 11 === 0)
      cases.push({ ops, pattern: (['end', 'each', 'hints'] as const)[i % 3]! });
  }

  it(`recovering after a crash at every Player I/O step equals an uninterrupted recovery (${cases.length} workloads)`, async function () {
    const violations: Violation[] = [];
    let steps = 0;
    for (const { ops, pattern } of cases) {
      const world = await runWorkload(ops, pattern);
      const where = describeWorkload(ops, pattern);
      const { disk, expectation } = world.crash({ kind: 'keep-all' });
      for (const handoff of [false, true]) {
        const result = await crashPlayerAtEveryStep(disk, expectation, handoff, where);
        steps += result.steps;
        violations.push(...result.violations);
      }
      violations.push(...(await crashHandoffStorage(disk, expectation, where)));
      simStats.sequences++;
      await world.close();
    }
    simStats.violation('recovery-crash', violations);
    console.log(
      `      crash-in-recovery: ${cases.length} workloads, ${steps} Player I/O steps crashed`,
    );
    assert.ok(steps > cases.length * 4, 'recoveries took implausibly few I/O steps');
    assert.deepEqual(violations, []);
  });
});
