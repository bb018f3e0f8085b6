/**
 * The demo's JetStream parts (`npm run demo -- --journal nats`): a local 3-node cluster started
 * with scripts/nats/cluster.mjs (which installs nats-server when missing, as the test layer does)
 * and always stopped by PID (also on failure, SIGINT and SIGTERM); the stream leader's SIGKILL
 * mid-run; and the recovery in a fresh process.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { jetStreamLocation } from '../journal/jetstream-names.js';
import type { ClusterHandle } from '../../scripts/nats/cluster.mjs';
import { isChildMessage, type ChildArgs, type RecoveredReport } from './protocol.js';

const HERE = fileURLToPath(import.meta.url);
const REPO = join(HERE, '..', '..', '..');

/** The demo's child processes still running: a signal ends them along with the cluster. */
const children = new Set<ChildProcess>();

/** Registers a demo child (until it exits) for the signal handler of startDemoCluster. */
export function trackChild(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

export interface DemoCluster {
  readonly servers: string[];
  /** SIGKILLs the node leading the journal's stream; returns its name (undefined: none found). */
  killStreamLeader(journal: string): Promise<string | undefined>;
  stop(): Promise<void>;
}

/**
 * Starts the cluster under `dir` (default durability: `sync_interval: always`, as in CI). Until
 * stop(), a SIGINT or SIGTERM of the demo stops the cluster before the process exits (130/143).
 */
export async function startDemoCluster(
  dir: string,
  print: (line: string) => void,
): Promise<DemoCluster> {
  const script = join(REPO, 'scripts', 'nats', 'cluster.mjs');
  const { startCluster, stopCluster } = (await import(
    pathToFileURL(script).href
  )) as typeof import('../../scripts/nats/cluster.mjs');
  // Installed before the nodes start: cluster.mjs records their PIDs in DIR/cluster.json as soon
  // as they are spawned, and stopCluster(DIR) ends exactly those.
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= stopCluster(dir);
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    print(`\n${signal}: stopping the cluster (the PIDs in ${dir}/cluster.json) before exiting`);
    for (const child of children) child.kill('SIGKILL');
    void stop().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  print('0. Starting a local 3-node NATS JetStream cluster (installing nats-server if needed)...');
  let handle: ClusterHandle;
  try {
    // A loaded machine can take a while to form the meta group.
    handle = await startCluster({ dir, sync: 'always', timeoutMs: 90_000 });
  } catch (err) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stop();
    throw err;
  }
  print(
    `   Nodes ${handle.nodes.map((n) => `${n.name} (pid ${n.pid}, port ${n.port})`).join(', ')}; ` +
      `every write is fsynced by each node before it is acknowledged (sync_interval: always).`,
  );
  return {
    servers: handle.urls,
    async killStreamLeader(journal) {
      const leader = await handle.streamLeader(jetStreamLocation(journal).stream);
      if (leader !== undefined) handle.signal(leader, 'SIGKILL');
      return leader;
    },
    async stop() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await stop();
    },
  };
}

/** Runs the demo child in recovery mode ("another machine") and returns its report. */
export async function recoverInFreshProcess(
  args: ChildArgs,
  dir: string,
): Promise<RecoveredReport & { pid: number }> {
  const fromSource = HERE.endsWith('.ts');
  const script = join(HERE, '..', fromSource ? 'child.ts' : 'child.js');
  const child = fork(script, [JSON.stringify({ ...args, recoverInto: dir })], {
    execArgv: fromSource ? ['--import', 'tsx'] : [],
    cwd: REPO,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  trackChild(child);
  let report: RecoveredReport | undefined;
  let error: string | undefined;
  child.on('message', (message: unknown) => {
    if (!isChildMessage(message)) return;
    if (message.type === 'recovered') report = message;
    else if (message.type === 'error') error = message.message;
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (report === undefined) {
    throw new Error(error ?? `the recovering process exited with code ${code} and no report`);
  }
  return { ...report, pid: child.pid ?? 0 };
}
