/**
 * The JetStream test layer's shared cluster: one real 3-node cluster (R3, file storage,
 * `sync_interval: always`, 127.0.0.1 only, free ports, its own directory) started on first use
 * by scripts/nats/cluster.mjs and stopped by PID in the root `after` hook (and again by run.sh's
 * exit trap, should this process die). Also the run's counters for the summary line.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type ClusterHandle } from '../../scripts/nats/cluster.mjs';

let starting: Promise<ClusterHandle> | undefined;
const dir = process.env.JETSTREAM_CLUSTER_DIR ?? mkdtempSync(join(tmpdir(), 'rl-jetstream-'));

/**
 * The cluster (started on first call). A start that fails (stopped by startCluster itself) is
 * retried once from scratch on new ports: on a machine shared with other clusters, forming the
 * meta group can be slow, and a port picked as free can be taken before the node binds it.
 */
export function cluster(): Promise<ClusterHandle> {
  const where = join(dir, 'cluster');
  starting ??= startCluster({ dir: where, sync: 'always', timeoutMs: 60_000 }).catch(
    (error: unknown) => {
      console.log(`      cluster start failed, retrying once: ${String(error).split('\n')[0]}`);
      rmSync(where, { recursive: true, force: true });
      return startCluster({ dir: where, sync: 'always', timeoutMs: 60_000 });
    },
  );
  return starting;
}

/** Counters reported by the summary line. */
export const summary = { acknowledgedOps: 0, nodeKills: 0, violations: 0 };

let streams = 0;
/** A stream/subject pair no other test uses. */
export function uniqueLocation(label: string): { stream: string; subject: string } {
  streams += 1;
  const tag = `${label.replace(/[^A-Za-z0-9]/g, '')}${process.pid}x${streams}`;
  return { stream: `RLT_${tag}`, subject: `rltest.${tag}` };
}

// The shared cluster starts once, before any test, with time for a slow start and its one retry:
// a test's own hook (60 s) was shorter than two 60 s attempts, and a fresh-clone CI run failed
// there while the cluster formed.
before(async function () {
  this.timeout(180_000);
  await cluster();
});

after(async function () {
  this.timeout(30_000);
  const line =
    `jetstream: ${summary.acknowledgedOps} acknowledged ops checked, ` +
    `${summary.nodeKills} node kills, ${summary.violations} violations`;
  writeFileSync(join(dir, 'summary.txt'), `${line}\n`);
  if (starting !== undefined) await (await starting).stop();
});
