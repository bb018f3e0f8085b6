/**
 * The seeded-bug suite: each bug of seeded-bugs.ts is switched on in turn (a fault of the
 * simulated disk, or a source patch on a temporary copy of the sources), and its detector, this
 * layer's own machinery, must report a violation. Before that, the same detector runs on the code
 * as it is, on a healthy disk, and must report none, so a catch is the bug's doing. A seeded bug
 * this layer does not catch fails the suite, and so does a source patch that no longer applies.
 *
 * Runs here keep their counters apart from the run's totals and save nothing to the corpus.
 */
import assert from 'node:assert/strict';
import {
  PatchMismatchError,
  applyPatch,
  withSourceMutant,
  type SourcePatch,
} from '../lib/source-mutants.js';
import { simStats } from './run-stats.js';
import { runDetector, type DetectorRun } from './seeded-bug-detectors.js';
import { SEEDED_BUGS, type SeededBug } from './seeded-bugs.js';

type Detectors = typeof import('./seeded-bug-detectors.js');

/** The detector's run with `bug` switched on. */
async function runWithBug(bug: SeededBug): Promise<DetectorRun> {
  if (bug.on.kind === 'disk') return runDetector(bug.detector, bug.on.faults);
  return withSourceMutant(bug.on.patches, async (tree) => {
    const mutant = await tree.import<Detectors>('test/crash/simulated/seeded-bug-detectors.ts');
    return mutant.runDetector(bug.detector);
  });
}

describe('simulated crashes: seeded bugs are caught', function () {
  this.timeout(0);

  it('the catalogue names each bug once', function () {
    const names = SEEDED_BUGS.map((bug) => bug.name);
    assert.deepEqual([...new Set(names)], names);
    assert.ok(names.length >= 7);
  });

  it('a source patch applies only where its pattern occurs exactly once', function () {
    const patch: SourcePatch = { file: 'x.ts', find: 'check();\n', replace: '' };
    assert.equal(applyPatch('a();\ncheck();\nb();\n', patch), 'a();\nb();\n');
    for (const text of ['a();\n', 'check();\ncheck();\n']) {
      assert.throws(() => applyPatch(text, patch), PatchMismatchError);
    }
    assert.throws(() => applyPatch('check();\n', { ...patch, replace: patch.find }));
  });

  for (const bug of SEEDED_BUGS) {
    it(`${bug.name}: ${bug.how}`, async function () {
      const control = await runDetector(bug.detector);
      assert.equal(
        control.caught,
        0,
        `the ${bug.detector} detector reports violations with no bug on:\n${control.report.join('\n')}`,
      );
      const started = performance.now();
      const run = await runWithBug(bug);
      const ms = performance.now() - started;
      simStats.note('seeded-bug-caught', run.caught > 0 ? 1 : 0);
      console.log(
        `      ${bug.name} (${bug.on.kind}): ${run.caught > 0 ? 'caught' : 'NOT CAUGHT'} in ` +
          `${ms.toFixed(0)} ms after ${run.states} crash states` +
          (run.first !== undefined
            ? ` (${run.first.invariant}: ${run.first.message.split('\n')[0]!.slice(0, 140)})`
            : ''),
      );
      assert.ok(run.caught > 0, `seeded bug ${bug.name} was not caught by the simulated layer`);
    });
  }
});
