/**
 * The parent's own look at a lane's journal after each kill: open it (which repairs the torn tail
 * the victim left, as any next opener would), replay it from offset 0 with a read-only Player,
 * and reduce the result to a tree snapshot and an FSM position. Every recovering child must then
 * reproduce exactly this (its hinted, hand-off recovery against our offset-0 replay).
 */
import { FileJournal } from '../../../src/journal/file.js';
import { Player } from '../../../src/player.js';
import type { Recovered } from './ledger.js';
import { snapshotTree } from './tree.js';

export interface Replay extends Recovered {
  /** The journal's write head (bytes of whole appends after the repair). */
  head: number;
}

export async function replayFromZero(journalDir: string, targetDir: string): Promise<Replay> {
  const journal = await FileJournal.open(journalDir);
  try {
    const player = new Player();
    player.finishAtWriteHead();
    const result = await player.play({
      hints: { log: journal.name, liveNodes: [], properties: [] },
      dir: targetDir,
      journals: () => journal,
    });
    return {
      head: await journal.head(),
      tree: await snapshotTree(targetDir),
      fsm: { seqNo: result.fsm.nextSeqNo, checksum: result.fsm.nextChecksum },
    };
  } finally {
    await journal.close();
  }
}
