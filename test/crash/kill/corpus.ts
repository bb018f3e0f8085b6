/**
 * Failing kill cases, kept in the shared corpus format (test/crash/lib/corpus.ts) so that the
 * simulated layer replays them on every run with the shared invariant checker: the journal
 * directory, a Ledger (the linear history the lane proved, then the ops of the generation under
 * test, with their acknowledgements, FSM positions and the hints it recovered from), and
 * case.json. The lane's own view (kill.json: what each child was told and reported, stderr) and
 * the hints directory are stored next to them for debugging.
 */
import { mkdtemp, readFile, readdir, rm, stat, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileJournal } from '../../../src/journal/file.js';
import type { FSMHints } from '../../../src/wire/types.js';
import { caseName, saveCorpusCase, type CorpusCase, type CorpusCaseMeta } from '../lib/corpus.js';
import type { Violation as SharedViolation } from '../lib/invariants.js';
import type { LedgerEntry, LedgerJSON, RejectedEntry } from '../lib/ledger.js';
import type { TreeOp } from '../lib/tree-model.js';
import type { Violation } from './ledger.js';
import { payloadBytes, type KillOp } from './model.js';

export function toTreeOp(op: KillOp): TreeOp {
  switch (op.kind) {
    case 'write':
      return {
        kind: 'write',
        path: op.path,
        offset: op.offset,
        data: { b64: payloadBytes(op.data).toString('base64') },
      };
    case 'append':
      return {
        kind: 'append',
        path: op.path,
        data: { b64: payloadBytes(op.data).toString('base64') },
      };
    default:
      return op;
  }
}

export interface KillCase {
  /** What went wrong, in a few words (goes into the case name). */
  label: string;
  description: string;
  journalName: string;
  journal: ReadonlyMap<string, Uint8Array>;
  /** History proven before the generation under test (durable: a recovery found it). */
  proven: readonly LedgerEntry[];
  /** The generation under test (epoch 1: acknowledged entries carry ackedAt). */
  current: readonly LedgerEntry[];
  rejected: readonly RejectedEntry[];
  /** The hints that generation recovered from, covering the proven history. */
  hints?: FSMHints;
  violations: readonly Violation[];
  reproduce: Readonly<Record<string, string | number>>;
  /** The lane's own record, saved as kill.json. */
  lane: unknown;
  hintsDir?: string;
}

export function buildKillCase(kase: KillCase): CorpusCase {
  const ledger: LedgerJSON = {
    version: 1,
    journal: kase.journalName,
    epoch: 1,
    initialSeqNo: 1,
    initialChecksum: 0,
    journalCreatedAt: 0,
    history: [
      ...kase.proven.map((e) => ({ ...e, epoch: 0 })),
      ...kase.current.map((e) => ({ ...e, epoch: 1 })),
    ],
    rejected: kase.rejected,
    hints:
      kase.hints === undefined
        ? []
        : [{ hints: kase.hints, epoch: 0, resolvedAt: 0, covers: kase.proven.length }],
  };
  const violations: SharedViolation[] = kase.violations.flatMap((v) =>
    v.invariant === 'harness' ? [] : [{ invariant: v.invariant, message: v.detail }],
  );
  const meta: CorpusCaseMeta = {
    version: 1,
    layer: 'kill',
    description: kase.description,
    at: null,
    damage: { kind: 'crash' },
    recovery: { useHints: kase.hints !== undefined },
    reproduce: kase.reproduce,
    violations,
  };
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    name: caseName('kill', `${stamp}-${kase.label}`),
    meta,
    ledger,
    journal: kase.journal,
  };
}

/** Saves the case (shared format) plus kill.json and the hints directory; returns its dir. */
export async function saveKillCase(kase: KillCase, corpusDir?: string): Promise<string> {
  const dir = await saveCorpusCase(buildKillCase(kase), corpusDir);
  await writeFile(join(dir, 'kill.json'), `${JSON.stringify(kase.lane, null, 1)}\n`);
  if (kase.hintsDir !== undefined) {
    await cp(kase.hintsDir, join(dir, 'hints'), { recursive: true }).catch(() => undefined);
  }
  return dir;
}

/** The files of a journal directory (lock files left out). */
export async function journalFilesOf(dir: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const name of (await readdir(dir)).sort()) {
    if (name.startsWith('lock')) continue;
    const path = join(dir, name);
    if ((await stat(path)).isFile()) out.set(name, new Uint8Array(await readFile(path)));
  }
  return out;
}

/**
 * The files of a journal holding only the first `head` bytes of the one in `dir` (as it was
 * before later appends): the same byte stream, written as one append to a fresh journal.
 */
export async function journalFilesUpTo(
  dir: string,
  name: string,
  head: number,
): Promise<Map<string, Uint8Array>> {
  const data = (await readFile(join(dir, 'data'))).subarray(0, head);
  const scratch = await mkdtemp(join(tmpdir(), 'recoverylog-kill-case-'));
  try {
    const journal = await FileJournal.create(join(scratch, 'journal'), name);
    if (data.length > 0) await journal.append(data);
    await journal.close();
    return await journalFilesOf(join(scratch, 'journal'));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
