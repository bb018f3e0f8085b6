/**
 * Layer 2 of the crash tests (crash-testing.md (b)): real processes recording into a FileJournal
 * on local disk, SIGKILLed at random moments and at failpoints, SIGSTOPped while holding the
 * append lock, recovered by fresh processes, and checked against the parent's ledger (I1, I2,
 * I3, I5, I6, I7); beside them, raw appenders in two pid namespaces share one journal
 * (namespaces.ts: I1, I2, I3, I4, I6, I7). See harness.ts for the knobs.
 */
import assert from 'node:assert/strict';
import { runKillTest, optionsFromEnv } from './harness.js';
import { NAMESPACE_MODES } from './namespaces.js';
import { unreachedFailpoints } from './stats.js';

const MIN_KILLS = 200;

describe('kill -9 crash consistency (layer 2)', function () {
  const options = optionsFromEnv();
  this.timeout((options.maxSeconds + 120) * 1000);

  it(`survives at least ${MIN_KILLS} SIGKILLs with no invariant violated`, async () => {
    const { stats, summary, failpoints } = await runKillTest(options);
    assert.equal(
      stats.violations.length,
      0,
      `${summary}\n` +
        stats.violations
          .map(
            (v) =>
              `${v.invariant} (lane ${v.lane}, gen ${v.gen}): ${v.detail}${v.corpus ? ` [${v.corpus}]` : ''}`,
          )
          .join('\n'),
    );
    assert.ok(
      stats.kills >= Math.min(MIN_KILLS, options.targetKills),
      `${summary}: fewer than ${Math.min(MIN_KILLS, options.targetKills)} kills within ${options.maxSeconds} s`,
    );
    assert.ok(stats.ackedOpsChecked > 0, `${summary}: no acknowledged op was ever checked`);
    // Every failpoint of the run was reached (a seam that moved, or a point placed nowhere,
    // shows here), and no child died at a point outside the list.
    const byFailpoint = failpoints.map((f) => `${f} ${stats.byFailpoint[f] ?? 0}`).join(', ');
    assert.deepEqual(
      unreachedFailpoints(stats, failpoints),
      [],
      `${summary}: failpoints never reached (hits: ${byFailpoint})`,
    );
    assert.deepEqual(
      Object.keys(stats.byFailpoint).filter((f) => !(failpoints as readonly string[]).includes(f)),
      [],
      `${summary}: kills at failpoints outside the run's list`,
    );
    assert.deepEqual(stats.unexpectedFailpoints, [], `${summary}: unexpected failpoint marks`);
    // The SIGSTOP plan (every lane stops its third child) ran and was poked at least once.
    if (options.targetKills >= 20) {
      assert.ok(
        stats.stoppedZombies > 0 && stats.stoppedHoldingLock > 0,
        `${summary}: no zombie was SIGSTOPped while holding the append lock and then resumed`,
      );
    }
    // The namespace lane ran every mode, unless this host cannot make a pid namespace.
    const nsRounds = options.nsRounds ?? 0;
    if (nsRounds > 0 && stats.ns.skipped === undefined) {
      assert.ok(
        stats.ns.rounds >= Math.min(nsRounds, NAMESPACE_MODES.length) && stats.ns.acked > 0,
        `${summary}: the namespace lane ran ${stats.ns.rounds} rounds, ${stats.ns.acked} acked appends`,
      );
    }
  });
});
