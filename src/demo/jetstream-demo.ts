/**
 * The JetStream demo's own steps: SIGKILLing the stream leader mid-run (and telling how the
 * recorder rode it out), and recovering in a fresh process from the cluster.
 */
import type { PlayStats } from '../player.js';
import { recoverInFreshProcess, type DemoCluster } from './nats.js';
import type { DemoResult } from './options.js';
import type { ChildArgs } from './protocol.js';
import type { ChildRun } from './record.js';
import { describeSkips, hexAuthor } from './report.js';

/** Kills the stream leader of `logName` once, right after acknowledgement #`at`. */
export class LeaderKill {
  readonly at: number;
  readonly #cluster: DemoCluster;
  readonly #logName: string;
  #leader: { name?: string; ackedAt: number } | undefined;

  constructor(cluster: DemoCluster, logName: string, killAfterAcks: number) {
    this.#cluster = cluster;
    this.#logName = logName;
    // The stream leader dies first, well before the recorder does.
    this.at = Math.max(1, Math.round(killAfterAcks * 0.4));
  }

  readonly onAck = (acks: number): void => {
    if (acks !== this.at || this.#leader !== undefined) return;
    const killing: { name?: string; ackedAt: number } = { ackedAt: Date.now() };
    this.#leader = killing;
    void this.#cluster.killStreamLeader(this.#logName).then((name) => (killing.name = name));
  };

  /** Tells how long the recorder took to acknowledge again after the kill, if it happened. */
  report(run: ChildRun, result: DemoResult, print: (line: string) => void): void {
    const leader = this.#leader;
    if (leader === undefined) return;
    const next = run.ackTimes[this.at];
    result.killedLeader = leader.name;
    print(
      `   Mid-run, right after acknowledgement #${this.at}, the stream leader ` +
        `${leader.name ?? '(none found)'} was SIGKILLed (it stays down). The recorder ` +
        (next === undefined
          ? 'made no further acknowledgement.'
          : `acknowledged its next durable point ${((next - leader.ackedAt) / 1000).toFixed(1)} s ` +
            'later, once the two survivors had elected a new leader; nothing it had been told ' +
            'was durable was lost.'),
    );
  }
}

/** Recovery on "another machine": a fresh process plays the stored hints from the cluster. */
export async function recoverElsewhere(
  args: ChildArgs,
  recoveredDir: string,
  print: (line: string) => void,
): Promise<PlayStats> {
  print(
    '4. Recovery in a fresh process (another machine would do the same), from the cluster: ' +
      'the hints stored in its KV store, then the journal, with a hand-off.',
  );
  const report = await recoverInFreshProcess(args, recoveredDir);
  const stats = report.stats as PlayStats;
  const handoffBytes = report.headAfter - report.headBefore;
  print(
    `   Process pid ${report.pid} recovered from ${report.hints}. Player applied ` +
      `${stats.opsApplied} ops (${describeSkips(stats)}), read ${stats.bytesRead} of the ` +
      `journal's ${report.headAfter} bytes (${report.headBefore} from the killed recorder, then ` +
      `its own ${handoffBytes}-byte hand-off no-op), made ${stats.files} files in ` +
      `${stats.seconds.toFixed(3)} s. The hand-off by author ${hexAuthor(report.author)} fences ` +
      'the old recorder out of the log.',
  );
  return stats;
}
