/**
 * Counters shared by every simulated-crash test file, the run's knobs (environment variables,
 * so CI and a developer reproducing a failure can size the run), and the summary printed once
 * after all tests:
 *
 *   simulated: <states> crash states, <sequences> sequences, <v> violations
 */
import { CrashStats } from '../lib/stats.js';
import { saveCorpusCase, caseName, type CorpusCase } from '../lib/corpus.js';

export const simStats = new CrashStats();

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`${name} must be a non-negative integer, got ${raw}`);
  return value;
}

export const knobs = {
  /** fast-check sequences (SIM_FC_RUNS). */
  fcRuns: envInt('SIM_FC_RUNS', 2500),
  /** Longest exhaustive workload (SIM_MAX_OPS). */
  maxOps: envInt('SIM_MAX_OPS', 3),
  /** Longer workloads run under all three wait patterns (SIM_ALL_PATTERNS=0: one each, rotating). */
  allPatterns: envInt('SIM_ALL_PATTERNS', 1) === 1,
  /** Workloads up to this length tear their last append at every byte under every wait pattern. */
  everyByteOps: envInt('SIM_EVERY_BYTE_OPS', 2),
  /** Saved corpus cases per run at most (a broken build must not write thousands). */
  maxSavedCases: envInt('SIM_MAX_SAVED_CASES', 5),
};

let saved = 0;

/** Saves a failing case to test/corpus (bounded per run); returns where, or undefined. */
export async function saveFailure(prefix: string, kase: CorpusCase): Promise<string | undefined> {
  if (process.env.SIM_NO_CORPUS === '1') return undefined;
  if (saved >= knobs.maxSavedCases && kase.name === '') return undefined;
  const name =
    kase.name !== '' ? kase.name : caseName(`sim-${prefix}`, `${Date.now().toString(36)}-${saved}`);
  if (kase.name === '') saved++;
  try {
    return await saveCorpusCase({ ...kase, name });
  } catch (error) {
    console.error(`could not save corpus case ${name}: ${String(error)}`);
    return undefined;
  }
}

// Once per process: the seeded-bug suite loads a second copy of this module (from a patched copy
// of the sources, see ../lib/source-mutants.ts) whose counters are not the run's.
const registry = globalThis as { recoverylogSimulatedSummary?: true };
if (typeof after === 'function' && registry.recoverylogSimulatedSummary === undefined) {
  registry.recoverylogSimulatedSummary = true;
  after(function () {
    for (const line of simStats.report('simulated')) console.log(line);
  });
}
