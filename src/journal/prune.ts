/**
 * Pruning a file journal: deleting whole fragments that lie below every offset the given hints
 * need (prune-plan.ts decides the offset). Crash-safe order:
 *
 *   1. create the prune mark `pruned-<below>` and fsync the directory: from now on readers treat
 *      fragments ending at or below `below` as gone, whether their files still exist or not;
 *   2. unlink each such fragment's data, then its index, oldest first; fsync the directory;
 *   3. remove lower marks (the highest one counts, so a stale one left by a crash is harmless).
 *
 * A crash anywhere leaves either the old journal or the pruned one, never a chain with a hole
 * above the mark. The newest fragment is never deleted (the head and registers live there).
 */
import { join } from 'node:path';
import type { Chain } from './fragment-chain.js';
import type { FragmentIndex } from './fragment-index.js';
import type { Fragment } from './fragment.js';
import { errorCode } from './errors.js';
import { hex32 } from '../format.js';
import { isPruneMark, pruneMark, pruneMarkBelow } from './fragment-layout.js';
import { lowestNeededOffset } from './prune-plan.js';
import { LEGACY_EPOCH } from './legacy-fragment.js';
import { fsyncDirectory } from './takeover.js';
import type { JournalStorage } from './storage.js';
import type { FSMHints } from '../wire/types.js';

/** One fragment, as `recoverylog fragments` lists it. */
export interface FragmentInfo {
  readonly epoch: number;
  readonly begin: number;
  readonly end: number;
  readonly size: number;
  /** open (its writer may append), sealed (closed by its writer), fenced (closed by a takeover), legacy (a version 1 journal's data). */
  readonly state: 'open' | 'sealed' | 'fenced' | 'legacy';
  /** True when no byte can be added any more. */
  readonly sealed: boolean;
  /** CRC-32C of the fragment's bytes, hex. */
  readonly checksum: string;
  readonly files: readonly string[];
}

export interface PruneResult {
  /** The lowest offset any of the hints needs. */
  readonly needed: number;
  /** Fragments deleted (or, in a dry run, that would be). */
  readonly deleted: readonly FragmentInfo[];
  readonly kept: readonly FragmentInfo[];
  /** Bytes of journal content before and after. */
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  readonly dryRun: boolean;
}

export function describeFragment(fragment: Fragment, index: FragmentIndex): FragmentInfo {
  const legacy = fragment.epoch === LEGACY_EPOCH;
  const state = legacy
    ? 'legacy'
    : index.state === 'sealed'
      ? 'sealed'
      : index.state === 'fenced'
        ? 'fenced'
        : 'open';
  return {
    epoch: fragment.epoch,
    begin: index.begin,
    end: index.end,
    size: index.end - index.begin,
    state,
    sealed: state === 'sealed' || state === 'fenced',
    checksum: hex32(index.dataCrc),
    files: [fragment.dataPath, fragment.indexPath],
  };
}

async function unlinkIfPresent(storage: JournalStorage, path: string): Promise<void> {
  try {
    await storage.unlink(path);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
  }
}

export async function pruneFragments(
  storage: JournalStorage,
  dir: string,
  journal: string,
  chain: Chain,
  hintsList: readonly FSMHints[],
  dryRun: boolean,
): Promise<PruneResult> {
  const needed = lowestNeededOffset(journal, hintsList);
  const infos: { fragment: Fragment; info: FragmentInfo }[] = [];
  for (const fragment of chain.fragments) {
    infos.push({ fragment, info: describeFragment(fragment, await fragment.loaded()) });
  }
  const last = infos.length - 1;
  const doomed = infos.filter(({ info }, i) => i < last && info.end <= needed);
  const kept = infos.filter((entry) => !doomed.includes(entry));
  const bytesBefore = infos.reduce((sum, { info }) => sum + info.size, 0);
  const bytesAfter = kept.reduce((sum, { info }) => sum + info.size, 0);
  const result: PruneResult = {
    needed,
    deleted: doomed.map(({ info }) => info),
    kept: kept.map(({ info }) => info),
    bytesBefore,
    bytesAfter,
    dryRun,
  };
  if (dryRun || doomed.length === 0) return result;
  const below = (doomed.at(-1) as { info: FragmentInfo }).info.end;
  if (below > chain.prunedBelow) {
    const handle = await storage.open(join(dir, pruneMark(below)), 'a+');
    await handle.close();
    await fsyncDirectory(storage, dir);
  }
  for (const { fragment } of doomed) {
    await fragment.close();
    await unlinkIfPresent(storage, fragment.dataPath);
    await unlinkIfPresent(storage, fragment.indexPath);
  }
  await fsyncDirectory(storage, dir);
  for (const entry of await storage.readdir(dir)) {
    const mark = isPruneMark(entry) ? pruneMarkBelow(entry) : undefined;
    if (mark !== undefined && mark < below) await unlinkIfPresent(storage, join(dir, entry));
  }
  return result;
}
