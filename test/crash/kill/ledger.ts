/**
 * The parent's oracle for one lane: the state the last recovery proved (the base), the ops a child
 * recorded on top of it (its intent file), what it acknowledged, and the checks of a recovery
 * against all that (crash-testing.md (b)):
 *
 * I1  the recovered tree equals S_j for some j (a prefix of the recorded ops, nothing else);
 * I2  j covers every acknowledged op;
 * I3  no op beyond what was written, nothing of a fenced zombie, and the FSM's NextSeqNo and
 *     checksum after replay equal the Recorder's after op j (plus hand-off no-ops of recoveries
 *     that crashed, which change no file);
 * I4  (namespace lane) a journal read returns only whole records, never torn or foreign bytes;
 * I5  stored hints reference only acknowledged ops (and are never torn);
 * I6  a recovery that crashed changes nothing: the next one finds the same state.
 */
import { HintsStore, StoredHintsError } from '../../../src/hints-store.js';
import type { FSMHints } from '../../../src/wire/types.js';
import { describeOp, type KillOp, type TreeModel } from './model.js';
import type { FsmPosition } from './protocol.js';
import { describeDifference, type TreeSnapshot } from './tree.js';

export type Invariant = 'I1' | 'I2' | 'I3' | 'I4' | 'I5' | 'I6' | 'I7' | 'harness';

export interface Violation {
  invariant: Invariant;
  detail: string;
}

export interface Recovered {
  tree: TreeSnapshot;
  fsm: FsmPosition;
}

export interface PrefixInput {
  /** S_0 of this generation (the state the previous recovery proved). */
  base: TreeModel;
  /** The FSM after S_0 as the previous replay saw it (or the child after its hand-off). */
  basePost: FsmPosition;
  /** Ops 1..n the child may have appended (from its intent file). */
  ops: readonly KillOp[];
  /** The Recorder's FSM after op i, where the child wrote it down. */
  posts: ReadonlyMap<number, FsmPosition>;
  /** Ops 1..acked were acknowledged. */
  acked: number;
  /** Hand-off no-ops that may follow S_0's ops (recoveries that crashed since). */
  noops: number;
  /** True when this generation never recovered (the child died in recovery): I6 applies. */
  crashedInRecovery: boolean;
  recovered: Recovered;
}

export type PrefixResult =
  { ok: true; j: number; model: TreeModel } | { ok: false; violation: Violation };

function positionMatches(post: FsmPosition | undefined, got: FsmPosition, noops: number): boolean {
  if (post === undefined) return true; // killed before it wrote the position down
  const extra = got.seqNo - post.seqNo;
  if (extra < 0 || extra > noops) return false;
  return extra > 0 || got.checksum === post.checksum;
}

/** Finds the prefix j the recovered tree is, and checks I1, I2, I3 (and I6) on it. */
export function findPrefix(input: PrefixInput): PrefixResult {
  const { ops, acked, recovered } = input;
  const model = input.base.clone();
  const states: TreeSnapshot[] = [model.snapshot()];
  try {
    for (const op of ops) {
      model.apply(op);
      states.push(model.snapshot());
    }
  } catch (err) {
    // The child chose its ops from its own view of the tree: they must apply to the ledger's.
    return {
      ok: false,
      violation: {
        invariant: 'harness',
        detail: `op ${states.length} does not apply to the ledger's base: ${String(err)}`,
      },
    };
  }
  const zombie = recovered.tree.entries.find((e) => e.path.startsWith('/zombie-'));
  if (zombie !== undefined) {
    return {
      ok: false,
      violation: { invariant: 'I3', detail: `a fenced zombie's file ${zombie.path} was recovered` },
    };
  }
  const matches = states.flatMap((s, j) => (s.digest === recovered.tree.digest ? [j] : []));
  if (matches.length === 0) {
    const near = states[Math.min(Math.max(acked, 0), states.length - 1)]!;
    return {
      ok: false,
      violation: {
        invariant: input.crashedInRecovery ? 'I6' : 'I1',
        detail:
          `the recovered tree is no prefix of the ${ops.length} recorded ops (acked ${acked}); ` +
          `vs S_${acked}: ${describeDifference(near, recovered.tree)}; vs S_${ops.length}: ` +
          describeDifference(states[states.length - 1]!, recovered.tree),
      },
    };
  }
  const covering = matches.filter((j) => j >= acked);
  if (covering.length === 0) {
    const j = matches[matches.length - 1]!;
    return {
      ok: false,
      violation: {
        invariant: 'I2',
        detail:
          `recovered S_${j} but ops 1..${acked} were acknowledged; lost: ` +
          ops
            .slice(j, acked)
            .map((op, n) => `#${j + n + 1} ${describeOp(op)}`)
            .slice(0, 6)
            .join(', '),
      },
    };
  }
  const j = [...covering]
    .reverse()
    .find((c) =>
      positionMatches(c === 0 ? input.basePost : input.posts.get(c), recovered.fsm, input.noops),
    );
  if (j === undefined) {
    const c = covering[covering.length - 1]!;
    const post = c === 0 ? input.basePost : input.posts.get(c);
    return {
      ok: false,
      violation: {
        invariant: 'I3',
        detail:
          `recovered S_${c}, where the Recorder's FSM was at SeqNo ${post?.seqNo} checksum ` +
          `${post?.checksum}, but replay ends at SeqNo ${recovered.fsm.seqNo} checksum ` +
          `${recovered.fsm.checksum} (up to ${input.noops} hand-off no-ops allowed)`,
      },
    };
  }
  const chosen = input.base.clone();
  for (const op of ops.slice(0, j)) chosen.apply(op);
  return { ok: true, j, model: chosen };
}

/** The largest SeqNo a hints message references. */
export function maxHintedSeqNo(hints: FSMHints): number {
  let max = 0;
  for (const node of hints.liveNodes) {
    for (const s of node.segments) max = Math.max(max, s.lastSeqNo, s.firstSeqNo);
  }
  return max;
}

/**
 * I5: every stored hints file decodes and references only acknowledged SeqNos (as far as the
 * parent heard: hints are acknowledged before they are stored) and, independently of any
 * message, only SeqNos the journal still holds after the crash (`durableSeqNo`).
 */
export async function checkStoredHints(
  hintsDir: string,
  log: string,
  ackedSeqNo: number,
  durableSeqNo: number | undefined,
): Promise<Violation[]> {
  let stored;
  try {
    stored = await new HintsStore(hintsDir).fetch(log);
  } catch (err) {
    if (err instanceof StoredHintsError) return [{ invariant: 'I5', detail: err.message }];
    throw err;
  }
  const violations: Violation[] = [];
  const all: [string, FSMHints | undefined][] = [
    ['primary', stored.primary],
    ...stored.backups.map((h, i): [string, FSMHints | undefined] => [`backup ${i}`, h]),
  ];
  for (const [which, hints] of all) {
    if (hints === undefined) continue;
    const max = maxHintedSeqNo(hints);
    if (max > ackedSeqNo) {
      violations.push({
        invariant: 'I5',
        detail: `${which} hints reference SeqNo ${max}, but only SeqNos up to ${ackedSeqNo} were acknowledged`,
      });
    } else if (durableSeqNo !== undefined && max > durableSeqNo) {
      violations.push({
        invariant: 'I5',
        detail: `${which} hints reference SeqNo ${max}, but the journal holds SeqNos up to ${durableSeqNo} only`,
      });
    }
  }
  return violations;
}
