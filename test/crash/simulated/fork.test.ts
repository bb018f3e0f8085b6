/**
 * Zombie writers on an unfenced log (I3): a new author takes over after a read-only recovery and
 * records without journal fencing (as Gazette does without registers), while the old author
 * keeps recording. Their ops interleave in the log, both continuing from the same SeqNo and
 * checksum. Recovery from the new author's hints (lenient, as raced logs require) must rebuild
 * exactly a prefix of the new author's history, covering everything it acknowledged; no op of
 * the zombie branch may appear. Only the FSM's hinted-author check tells the branches apart at
 * the fork, which is what this test pins down.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { knobs, simStats } from './run-stats.js';
import { runFork } from './scenarios.js';

const stepArb = fc.record({
  zombie: fc.boolean(),
  kind: fc.nat({ max: 15 }),
  i: fc.nat({ max: 63 }),
  pattern: fc.integer({ min: 1, max: 1 << 20 }),
});

describe('simulated crashes: zombie branch of an unfenced fork', function () {
  this.timeout(0);

  it('the zombie opens the fork with the same SeqNo and checksum: recovery follows the hinted author', async function () {
    const world = await runFork(
      [{ zombie: false, kind: 0, i: 0, pattern: 1 }],
      [
        { zombie: true, kind: 0, i: 0, pattern: 2 },
        { zombie: false, kind: 0, i: 1, pattern: 3 },
        { zombie: false, kind: 1, i: 1, pattern: 4 },
        { zombie: true, kind: 1, i: 0, pattern: 5 },
      ],
      { save: true },
    );
    assert.deepEqual(world.violations, []);
    await world.close();
  });

  const runs = Math.max(50, Math.round(knobs.fcRuns / 10));
  it(`random interleavings of both branches (${runs} runs)`, async function () {
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArb, { minLength: 1, maxLength: 5 }),
        fc.array(stepArb, { minLength: 1, maxLength: 10 }),
        async (common, after) => {
          simStats.sequences++;
          const world = await runFork(common, after, { save: true });
          await world.close();
          assert.deepEqual(world.violations, []);
        },
      ),
      {
        numRuns: runs,
        seed: process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED),
      },
    );
  });
});
