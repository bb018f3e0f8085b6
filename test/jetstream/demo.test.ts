/**
 * `npm run demo -- --journal nats`: starts its own 3-node cluster, records onto JetStream, kills
 * the stream leader mid-run, recovers in a fresh process, verifies, and stops the cluster by PID;
 * a SIGINT while it runs also stops the cluster (exit 130). (Its own cluster, not the shared
 * one: the demo is a user's command and must manage its cluster itself.)
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDemo } from '../../src/demo/main.js';

const MAIN = fileURLToPath(new URL('../../src/demo/main.ts', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The node PIDs that cluster.mjs recorded under `dir` (cluster.json). */
function nodePids(dir: string): number[] {
  const file = join(dir, 'cluster', 'cluster.json');
  if (!existsSync(file)) return [];
  const state = JSON.parse(readFileSync(file, 'utf8')) as { nodes: { pid?: number }[] };
  return state.nodes.flatMap((n) => (n.pid === undefined ? [] : [n.pid]));
}

describe('npm run demo -- --journal nats', function () {
  this.timeout(180_000);
  let tmp: string;
  before(async function () {
    tmp = await mkdtemp(join(tmpdir(), 'rl-js-demo-'));
  });
  after(async function () {
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  it('kills the stream leader mid-run, recovers in a fresh process, verifies, stops the cluster', async function () {
    const lines: string[] = [];
    const workDir = join(tmp, 'run');
    let pids: number[] = [];
    const result = await runDemo({
      journal: 'nats',
      puts: 200,
      workDir,
      print: (line) => {
        lines.push(line);
        // Read while the cluster runs (stop() clears the PIDs it ended).
        if (pids.length === 0 && line.includes('sync_interval')) pids = nodePids(workDir);
      },
    });
    const story = lines.join('\n');
    assert.equal(result.verified, true, story);
    assert.ok(result.killedLeader !== undefined, `no stream leader was killed:\n${story}`);
    assert.match(story, /the stream leader n\d was SIGKILLed/);
    assert.match(story, /Recovery in a fresh process/);
    assert.equal(pids.length, 3, story);
    assert.deepEqual(pids.filter(alive), [], 'cluster nodes left running');
  });

  it('SIGINT while the cluster starts stops it by PID and exits 130', async function () {
    const workDir = join(tmp, 'interrupted');
    await mkdir(workDir, { recursive: true });
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', MAIN, '--journal', 'nats', '--keep'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, TMPDIR: workDir },
      },
    );
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    // As soon as the nodes are spawned (cluster.mjs records their PIDs at once), before they
    // are healthy: the hardest moment to clean up after.
    const deadline = Date.now() + 60_000;
    let pids: number[] = [];
    while (pids.length < 3) {
      assert.ok(Date.now() < deadline, `the demo started no cluster:\n${output}`);
      const dir = /work directory: (\S+)/.exec(output)?.[1];
      if (dir !== undefined) pids = nodePids(dir);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(pids.filter(alive), pids, 'the nodes run');
    child.kill('SIGINT');
    assert.equal(await exited, 130, output);
    assert.match(output, /SIGINT: stopping the cluster/);
    assert.deepEqual(pids.filter(alive), [], `cluster nodes left running after SIGINT:\n${output}`);
  });
});
