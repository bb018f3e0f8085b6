/**
 * The driver's recoveries after a cut, onto storage that is NOT the flakey device (an in-memory
 * memfs volume), and the invariants checked on them:
 *
 * - I1/I2/I3/I4: recover from the stored hints (as an application would, read-only) and hold the
 *   result to the lineage's expectation with the shared checker (test/crash/lib/invariants.ts);
 * - I5: replaying the log from offset 0 (while nothing was pruned), or else recovering from the
 *   stored hints file that needs the most of the log (prune must keep what every stored hints
 *   file needs, and fragments are only ever deleted from the start), gives the same tree and FSM
 *   position as the hinted recovery; every stored hints file references only acknowledged,
 *   durable SeqNos;
 * - I6: a recovery that crashes at a random step of its target writes, then runs again over the
 *   leftovers, ends where a clean one does.
 */
import { HintsStore, StoredHintsError } from '../../../src/hints-store.js';
import { FileJournal } from '../../../src/journal/file.js';
import { lowestNeededOffset } from '../../../src/journal/prune-plan.js';
import type { FSMHints } from '../../../src/wire/types.js';
import { checkStoredHints } from '../kill/ledger.js';
import { CrashableTarget } from '../lib/crashable-target.js';
import {
  INTEGRITY_ERROR_CODES,
  checkRecovery,
  describeError,
  errorCode,
  sameRecovery,
  type Damage,
  type Observation,
  type Violation,
} from '../lib/invariants.js';
import type { Expectation } from '../lib/ledger.js';
import { emptyHints, runRecovery } from '../lib/recover.js';
import type { CheckedState, Lineage } from './lineage.js';

export interface RecoveryCheck {
  violations: Violation[];
  /** The prefix length the recovered tree matched (undefined: failed, or no journal). */
  k: number | undefined;
  /** What the driver's recovery found (undefined when it failed). */
  checked: CheckedState | undefined;
  /** The hinted recovery's observation. */
  observation: Observation;
  /** Recovery failed with a typed integrity error (media damage was detected). */
  detected: boolean;
  /** The journal did not exist (a cut before its create finished). */
  missing: boolean;
  /** A documented weakness the checker tolerated (see test/crash/lib/invariants.ts). */
  gap: string | undefined;
  /** One line for the log. */
  summary: string;
  /**
   * Where the time went (ms): the hinted recovery, the other recoveries (from 0 and from the
   * other stored hints), crash + recovery again, the stored hints' check.
   */
  timings: { hinted: number; others: number; crashAgain: number; storedHints: number };
  /** The other recovery compared with the hinted one (none, or one). */
  others: string[];
  /** The first offset the journal still holds (0 unless pruned; undefined: unreadable). */
  low: number | undefined;
}

export interface CheckOptions {
  damage: Damage;
  /**
   * Where to read the journal (default: the lineage's). The driver passes a copy of its files
   * as the cut left them, off the flakey mount (see powercut.ts).
   */
  journalDir?: string;
  /** For I4: every payload recorded writes carried (checks each write the Player issued). */
  payloads?: readonly Uint8Array[];
  random: () => number;
}

export async function checkLineageRecovery(
  lineage: Lineage,
  expect: Expectation,
  options: CheckOptions,
): Promise<RecoveryCheck> {
  const violations: Violation[] = [];
  const log = lineage.name;
  const journalDir = options.journalDir ?? lineage.journalDir;
  let hints: FSMHints = emptyHints(log);
  try {
    hints = await new HintsStore(lineage.hintsDir).pick(log);
  } catch (error) {
    if (!(error instanceof StoredHintsError)) throw error;
    violations.push({ invariant: 'I5', message: `stored hints unusable: ${error.message}` });
  }
  const hinted = hints.liveNodes.length > 0 || hints.properties.length > 0;
  const media = options.damage.kind === 'media';

  const timings = { hinted: 0, others: 0, crashAgain: 0, storedHints: 0 };
  let t = performance.now();
  const lap = (): number => {
    const before = t;
    t = performance.now();
    return Math.round(t - before);
  };
  const main = await runRecovery({ journalDir, hints });
  timings.hinted = lap();
  const observation = main.observation;
  const result = checkRecovery(expect, observation, options.damage, options.payloads);
  violations.push(...result.violations);
  const code = observation.ok ? undefined : errorCode(observation.error);
  const missing =
    !observation.ok &&
    main.stage === 'open' &&
    expect.journalMayBeMissing &&
    result.violations.length === 0;
  const detected =
    !observation.ok && media && code !== undefined && INTEGRITY_ERROR_CODES.has(code);

  const low = await journalLow(journalDir);
  const others: string[] = [];
  if (observation.ok) {
    // Replay from 0 reads the whole log: possible only while nothing was pruned. After a prune,
    // the stored hints that need the most of the log (prune kept what each of them needs) must
    // lead to the same place as the picked ones. One extra recovery either way: emulation is slow.
    const alternatives: [string, FSMHints][] = [];
    if (low === 0) {
      if (hinted) alternatives.push(['replay from offset 0', emptyHints(log)]);
    } else {
      const picked = JSON.stringify(hints);
      const others = (await storedHints(lineage.hintsDir, log)).filter(
        ([, stored]) => JSON.stringify(stored) !== picked,
      );
      const oldest = oldestStoredHints(others, log);
      if (oldest !== undefined)
        alternatives.push([`recovery from the ${oldest[0]} hints`, oldest[1]]);
    }
    for (const [what, alternative] of alternatives) {
      const other = (await runRecovery({ journalDir, hints: alternative })).observation;
      others.push(what);
      const tolerated =
        media && !other.ok && INTEGRITY_ERROR_CODES.has(errorCode(other.error) ?? '');
      if (!tolerated && !sameObservation(observation, other)) {
        violations.push({
          invariant: 'I5',
          message:
            `recovery from the stored hints and ${what} differ (journal holds offsets from ${low}): ` +
            `hints ${describeObservation(observation)}; ${what}: ${describeObservation(other)}`,
        });
      }
    }
    timings.others = lap();
  }

  if (observation.ok && main.target.steps > 0) {
    const crashAt = Math.floor(options.random() * main.target.steps);
    const crashing = new CrashableTarget(undefined, crashAt);
    await runRecovery({ journalDir, hints, target: crashing });
    const again = await runRecovery({
      journalDir,
      hints,
      target: crashing.reboot(),
    });
    violations.push(
      ...sameRecovery(observation, again.observation, `crash at target step ${crashAt}`),
    );
    timings.crashAgain = lap();
  }

  if (!missing) {
    const durableSeqNo = observation.ok ? observation.nextSeqNo! - 1 : undefined;
    for (const v of await checkStoredHints(
      lineage.hintsDir,
      log,
      lineage.ackedSeqNo,
      durableSeqNo,
    )) {
      // Media damage may cut acknowledged ops (then the recovery above reports it); hints naming
      // them are no separate finding.
      if (media && durableSeqNo !== undefined && /journal holds SeqNos/.test(v.detail)) continue;
      violations.push({ invariant: 'I5', message: v.detail });
    }
    timings.storedHints = lap();
  }

  const checked: CheckedState | undefined = observation.ok
    ? {
        key: observation.key,
        nextSeqNo: observation.nextSeqNo!,
        nextChecksum: observation.nextChecksum!,
      }
    : undefined;
  const files = observation.ok
    ? observation.key === ''
      ? 0
      : observation.key.split('\n').length
    : 0;
  const summary = missing
    ? 'no journal yet'
    : observation.ok
      ? `recovered S_${result.k ?? '?'} (${expect.acked} acked, ${expect.written} recorded; ${files} files, next SeqNo ${observation.nextSeqNo}${hinted ? ', from hints' : ''})`
      : `recovery failed: ${describeError(observation.error)}`;
  return {
    violations,
    k: result.k,
    checked,
    observation,
    detected,
    missing,
    gap: result.gap,
    summary,
    timings,
    others,
    low,
  };
}

/** The first offset the journal holds (opened read-only: opening writes nothing anyway). */
async function journalLow(dir: string): Promise<number | undefined> {
  let journal: FileJournal;
  try {
    journal = await FileJournal.open(dir, { readOnly: true });
  } catch {
    return undefined;
  }
  try {
    return journal.low;
  } finally {
    await journal.close();
  }
}

/** The stored hints that need the lowest offset of the log (the first of equals). */
function oldestStoredHints(
  stored: [string, FSMHints][],
  log: string,
): [string, FSMHints] | undefined {
  let oldest: [string, FSMHints] | undefined;
  let lowest = Number.POSITIVE_INFINITY;
  for (const entry of stored) {
    let needed: number;
    try {
      needed = lowestNeededOffset(log, [entry[1]]);
    } catch {
      continue; // names neither this log nor a segment in it
    }
    if (needed < lowest) {
      lowest = needed;
      oldest = entry;
    }
  }
  return oldest;
}

/** Every stored hints file that decodes (unusable ones are reported by the pick and I5 check). */
async function storedHints(dir: string, log: string): Promise<[string, FSMHints][]> {
  let stored;
  try {
    stored = await new HintsStore(dir).fetch(log);
  } catch (error) {
    if (error instanceof StoredHintsError) return [];
    throw error;
  }
  const out: [string, FSMHints][] = [];
  if (stored.primary !== undefined) out.push(['primary', stored.primary]);
  stored.backups.forEach((h, i) => {
    if (h !== undefined) out.push([`backup ${i}`, h]);
  });
  return out;
}

function sameObservation(a: Observation, b: Observation): boolean {
  return (
    a.ok &&
    b.ok &&
    a.key === b.key &&
    a.nextSeqNo === b.nextSeqNo &&
    a.nextChecksum === b.nextChecksum
  );
}

function describeObservation(o: Observation): string {
  if (!o.ok) return `failed: ${describeError(o.error)}`;
  return `next SeqNo ${o.nextSeqNo}, checksum ${o.nextChecksum}, tree:\n${o.key}`;
}
