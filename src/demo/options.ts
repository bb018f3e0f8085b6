/** What a demo run is asked to do (from the command line or a test), and what it found. */
import type { PlayStats } from '../player.js';

export interface DemoOptions {
  /** Seed of the workload and of the kill moment (printed, so a run can be repeated). */
  seed?: number;
  /** Key-value puts in the workload. Default 600. */
  puts?: number;
  /** Kill after this many acknowledgements (default: a seeded random 20-80 % of them). */
  killAfterAcks?: number;
  /** Work directory (default: a new temporary directory, removed afterwards unless `keep`). */
  workDir?: string;
  /** Keep the work directory. */
  keep?: boolean;
  /**
   * 'file' (default): a FileJournal on local disk. 'nats': a local 3-node JetStream cluster is
   * started, the store is recorded onto a JetStream journal (hints in its KV store), the stream
   * leader is SIGKILLed mid-run, and recovery runs in a fresh process; the cluster is stopped at
   * the end (also on failure or SIGINT).
   */
  journal?: 'file' | 'nats';
  /** Where the story is told, line by line. Default: console.log. */
  print?: (line: string) => void;
  /**
   * Test hook: runs on the recovered directory before it is verified (a test damages it to
   * prove the verification notices).
   */
  beforeVerify?: (recoveredDir: string) => Promise<void>;
}

export interface DemoResult {
  verified: boolean;
  seed: number;
  /** Acknowledgements received before the kill. */
  acks: number;
  /** Whether the child was killed (false: it finished first). */
  killed: boolean;
  /** Last acknowledged workload state, and the one recovery reproduced (-1: none matched). */
  ackedState: number;
  recoveredState: number;
  /** States in the workload. */
  totalStates: number;
  stats?: PlayStats;
  /** Why verification failed. */
  problem?: string;
  /** With --journal nats: the stream leader SIGKILLed mid-run, if one was. */
  killedLeader?: string;
}

/** Parses `npm run demo -- [options]`; an unknown or malformed option throws. */
export function parseCommandLine(argv: readonly string[]): DemoOptions {
  const options: DemoOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    const number = () => {
      const n = Number(value);
      if (!Number.isSafeInteger(n) || n < 0)
        throw new Error(`${flag} needs a non-negative integer`);
      i += 1;
      return n;
    };
    if (flag === '--seed') options.seed = number();
    else if (flag === '--puts') options.puts = number();
    else if (flag === '--kill-after-acks') options.killAfterAcks = number();
    else if (flag === '--keep') options.keep = true;
    else if (flag === '--journal' && (value === 'file' || value === 'nats')) {
      options.journal = value;
      i += 1;
    } else
      throw new Error(
        `unknown option ${flag} (options: --seed N, --puts N, --kill-after-acks N, --keep, ` +
          '--journal file|nats)',
      );
  }
  return options;
}
