/** The file-journal demo's recovery: in this process, from the hints store beside the log. */
import { newRandomAuthor } from '../fsm.js';
import { HintsStore } from '../hints-store.js';
import { FileJournal } from '../journal/file.js';
import { Player, type PlayStats } from '../player.js';
import { describeHints, type ChildArgs } from './protocol.js';
import { describeSkips, hexAuthor } from './report.js';

/**
 * Recovers the store from the hints the child stored, taking ownership of the log with a
 * hand-off (as a standby promoted to primary would), and stores the recovered hints as backup.
 */
export async function recover(
  args: ChildArgs,
  recoveredDir: string,
  print: (line: string) => void,
): Promise<PlayStats> {
  const store = new HintsStore(args.hintsDir, 'demo');
  const hints = await store.pick(args.logName);
  const journal = await FileJournal.open(args.logDir);
  try {
    const head = await journal.head();
    print(`   The journal holds ${head} bytes.`);
    print(`4. Recovery into a fresh directory, from ${describeHints(hints)}.`);
    const newAuthor = newRandomAuthor();
    const player = new Player();
    player.injectHandoff(newAuthor);
    const played = await player.play({
      hints,
      dir: recoveredDir,
      journals: (name) => {
        if (name !== args.logName) throw new Error(`the demo has no journal named ${name}`);
        return journal;
      },
    });
    const stats = played.stats;
    await store.storeRecovered(played.fsm.buildHints(played.log));
    const handoffBytes = (await journal.head()) - head;
    print(
      `   Player applied ${stats.opsApplied} ops (${describeSkips(stats)}), read ` +
        `${stats.bytesRead} of the journal's ${head + handoffBytes} bytes (${head} from the ` +
        `killed recorder, then its own ${handoffBytes}-byte hand-off no-op), wrote ` +
        `${stats.payloadBytesWritten} payload bytes, made ${stats.files} files in ` +
        `${stats.seconds.toFixed(3)} s. The hand-off by author ${hexAuthor(newAuthor)} fences ` +
        'the old recorder out of the log. Recovered hints saved as backup 0.',
    );
    return stats;
  } finally {
    await journal.close();
  }
}
