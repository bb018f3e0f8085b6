/**
 * What the parts of a FileJournal (file.ts) share: the writer epoch this process owns, whether a
 * batch is writing, whether the journal is closed, and how many appends wait. One object, so
 * the reader, the follower, the committer and the idle lock all see the same answers.
 */
import type { OwnedFragment } from './fragment-writer.js';

export interface FileJournalState {
  /** Our writer epoch's fragment, while we have one (readers share its index). */
  owned: OwnedFragment | undefined;
  /**
   * How many writes (a batch, an idle confirmation) are under way: refreshes must not run
   * meanwhile. A count, not a flag: a batch starts while the confirmation it waits for is still
   * running, and the confirmation ending must not make the batch look finished (a refresh then
   * parsed the batch's own record into the index it shares with the writer).
   */
  writing: number;
  closed: boolean;
  /** Appends queued and not yet taken by a batch. */
  readonly pendingAppends: () => number;
}
