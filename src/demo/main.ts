/**
 * `npm run demo`: kill -9 a process that records a small key-value store, recover the store
 * elsewhere from its recovery log, and prove the recovered files are exactly a state the store
 * passed through, no older than the last state it acknowledged as durable.
 *
 * The recording child derives its workload from a seed; this parent regenerates it to know every
 * state the child's directory passed through (one per journal append, see model.ts).
 */
import { fork } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newRandomAuthor } from '../fsm.js';
import { HintsStore } from '../hints-store.js';
import { FileJournal } from '../journal/file.js';
import { Player, type PlayStats } from '../player.js';
import { workloadStates } from './model.js';
import { describeHints, isChildMessage, type ChildArgs, type ChildMessage } from './protocol.js';
import { describeTreeDifference, readTree, treeDigest } from './tree.js';
import { generateWorkload, prng, readStore } from './workload.js';
import { isEntryPoint } from '../entry-point.js';
import { recoverInFreshProcess, startDemoCluster, trackChild, type DemoCluster } from './nats.js';

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

const LOG_NAME = 'demo/kv-store';

export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const write = options.print ?? ((line: string) => console.log(line));
  const print = (text: string) => {
    for (const line of wrap(text, 100)) write(line);
  };
  const seed = options.seed ?? Math.floor(Math.random() * 0x7fffffff);
  const puts = options.puts ?? 600;
  const workDir = options.workDir ?? (await mkdtemp(join(tmpdir(), 'recoverylog-demo-')));
  const again = `npm run demo -- ${options.journal === 'nats' ? '--journal nats ' : ''}--seed ${seed}`;
  print(`recoverylog demo — seed ${seed} (repeat with: ${again})`);
  print(
    `work directory: ${workDir}` +
      (options.keep === true || options.workDir !== undefined
        ? ''
        : ' (removed at the end; --keep keeps it)'),
  );
  print('');
  try {
    if (options.journal !== 'nats') return await demo(seed, puts, workDir, options, print);
    const cluster = await startDemoCluster(join(workDir, 'cluster'), print);
    try {
      return await demo(seed, puts, workDir, options, print, cluster);
    } finally {
      await cluster.stop();
      print('The cluster was stopped (its nodes ended by PID).');
    }
  } finally {
    if (options.keep !== true && options.workDir === undefined) {
      await rm(workDir, { recursive: true, force: true });
    }
  }
}

async function demo(
  seed: number,
  puts: number,
  workDir: string,
  options: DemoOptions,
  print: (line: string) => void,
  cluster?: DemoCluster,
): Promise<DemoResult> {
  const args: ChildArgs = {
    storeDir: join(workDir, 'store'),
    logDir: join(workDir, 'log'),
    logName: LOG_NAME,
    hintsDir: join(workDir, 'hints'),
    seed,
    puts,
    nats:
      cluster === undefined
        ? undefined
        : { servers: cluster.servers, bucket: 'recoverylog-demo-hints', store: 'kv-store' },
  };
  const actions = generateWorkload({ seed, puts });
  const model = workloadStates(actions);
  const totalStates = model.digests.length - 1;
  const syncs = actions.filter((a) => a.kind === 'sync').length;
  const random = prng(seed ^ 0x5eed);
  const killAfterAcks =
    options.killAfterAcks ?? Math.max(1, Math.round(syncs * (0.2 + 0.6 * random())));
  const killDelayMs = Math.floor(random() * 20);
  // With a cluster, the stream leader dies first, well before the recorder does.
  const leaderKillAt = Math.max(1, Math.round(killAfterAcks * 0.4));
  const journalKind =
    cluster === undefined
      ? `the FileJournal "${LOG_NAME}"`
      : `the JetStream journal "${LOG_NAME}" (replicated on 3 nodes; hints in its KV store)`;

  print(
    `1. A child process records a small log-structured key-value store (${puts} puts: ` +
      'write-ahead logs, a MANIFEST replaced via temp + rename, an IDENTITY property, ' +
      'compactions that delete old files, hard-linked checkpoints) through RecordedFs into ' +
      `${journalKind}.`,
  );
  print(
    `   The workload has ${actions.length} file-system calls, ${totalStates} journal-visible ` +
      `states and ${syncs} durable points (fsync, then hints stored as primary).`,
  );

  // ---- Record, and kill (with a cluster: its stream leader first, then the recorder).
  let leader: { name?: string; ackedAt: number } | undefined;
  const run = await recordAndKill(
    args,
    killAfterAcks,
    killDelayMs,
    cluster === undefined
      ? undefined
      : (acks) => {
          if (acks !== leaderKillAt || leader !== undefined) return;
          const killing = { ackedAt: Date.now() } as { name?: string; ackedAt: number };
          leader = killing;
          void cluster.killStreamLeader(LOG_NAME).then((name) => (killing.name = name));
        },
  );
  const result: DemoResult = {
    verified: false,
    seed,
    acks: run.acks.length,
    killed: run.killed,
    ackedState: 0,
    recoveredState: -1,
    totalStates,
  };
  if (run.error !== undefined) {
    return fail(result, print, `the recording child failed: ${run.error}`);
  }
  print(`   Child pid ${run.pid}, recorder author ${hexAuthor(run.author)}.`);
  const lastAck = run.acks[run.acks.length - 1];
  result.ackedState = lastAck?.state ?? 0;
  for (const ack of run.acks) {
    if (model.digests[ack.state] !== ack.digest) {
      return fail(
        result,
        print,
        `the child's directory at its durable point ${ack.state} does not match the workload ` +
          'model (a bug in the demo or in RecordedFs)',
      );
    }
  }
  print(
    `2. The child acknowledged ${run.acks.length} durable points; the last one is state ` +
      `${result.ackedState} of ${totalStates} (${lastAck?.puts ?? 0} puts durable, ` +
      `${lastAck?.liveFiles ?? 0} live files in its hints). Each matched the parent's model.`,
  );
  if (leader !== undefined) {
    const next = run.ackTimes[leaderKillAt];
    result.killedLeader = leader.name;
    print(
      `   Mid-run, right after acknowledgement #${leaderKillAt}, the stream leader ` +
        `${leader.name ?? '(none found)'} was SIGKILLed (it stays down). The recorder ` +
        (next === undefined
          ? 'made no further acknowledgement.'
          : `acknowledged its next durable point ${((next - leader.ackedAt) / 1000).toFixed(1)} s ` +
            'later, once the two survivors had elected a new leader; nothing it had been told ' +
            'was durable was lost.'),
    );
  }
  print(
    run.killed
      ? `3. SIGKILL sent ${killDelayMs} ms after acknowledgement #${killAfterAcks}; the child ` +
          `died by ${run.signal ?? `exit code ${run.code}`}.`
      : `3. The child finished the whole workload before the kill (state ${run.finishedState}).`,
  );

  // ---- Recover.
  const recoveredDir = join(workDir, 'recovered');
  let stats: PlayStats;
  try {
    stats =
      cluster === undefined
        ? await recover(args, recoveredDir, print)
        : await recoverElsewhere(args, recoveredDir, print);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return fail(result, print, `recovery failed: ${message}`);
  }
  result.stats = stats;

  // ---- Verify.
  await options.beforeVerify?.(recoveredDir);
  const recovered = await readTree(recoveredDir);
  const verdict = matchRecoveredState(model.digests, result.ackedState, treeDigest(recovered));
  if (verdict.state === undefined) {
    const expected = workloadStates(actions, new Set([result.ackedState])).entries.get(
      result.ackedState,
    )!;
    const older =
      verdict.olderState !== undefined ? ` (it equals older state ${verdict.olderState})` : '';
    return fail(
      result,
      print,
      `the recovered tree is not any state at or after the acknowledged state ` +
        `${result.ackedState}${older}. Versus the acknowledged state: ` +
        describeTreeDifference(expected, recovered),
    );
  }
  result.recoveredState = verdict.state;
  const reopened = await readStore(async (path) => {
    try {
      return await readFile(join(recoveredDir, path), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  });
  const beyond = result.recoveredState - result.ackedState;
  print(
    `5. Verification: the recovered tree (${recovered.length} files) equals workload state ` +
      `${result.recoveredState}` +
      (beyond > 0
        ? `, ${plural(beyond, 'state', 'states')} past the last acknowledgement (ops that ` +
          'reached the journal after it survived too).'
        : ', exactly the last acknowledged state.'),
  );
  if (reopened !== undefined) {
    print(
      `   The store reopens from it: MANIFEST generation ${reopened.generation}, ` +
        `${reopened.files.length} table files, ${reopened.values.size} keys, ` +
        `${model.putsAt[result.recoveredState]} puts.`,
    );
  }
  result.verified = true;
  print('');
  print(
    'VERIFIED: nothing acknowledged was lost, and nothing recovered is a state that never existed.',
  );
  return result;
}

/**
 * Recovers the store from the hints the child stored, taking ownership of the log with a
 * hand-off (as a standby promoted to primary would), and stores the recovered hints as backup.
 */
async function recover(
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

/** Recovery on "another machine": a fresh process plays the stored hints from the cluster. */
async function recoverElsewhere(
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

/**
 * The verdict: the first workload state at or after `ackedState` whose digest is the recovered
 * tree's (recovery may include ops recorded after the last acknowledgement, never fewer), or
 * undefined, with the latest older matching state if there is one (acknowledged data lost).
 */
export function matchRecoveredState(
  digests: readonly string[],
  ackedState: number,
  recoveredDigest: string,
): { state?: number; olderState?: number } {
  for (let i = ackedState; i < digests.length; i++) {
    if (digests[i] === recoveredDigest) return { state: i };
  }
  for (let i = Math.min(ackedState, digests.length) - 1; i >= 0; i--) {
    if (digests[i] === recoveredDigest) return { olderState: i };
  }
  return {};
}

/** Greedy word wrap, keeping a line's leading indentation on its continuation lines. */
export function wrap(text: string, width: number): string[] {
  const indent = /^ */.exec(text)![0];
  const hanging = /^ *(\d+\. )?/.exec(text)![0].replace(/./g, ' ');
  const words = text.slice(indent.length).split(' ');
  const lines: string[] = [];
  let line = indent;
  for (const word of words) {
    const candidate = line.trim() === '' ? line + word : `${line} ${word}`;
    if (candidate.length > width && line.trim() !== '') {
      lines.push(line);
      line = hanging + word;
    } else {
      line = candidate;
    }
  }
  lines.push(line);
  return lines;
}

interface ChildRun {
  pid: number;
  author: number;
  acks: Extract<ChildMessage, { type: 'ack' }>[];
  /** When each acknowledgement arrived (Date.now()). */
  ackTimes: number[];
  killed: boolean;
  finishedState?: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: string;
}

async function recordAndKill(
  args: ChildArgs,
  killAfterAcks: number,
  killDelayMs: number,
  onAck?: (acks: number) => void,
): Promise<ChildRun> {
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith('.ts');
  const script = join(here, '..', fromSource ? 'child.ts' : 'child.js');
  const child = fork(script, [JSON.stringify(args)], {
    // From source (tests), the child needs the TypeScript loader too, resolved from the package.
    execArgv: fromSource ? ['--import', 'tsx'] : [],
    cwd: join(here, '..', '..', '..'),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  trackChild(child);
  const run: ChildRun = {
    pid: child.pid ?? 0,
    author: 0,
    acks: [],
    ackTimes: [],
    killed: false,
    code: null,
    signal: null,
  };
  child.on('message', (message: unknown) => {
    if (!isChildMessage(message)) return;
    if (message.type === 'started') run.author = message.author;
    else if (message.type === 'finished') run.finishedState = message.state;
    else if (message.type === 'error') run.error = message.message;
    else if (message.type === 'ack' && !run.killed) {
      run.acks.push(message);
      run.ackTimes.push(Date.now());
      onAck?.(run.acks.length);
      if (run.acks.length === killAfterAcks) {
        setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) {
            run.killed = true;
            child.kill('SIGKILL');
          }
        }, killDelayMs);
      }
    }
  });
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      run.code = code;
      run.signal = signal;
      resolve();
    });
  });
  if (run.error === undefined && !run.killed && run.code !== 0) {
    run.error = `exited with ${run.signal ?? `code ${run.code}`}`;
  }
  return run;
}

function fail(result: DemoResult, print: (line: string) => void, problem: string): DemoResult {
  result.problem = problem;
  print('');
  print(`FAILED: ${problem}`);
  return result;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function hexAuthor(author: number): string {
  return `0x${author.toString(16).padStart(8, '0')}`;
}

function describeSkips(stats: PlayStats): string {
  const parts = Object.entries(stats.opsSkipped)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([reason, n]) => `${n} ${reason}`);
  return parts.length === 0 ? 'none skipped' : `skipped ${parts.join(', ')}`;
}

function parseCommandLine(argv: readonly string[]): DemoOptions {
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

if (isEntryPoint(import.meta.url)) {
  let options: DemoOptions;
  try {
    options = parseCommandLine(process.argv.slice(2));
  } catch (err) {
    console.error(`demo: ${(err as Error).message}`);
    process.exit(2);
  }
  runDemo(options).then(
    (result) => {
      process.exitCode = result.verified ? 0 : 1;
    },
    (err: unknown) => {
      console.error(
        `demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      );
      process.exitCode = 1;
    },
  );
}
