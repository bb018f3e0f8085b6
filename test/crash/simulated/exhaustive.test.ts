/**
 * Bounded exhaustive crash enumeration (CrashMonkey/B3, ALICE, SQLite crash VFS): every workload
 * of up to SIM_MAX_OPS (3) domain ops, recorded through the real Recorder into a FileJournal on
 * the simulated disk, is crashed after every storage event (after each write, between a write
 * and its sync, after each sync, around directory syncs and the journal's creation) in every
 * crash mode (each pending write kept / dropped / torn at 512 B, 4 KiB and chosen bytes /
 * garbage / zeros, prefixes and reorderings, unsynced directory entries kept or lost); the run's
 * last append tears at every byte. Each state is recovered by the real FileJournal + Player and
 * checked against the ledger as it stood at that instant. Plus one bit flip per frame region
 * (magic, length, op, payload) and index record of the final log, and of the log at the latest
 * moment its last data commit was acknowledged but not yet confirmed (the documented window, see
 * ../lib/bit-flips.ts), and I7 on a sample of recovered states.
 *
 * Every workload runs under all three wait patterns (end / each / hints; SIM_ALL_PATTERNS=0
 * rotates one pattern per longer workload instead). The last append tears at every byte for
 * workloads up to SIM_EVERY_BYTE_OPS ops and, for longer ones, under the `end` pattern (where
 * group commit makes it the largest); bit flips run on the `each` pattern's final log.
 */
import assert from 'node:assert/strict';
import { journalFiles } from '../lib/corpus.js';
import { IN_WINDOW } from '../lib/bit-flips.js';
import {
  RecoveryMemo,
  exploreBitFlips,
  exploreCrashStates,
  type ViolatingState,
} from '../lib/explore.js';
import { SIM_JOURNAL_DIR, type SimWorld } from '../lib/world.js';
import { knobs, saveFailure, simStats } from './run-stats.js';
import {
  WAIT_PATTERNS,
  describeWorkload,
  runWorkload,
  workloads,
  type WaitPattern,
} from './workloads.js';

describe('simulated crashes: bounded exhaustive enumeration', function () {
  this.timeout(0);

  it(`every workload of up to ${knobs.maxOps} ops, crashed at every storage event in every crash mode`, async function () {
    const started = performance.now();
    const memo = new RecoveryMemo();
    const statesBefore = simStats.states;
    const violationsBefore = simStats.violations.length;
    let runs = 0;
    let index = 0;
    for (const ops of workloads(knobs.maxOps)) {
      const short = ops.length <= knobs.everyByteOps;
      const patterns: readonly WaitPattern[] =
        short || knobs.allPatterns ? WAIT_PATTERNS : [WAIT_PATTERNS[index % WAIT_PATTERNS.length]!];
      index++;
      for (const pattern of patterns) {
        const world = await runWorkload(ops, pattern);
        const where = describeWorkload(ops, pattern);
        const onViolation = (state: ViolatingState) => saveState(world, where, state);
        await exploreCrashStates(world, {
          stats: simStats,
          memo,
          everyByte: short || pattern === 'end',
          continuationEvery: 16,
          where,
          onViolation,
        });
        if (pattern === 'each' || patterns.length === 1) {
          await exploreBitFlips(world, { stats: simStats, where, onViolation });
        }
        await world.close();
        runs++;
      }
    }
    simStats.sequences += runs;
    const seconds = (performance.now() - started) / 1000;
    simStats.timings.set('exhaustive', (simStats.timings.get('exhaustive') ?? 0) + seconds * 1000);
    const states = simStats.states - statesBefore;
    console.log(
      `      exhaustive: ${runs} workload runs, ${states} crash states (${Math.round(states / seconds)} states/s), ` +
        `${memo.size} distinct disk images recovered, ${seconds.toFixed(1)} s`,
    );
    for (const cls of [
      'drop-tail',
      'reorder',
      'torn-byte',
      'torn-512',
      'torn-4096',
      'garbage',
      'zeros',
      'bitflip-magic',
      'bitflip-length',
      'bitflip-op',
      'bitflip-payload',
      // The documented window (README, "a damaged last commit"): flips in the newest fragment's
      // last data commit before any record confirms it, in an image taken inside the window.
      'bitflip-unconfirmed-last-commit',
      'continuation',
    ]) {
      assert.ok((simStats.coverage.get(cls) ?? 0) > 0, `crash class ${cls} was never exercised`);
    }
    const found = simStats.violations.slice(violationsBefore);
    assert.equal(
      found.length,
      0,
      found
        .slice(0, 5)
        .map((v) => `${v.invariant} [${v.where}]: ${v.message}`)
        .join('\n'),
    );
  });
});

async function saveState(world: SimWorld, where: string, state: ViolatingState): Promise<void> {
  await saveFailure('exhaustive', {
    name: '',
    meta: {
      version: 1,
      layer: 'simulated',
      description: `${where}; crash at storage event ${state.at}, ${state.mode}`,
      // A bit-flip image was taken at that event too (the final one, or one inside the window).
      at: state.at,
      damage: state.mode.startsWith('bitflip')
        ? { kind: 'media', acknowledged: true, lastCommit: state.mode.includes(IN_WINDOW) }
        : { kind: 'crash' },
      recovery: { useHints: true },
      reproduce: { test: 'test/crash/simulated/exhaustive.test.ts', workload: where },
      violations: state.violations,
    },
    ledger: world.ledger.toJSON(),
    journal: journalFiles(state.disk, SIM_JOURNAL_DIR),
  });
}
