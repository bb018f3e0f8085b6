/**
 * Replays every captured journal in test/corpus/ through recovery on every run (etcd-style
 * re-evaluation of saved reports): golden cases, cases any layer saved on failure, and (with the
 * ledger-free checks) cases other layers saved in their own format. See test/crash/lib/corpus.ts
 * for the layout and test/crash/simulated/make-golden.ts for how the golden cases were made.
 */
import assert from 'node:assert/strict';
import { loadCorpus, replayCorpusCase, replayForeignCase } from '../lib/corpus.js';
import { simStats } from './run-stats.js';

const corpus = loadCorpus();

describe('simulated crashes: captured-log corpus', function () {
  this.timeout(60_000);

  it('holds the golden cases', function () {
    const golden = corpus.cases.filter((c) => c.meta.layer === 'golden');
    assert.ok(
      golden.length >= 20,
      `expected at least 20 golden cases in test/corpus, found ${golden.length}`,
    );
  });

  for (const kase of corpus.cases) {
    it(`${kase.name}: ${kase.meta.description}`, async function () {
      const violations = await replayCorpusCase(kase);
      simStats.states++;
      simStats.recoveries += 2;
      simStats.note(`corpus-${kase.meta.layer}`);
      simStats.violation(`corpus ${kase.name}`, violations);
      assert.deepEqual(violations, []);
    });
  }

  for (const kase of corpus.foreign) {
    it(`${kase.name} (saved by another layer; checked without its ledger)`, async function () {
      const violations = await replayForeignCase(kase);
      simStats.states++;
      simStats.recoveries += 2;
      simStats.note('corpus-foreign');
      simStats.violation(`corpus ${kase.name}`, violations);
      assert.deepEqual(violations, []);
    });
  }
});
