/**
 * `npm run demo`: kill -9 a process that records a small key-value store, recover the store
 * elsewhere from its recovery log, and prove the recovered files are exactly a state the store
 * passed through, no older than the last state it acknowledged as durable.
 *
 * The recording child derives its workload from a seed; this parent regenerates it to know every
 * state the child's directory passed through (one per journal append, see model.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isEntryPoint } from '../entry-point.js';
import type { PlayStats } from '../player.js';
import { LeaderKill, recoverElsewhere } from './jetstream-demo.js';
import { workloadStates, type WorkloadStates } from './model.js';
import { startDemoCluster, type DemoCluster } from './nats.js';
import { parseCommandLine, type DemoOptions, type DemoResult } from './options.js';
import type { ChildArgs } from './protocol.js';
import { recordAndKill, type ChildRun } from './record.js';
import { recover } from './recover-file.js';
import { fail, hexAuthor, wrap } from './report.js';
import { verifyRecovered } from './verify.js';
import { generateWorkload, prng, type Action } from './workload.js';

// This module's exports before it was split, kept at this path for its importers.
export type { DemoOptions, DemoResult } from './options.js';
export { wrap } from './report.js';
export { matchRecoveredState } from './verify.js';

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

/** Steps 1-5 of the story: record, kill, recover, verify (with `cluster`: on JetStream). */
async function demo(
  seed: number,
  puts: number,
  workDir: string,
  options: DemoOptions,
  print: (line: string) => void,
  cluster?: DemoCluster,
): Promise<DemoResult> {
  const args = childArgs(workDir, seed, puts, cluster);
  const actions = generateWorkload({ seed, puts });
  const model = workloadStates(actions);
  const totalStates = model.digests.length - 1;
  const syncs = actions.filter((a) => a.kind === 'sync').length;
  const random = prng(seed ^ 0x5eed);
  const killAfterAcks =
    options.killAfterAcks ?? Math.max(1, Math.round(syncs * (0.2 + 0.6 * random())));
  const killDelayMs = Math.floor(random() * 20);
  describeWorkload(actions, totalStates, syncs, puts, cluster !== undefined, print);

  // ---- Record, and kill (with a cluster: its stream leader first, then the recorder).
  const leaderKill =
    cluster === undefined ? undefined : new LeaderKill(cluster, LOG_NAME, killAfterAcks);
  const run = await recordAndKill(args, killAfterAcks, killDelayMs, leaderKill?.onAck);
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
  const problem = checkAcknowledgements(run, model, result, print);
  if (problem !== undefined) return fail(result, print, problem);
  leaderKill?.report(run, result, print);
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
  return verifyRecovered(actions, model, recoveredDir, result, options, print);
}

/** What the recording child is told: where to record, and (with a cluster) onto which. */
function childArgs(
  workDir: string,
  seed: number,
  puts: number,
  cluster: DemoCluster | undefined,
): ChildArgs {
  return {
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
}

/** Step 1: what the child records. */
function describeWorkload(
  actions: readonly Action[],
  totalStates: number,
  syncs: number,
  puts: number,
  onJetStream: boolean,
  print: (line: string) => void,
): void {
  const journalKind = onJetStream
    ? `the JetStream journal "${LOG_NAME}" (replicated on 3 nodes; hints in its KV store)`
    : `the FileJournal "${LOG_NAME}"`;
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
}

/**
 * Step 2: every state the child acknowledged as durable must be one the parent's model knows;
 * sets `result.ackedState` to the last one. Returns the problem if one does not match.
 */
function checkAcknowledgements(
  run: ChildRun,
  model: WorkloadStates,
  result: DemoResult,
  print: (line: string) => void,
): string | undefined {
  print(`   Child pid ${run.pid}, recorder author ${hexAuthor(run.author)}.`);
  const lastAck = run.acks[run.acks.length - 1];
  result.ackedState = lastAck?.state ?? 0;
  for (const ack of run.acks) {
    if (model.digests[ack.state] !== ack.digest) {
      return (
        `the child's directory at its durable point ${ack.state} does not match the workload ` +
        'model (a bug in the demo or in RecordedFs)'
      );
    }
  }
  print(
    `2. The child acknowledged ${run.acks.length} durable points; the last one is state ` +
      `${result.ackedState} of ${result.totalStates} (${lastAck?.puts ?? 0} puts durable, ` +
      `${lastAck?.liveFiles ?? 0} live files in its hints). Each matched the parent's model.`,
  );
  return undefined;
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
