/**
 * The invariant checker shared by every crash layer. Given what the ledger says recovery must
 * produce (`Expectation`) and what a recovery did produce (`Observation`), it lists violations of:
 *
 *   I1 prefix     the recovered tree equals S_k for some k (no half-applied op, no reordering)
 *   I2 durability k >= number of acknowledged ops
 *   I3 no phantom k <= number of ops written; the FSM position equals the Recorder's at k;
 *                 nothing a fenced or zombie writer attempted appears
 *   I4 integrity  crash damage (torn / dropped / garbage unsynced writes) never fails recovery;
 *                 media damage inside the log fails with a typed integrity error or is cut
 *                 without losing acknowledged ops; no byte that no recorded write carried ever
 *                 reaches a file (checked on every staged write the Player issued)
 *   I5 hints      hints never reference unacknowledged ops (checked when they resolve, and
 *                 recovery from them must not report possible data loss)
 *
 * I6 (recovering after a crash during recovery gives the same result) and I7 (a new Recorder
 * continues and its ops are recovered next time) compare two observations; the layers call
 * `sameRecovery` and check the second recovery's expectation with this same function.
 */
import { RecoveryLogError } from '../../../src/errors.js';
import type { Expectation, LedgerHints } from './ledger.js';

export type InvariantName = 'I1' | 'I2' | 'I3' | 'I4' | 'I5' | 'I6' | 'I7';

export interface Violation {
  readonly invariant: InvariantName;
  readonly message: string;
}

/** A staged-file write the Player issued (captured by the target-fs wrapper). */
export interface StagedWrite {
  readonly path: string;
  readonly position: number;
  readonly bytes: Uint8Array;
}

export type Observation =
  | {
      readonly ok: true;
      /** observedKey() of the recovered directory. */
      readonly key: string;
      readonly nextSeqNo?: number;
      readonly nextChecksum?: number;
      /** Hand-off no-ops the recovery appended and applied (0 for a read-only recovery). */
      readonly handoffNoops: number;
      readonly stagedWrites?: readonly StagedWrite[];
    }
  | {
      readonly ok: false;
      readonly error: unknown;
      readonly stagedWrites?: readonly StagedWrite[];
    };

/** How the bytes recovery read were damaged, which decides what counts as correct. */
export type Damage =
  /** Unsynced writes met crash fates (what a power cut can do). Recovery must succeed. */
  | { readonly kind: 'crash' }
  /**
   * Bytes of the log were altered after they were durable (media corruption, a bit flip).
   * `acknowledged`: the altered byte belongs to an acknowledged op. `lastCommit`: it lies in the
   * journal's last commit (which a reopen cannot tell from an unfinished one).
   */
  | { readonly kind: 'media'; readonly acknowledged: boolean; readonly lastCommit: boolean }
  /** A log with raced (unfenced) writers: recovery must follow the hinted author's branch. */
  | { readonly kind: 'raced' };

/** Error codes that report damaged or missing log data (what I4 accepts for media damage). */
export const INTEGRITY_ERROR_CODES: ReadonlySet<string> = new Set([
  'CorruptLog',
  'CorruptPayload',
  'PossibleDataLoss',
  'JournalCorrupt',
]);

/** Error codes meaning "there is no journal" (acceptable before it was durably created). */
const MISSING_JOURNAL_CODES: ReadonlySet<string> = new Set(['JournalNotFound', 'JournalCorrupt']);

export function errorCode(error: unknown): string | undefined {
  return error instanceof RecoveryLogError ? error.code : undefined;
}

export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = errorCode(error);
    const cause = error.cause instanceof Error ? ` (cause: ${error.cause.message})` : '';
    return `${error.constructor.name}${code ? `[${code}]` : ''}: ${error.message}${cause}`;
  }
  return String(error);
}

/** A documented weakness the run tolerates but reports (see known-gaps.ts). */
export interface CheckResult {
  readonly violations: Violation[];
  /** The recovered prefix length, when the tree matched one. */
  readonly k: number | undefined;
  /** Set when the outcome is a known, documented gap rather than a pass. */
  readonly gap?: string;
}

/** Checks one recovery. `payloads`: every byte string recorded writes carried (for I4). */
export function checkRecovery(
  expect: Expectation,
  observed: Observation,
  damage: Damage,
  payloads?: readonly Uint8Array[],
): CheckResult {
  const violations: Violation[] =
    payloads !== undefined && observed.stagedWrites !== undefined
      ? checkStagedWrites(observed.stagedWrites, payloads)
      : [];

  if (!observed.ok) {
    const code = errorCode(observed.error);
    const what = describeError(observed.error);
    if (expect.journalMayBeMissing && code !== undefined && MISSING_JOURNAL_CODES.has(code)) {
      return { violations, k: undefined };
    }
    if (damage.kind === 'media' && code !== undefined && INTEGRITY_ERROR_CODES.has(code)) {
      return { violations, k: undefined };
    }
    if (code === 'PossibleDataLoss' && expect.hints !== undefined) {
      violations.push({
        invariant: 'I5',
        message: `recovery from hints (covering ${expect.hints.covers} ops) reports possible data loss: ${what}`,
      });
    } else {
      // Losing the journal itself (its creation was acknowledged) or acknowledged ops is I2.
      const lost = expect.acked > 0 || code === 'JournalNotFound';
      violations.push({
        invariant: damage.kind !== 'media' && lost ? 'I2' : 'I4',
        message:
          `recovery failed although ${damage.kind === 'media' ? 'the damage is media damage that must give a typed integrity error' : `only ${damage.kind} damage happened`}` +
          ` (${expect.acked} ops acknowledged): ${what}`,
      });
    }
    return { violations, k: undefined };
  }

  const noops = observed.handoffNoops;
  const candidates: number[] = [];
  for (let k = 0; k < expect.states.length; k++) {
    if (expect.states[k] === observed.key) candidates.push(k);
  }
  for (const path of expect.zombiePaths) {
    if (
      observed.key
        .split('\n')
        .some((line) => line.startsWith(`${path}=`) || line.includes(`~${path}`))
    ) {
      violations.push({
        invariant: 'I3',
        message: `${path}, written only by a fenced or zombie writer, was recovered`,
      });
    }
  }
  if (candidates.length === 0) {
    violations.push({
      invariant: 'I1',
      message: `the recovered tree is none of S_0..S_${expect.states.length - 1}:\n${indent(observed.key)}`,
    });
    return { violations, k: undefined };
  }
  // Several prefixes can leave the same tree (e.g. a no-op): the FSM position tells them apart.
  const bySeq =
    observed.nextSeqNo === undefined
      ? candidates
      : candidates.filter((k) => {
          const after = expect.seqNoAfter[k];
          return after === undefined || after + noops === observed.nextSeqNo;
        });
  const pool = bySeq.length > 0 ? bySeq : candidates;
  const inRange = pool.filter((k) => k >= expect.acked && k <= expect.written);
  const k = inRange.length > 0 ? inRange[inRange.length - 1]! : pool[pool.length - 1]!;
  if (bySeq.length === 0) {
    violations.push({
      invariant: 'I3',
      message:
        `the tree equals S_${k} but the FSM's next SeqNo is ${observed.nextSeqNo}, the ` +
        `Recorder's after ${k} ops was ${expect.seqNoAfter[k]} (+${noops} hand-off no-ops)`,
    });
  } else if (noops === 0 && observed.nextChecksum !== undefined) {
    const after = expect.checksumAfter[k];
    if (after !== undefined && after >>> 0 !== observed.nextChecksum >>> 0) {
      violations.push({
        invariant: 'I3',
        message: `after ${k} ops the FSM checksum is ${hex(observed.nextChecksum)}, the Recorder's was ${hex(after)}`,
      });
    }
  }
  if (k > expect.written) {
    violations.push({
      invariant: 'I3',
      message: `recovered ${k} ops but only ${expect.written} had been handed to the journal`,
    });
  }
  if (k < expect.acked) {
    violations.push({
      invariant: damage.kind === 'media' && damage.acknowledged ? 'I4' : 'I2',
      message:
        `recovered ${k} ops but ${expect.acked} were acknowledged` +
        (damage.kind === 'media'
          ? ' (acknowledged bytes were damaged and silently cut instead of reported)'
          : ''),
    });
  }
  return { violations, k };
}

/** I4: every byte string the Player wrote to a staged file was carried by a recorded write. */
export function checkStagedWrites(
  writes: readonly StagedWrite[],
  payloads: readonly Uint8Array[],
): Violation[] {
  for (const write of writes) {
    if (!payloads.some((p) => containsAt(p, write.bytes))) {
      return [
        {
          invariant: 'I4',
          message:
            `the Player wrote ${write.bytes.length} bytes at ${write.path}@${write.position} ` +
            'that no recorded write carried (a corrupt payload reached a file)',
        },
      ];
    }
  }
  return [];
}

/** I5 at the moment hints resolve: every op they may reference was acknowledged. */
export function checkHintsAcked(hints: LedgerHints, ackedWhenResolved: number): Violation[] {
  if (ackedWhenResolved >= hints.covers) return [];
  return [
    {
      invariant: 'I5',
      message:
        `BuildHints resolved covering ${hints.covers} ops while only ${ackedWhenResolved} were ` +
        'acknowledged: the hints reference unacknowledged ops',
    },
  ];
}

/** I6: a second recovery (after a crash in the first) must equal a clean one. */
export function sameRecovery(clean: Observation, again: Observation, what: string): Violation[] {
  if (clean.ok && again.ok && clean.key === again.key) return [];
  if (!clean.ok && !again.ok && errorCode(clean.error) === errorCode(again.error)) return [];
  const show = (o: Observation): string =>
    o.ok ? `tree:\n${indent(o.key)}` : describeError(o.error);
  return [
    {
      invariant: 'I6',
      message: `${what}: recovery after a crash during recovery differs from a clean one.\nclean ${show(clean)}\nagain ${show(again)}`,
    },
  ];
}

function containsAt(haystack: Uint8Array, needle: Uint8Array): boolean {
  if (needle.length === 0) return true;
  if (needle.length > haystack.length) return false;
  const first = needle[0]!;
  outer: for (
    let i = haystack.indexOf(first);
    i !== -1 && i + needle.length <= haystack.length;
    i = haystack.indexOf(first, i + 1)
  ) {
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

function indent(text: string): string {
  return text === ''
    ? '  (empty)'
    : text
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n');
}
