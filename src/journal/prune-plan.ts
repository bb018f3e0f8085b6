/**
 * Which offsets of a journal a set of hints still needs (no I/O): pruning may delete only whole
 * fragments below the lowest offset that ANY of the given hints (primary and every backup) needs.
 *
 * A hints value needs, of journal J: the first offset of its first live segment in J. Hints
 * whose own log is J but which have no live segment in J (no live files, or all of them in older
 * logs) are replayed from offset 0 by the Player, so they need all of J. Hints that neither name
 * J nor have segments in it do not constrain J.
 */
import { PruneRefusedError } from './errors.js';
import { liveLogSegments, validateHints } from '../hints.js';
import type { FSMHints } from '../wire/types.js';

/** The lowest offset of `journal` any of `hintsList` needs (throws PruneRefusedError). */
export function lowestNeededOffset(journal: string, hintsList: readonly FSMHints[]): number {
  if (hintsList.length === 0) throw new PruneRefusedError(journal, 'no hints were given');
  let lowest = Number.POSITIVE_INFINITY;
  let constrained = false;
  for (const hints of hintsList) {
    validateHints(hints);
    const inJournal = liveLogSegments(hints).segments.segments.filter(
      (segment) => segment.log === journal,
    );
    if (inJournal.length > 0) {
      constrained = true;
      for (const segment of inJournal) lowest = Math.min(lowest, segment.firstOffset);
    } else if (hints.log === journal) {
      constrained = true;
      lowest = 0;
    }
    if (lowest === 0) break;
  }
  if (!constrained) {
    throw new PruneRefusedError(
      journal,
      `none of the ${hintsList.length} hints name this journal or hold a segment in it (wrong hints?)`,
    );
  }
  return lowest;
}
