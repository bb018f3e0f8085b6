/**
 * The captured-log corpus (test/corpus/<case>/): journals that once failed (or are kept as
 * golden examples), each with the ledger that says what recovering it must produce. Every run
 * replays every case through recovery and checks the invariants (corpus.test.ts), like etcd's
 * re-evaluated robustness reports.
 *
 * Layout of a case saved with saveCorpusCase:
 *
 *   test/corpus/<name>/case.json    CorpusCaseMeta: layer, description, crash point, damage kind,
 *                                   recovery options, how to reproduce, violations seen
 *   test/corpus/<name>/ledger.json  the Ledger (LedgerJSON): history, acks, hints, rejected ops
 *   test/corpus/<name>/journal/     the journal directory's files, byte for byte (data, commits,
 *                                   journal.json for a FileJournal; lock files are not kept)
 *
 * Any layer can call saveCorpusCase (the kill -9 and dm-flakey layers pass the real journal
 * directory's files). Directories without case.json but with a journal/ directory (cases other
 * layers saved in their own format) are replayed with the checks that need no ledger.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DiskModel } from './disk-model.js';
import { FaultyFs } from './faulty-fs.js';
import {
  INTEGRITY_ERROR_CODES,
  checkRecovery,
  describeError,
  errorCode,
  sameRecovery,
  type Damage,
  type Violation,
} from './invariants.js';
import { Ledger, type LedgerJSON } from './ledger.js';
import { runRecovery } from './recover.js';
import { dataBytes } from './tree-model.js';

export const CORPUS_DIR = fileURLToPath(new URL('../../corpus/', import.meta.url));

/** Where the journal directory of a replayed case is placed on the simulated disk. */
const REPLAY_JOURNAL_DIR = '/corpus/journal';

export interface CorpusCaseMeta {
  readonly version: 1;
  /** Which layer produced it: 'simulated', 'kill', 'dmflakey', 'golden', ... */
  readonly layer: string;
  readonly description: string;
  /** Ledger clock of the crash (acks / writes counted up to it); null: after everything. */
  readonly at: number | null;
  readonly damage: Damage;
  readonly recovery: { readonly lenient?: boolean; readonly useHints: boolean };
  /** How to reproduce the run that produced it (seed, replay path, command). */
  readonly reproduce?: Readonly<Record<string, string | number>>;
  /** Violations seen when it was saved (empty for golden cases). */
  readonly violations: readonly Violation[];
}

export interface CorpusCase {
  readonly name: string;
  readonly meta: CorpusCaseMeta;
  readonly ledger: LedgerJSON;
  /** Journal directory files by name. */
  readonly journal: ReadonlyMap<string, Uint8Array>;
}

/** A corpus directory saved by another layer in its own format: replayed without a ledger. */
export interface ForeignCase {
  readonly name: string;
  readonly journal: ReadonlyMap<string, Uint8Array>;
}

/** Safe directory name for a case. */
export function caseName(prefix: string, detail: string): string {
  return `${prefix}-${detail}`.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 120);
}

/**
 * Saves a case (replacing a case of the same name, so repeated saves while fast-check shrinks
 * leave the smallest counterexample). Returns the case directory. Lock files are skipped.
 */
export async function saveCorpusCase(kase: CorpusCase, corpusDir = CORPUS_DIR): Promise<string> {
  const dir = join(corpusDir, kase.name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'journal'), { recursive: true });
  for (const [name, bytes] of kase.journal) {
    if (name.startsWith('lock') || name.includes('/')) continue;
    await writeFile(join(dir, 'journal', name), bytes);
  }
  await writeFile(join(dir, 'ledger.json'), `${JSON.stringify(kase.ledger, null, 1)}\n`);
  await writeFile(join(dir, 'case.json'), `${JSON.stringify(kase.meta, null, 2)}\n`);
  return dir;
}

/** The journal directory's files from a simulated disk. */
export function journalFiles(disk: DiskModel, journalDir: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [path, bytes] of disk.files()) {
    if (path.startsWith(`${journalDir}/`)) out.set(path.slice(journalDir.length + 1), bytes);
  }
  return out;
}

function readJournalDir(dir: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('lock')) continue;
    const path = join(dir, name);
    if (statSync(path).isFile()) out.set(name, new Uint8Array(readFileSync(path)));
  }
  return out;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Every case under `corpusDir` (ours with a ledger, others as foreign cases). Synchronous, so a
 * spec file can declare one test per case while mocha loads it (no top-level await).
 */
export function loadCorpus(corpusDir = CORPUS_DIR): {
  cases: CorpusCase[];
  foreign: ForeignCase[];
} {
  const cases: CorpusCase[] = [];
  const foreign: ForeignCase[] = [];
  if (!isDirectory(corpusDir)) return { cases, foreign };
  for (const name of readdirSync(corpusDir).sort()) {
    const dir = join(corpusDir, name);
    if (!isDirectory(join(dir, 'journal'))) continue;
    const journal = readJournalDir(join(dir, 'journal'));
    let metaText: string;
    try {
      metaText = readFileSync(join(dir, 'case.json'), 'utf8');
    } catch {
      foreign.push({ name, journal });
      continue;
    }
    const meta = JSON.parse(metaText) as CorpusCaseMeta;
    const ledger = JSON.parse(readFileSync(join(dir, 'ledger.json'), 'utf8')) as LedgerJSON;
    cases.push({ name, meta, ledger, journal });
  }
  return { cases, foreign };
}

function diskWith(journal: ReadonlyMap<string, Uint8Array>): DiskModel {
  return DiskModel.fromFiles(
    new Map([...journal].map(([name, bytes]) => [`${REPLAY_JOURNAL_DIR}/${name}`, bytes])),
  );
}

/**
 * Replays a case: recovers its journal (from the ledger's hints when the case says so) and
 * checks I1-I5 against its ledger; recovers a second time on the same disk (I6: same result);
 * and, when hints were used on a single-author log, checks that replay from byte 0 agrees (I5).
 */
export async function replayCorpusCase(kase: CorpusCase): Promise<Violation[]> {
  const ledger = Ledger.fromJSON(kase.ledger);
  const expectation = ledger.expectationAt(kase.meta.at ?? Number.POSITIVE_INFINITY);
  const hints = kase.meta.recovery.useHints ? expectation.hints?.hints : undefined;
  const disk = diskWith(kase.journal);
  const payloads: Uint8Array[] = [];
  for (const { op } of [...ledger.history, ...ledger.rejected]) {
    if (op.kind === 'write' || op.kind === 'append') payloads.push(dataBytes(op.data));
  }
  const recover = (withHints: boolean) =>
    runRecovery({
      storage: new FaultyFs(disk.clone(), { record: false }),
      journalDir: REPLAY_JOURNAL_DIR,
      hints: withHints ? hints : undefined,
      lenient: kase.meta.recovery.lenient,
    });
  const first = await recover(true);
  const check = checkRecovery(expectation, first.observation, kase.meta.damage, payloads);
  const violations = [...check.violations];
  const again = await recover(true);
  violations.push(
    ...sameRecovery(first.observation, again.observation, 'recovering the same journal twice'),
  );
  const authors = new Set(ledger.history.filter((e) => e.op.kind !== 'noop').map((e) => e.author));
  if (
    hints !== undefined &&
    authors.size <= 1 &&
    kase.meta.damage.kind === 'crash' &&
    first.observation.ok
  ) {
    const fromZero = await recover(false);
    if (!fromZero.observation.ok || fromZero.observation.key !== first.observation.key) {
      violations.push({
        invariant: 'I5',
        message: `replay from hints and replay from byte 0 differ: ${fromZero.observation.ok ? fromZero.observation.key : describeError(fromZero.observation.error)}`,
      });
    }
  }
  return violations;
}

/**
 * Checks a foreign case without a ledger: recovery from byte 0 either succeeds or fails with a
 * typed integrity error (never an internal error), and doing it twice gives the same result.
 */
export async function replayForeignCase(kase: ForeignCase): Promise<Violation[]> {
  const disk = diskWith(kase.journal);
  const recover = () =>
    runRecovery({
      storage: new FaultyFs(disk.clone(), { record: false }),
      journalDir: REPLAY_JOURNAL_DIR,
    });
  const first = await recover();
  const violations: Violation[] = [];
  if (!first.observation.ok) {
    const code = errorCode(first.observation.error);
    if (code === undefined || !INTEGRITY_ERROR_CODES.has(code)) {
      violations.push({
        invariant: 'I4',
        message: `recovery failed with an error that is not a typed integrity error: ${describeError(first.observation.error)}`,
      });
    }
  }
  violations.push(
    ...sameRecovery(first.observation, (await recover()).observation, 'recovering twice'),
  );
  return violations;
}
