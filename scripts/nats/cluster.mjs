// cluster.mjs - a local 3-node NATS JetStream cluster on 127.0.0.1, for tests and demos. Uses no
// dependencies (plain Node), so it runs before `npm ci` too.
//
//   node scripts/nats/cluster.mjs start DIR [--sync always|default] [--nodes 3]
//   node scripts/nats/cluster.mjs stop DIR
//
// `start` installs nats-server when needed (install.sh), picks free ports, writes one config and
// one store directory per node under DIR, starts the nodes in the background, waits until
// JetStream is healthy on every node and prints the client URLs (comma-separated) on stdout;
// DIR/cluster.json records ports and PIDs. `stop` ends exactly those PIDs (SIGTERM, then
// SIGKILL) and is safe to call twice. From code: `startCluster({ dir })` returns a handle that
// can also SIGKILL, SIGSTOP and restart single nodes (the kill tests use it).
//
// Durability: with `--sync always` (the default here) every node fsyncs each JetStream write
// before acknowledging it (`jetstream { sync_interval: always }`); `--sync default` keeps the
// server's default (fsync every 2 minutes: an ack then means "in the page cache of a quorum").
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

/** Path of a nats-server >= 2.10, installing it into .nats-cache/ when needed (throws with why not). */
export function installNatsServer() {
  const result = spawnSync('bash', [join(HERE, 'install.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (result.status !== 0) {
    throw new Error(
      `could not install nats-server (scripts/nats/install.sh exited ${result.status}): ` +
        (result.stderr || '').trim(),
    );
  }
  return result.stdout.trim().split('\n').at(-1);
}

async function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

function httpGet(port, path, timeoutMs) {
  return new Promise((resolveGet) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolveGet({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolveGet({ status: 0, body: '' }));
    req.end();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function configText(node, nodes, sync) {
  const routes = nodes
    .filter((other) => other.name !== node.name)
    .map((other) => `nats-route://127.0.0.1:${other.clusterPort}`);
  return [
    `server_name: ${node.name}`,
    `listen: 127.0.0.1:${node.port}`,
    `http: 127.0.0.1:${node.monitorPort}`,
    'max_payload: 1MB',
    'jetstream {',
    `  store_dir: ${JSON.stringify(node.storeDir)}`,
    '  max_memory_store: 256MB',
    '  max_file_store: 4GB',
    ...(sync === 'always' ? ['  sync_interval: always'] : []),
    '}',
    'cluster {',
    '  name: recoverylog-test',
    `  listen: 127.0.0.1:${node.clusterPort}`,
    `  routes: [${routes.join(', ')}]`,
    '}',
    '',
  ].join('\n');
}

function startNode(binary, node) {
  const out = openSync(node.logFile, 'a');
  const child = spawn(binary, ['-c', node.configFile], {
    stdio: ['ignore', out, out],
    detached: true, // its own process group: a Ctrl-C of the test run does not race our stop
  });
  closeSync(out);
  child.unref();
  node.pid = child.pid;
  return child;
}

function saveState(state) {
  writeFileSync(join(state.dir, 'cluster.json'), JSON.stringify(state, null, 2));
}

/**
 * Waits until every running node reports JetStream healthy (`/healthz`), up to `timeoutMs`.
 * Throws naming the nodes that are not, with the tail of their logs.
 */
export async function waitHealthy(
  state,
  timeoutMs = 30_000,
  which = state.nodes,
  healthPath = '/healthz',
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const results = await Promise.all(
      which.map((node) => httpGet(node.monitorPort, healthPath, 1000)),
    );
    const bad = which.filter((_, i) => results[i].status !== 200);
    if (bad.length === 0 && (await metaComplete(state))) return;
    for (const node of bad) {
      if (node.pid !== undefined && !alive(node.pid)) {
        throw new Error(`nats-server ${node.name} exited during start-up:\n${logTail(node)}`);
      }
    }
    if (Date.now() > deadline) {
      throw new Error(
        `nats-server nodes ${bad.map((n) => n.name).join(', ')} not healthy after ${timeoutMs} ms:\n` +
          bad.map(logTail).join('\n'),
      );
    }
    await sleep(100);
  }
}

/** True when the meta group's leader sees every node as a current peer. */
async function metaComplete(state) {
  for (const node of state.nodes) {
    if (node.pid === undefined) continue;
    const { status, body } = await httpGet(node.monitorPort, '/jsz', 1000);
    if (status !== 200) continue;
    try {
      const meta = JSON.parse(body).meta_cluster;
      if (meta?.leader !== node.name) continue;
      const running = state.nodes.filter((n) => n.pid !== undefined).length;
      const current = (meta.replicas ?? []).filter((r) => r.current).length + 1;
      return meta.cluster_size >= state.nodes.length && current >= running;
    } catch {
      return false;
    }
  }
  return false;
}

function logTail(node) {
  try {
    const lines = readFileSync(node.logFile, 'utf8').trimEnd().split('\n');
    return `--- ${node.logFile} (last lines)\n${lines.slice(-15).join('\n')}`;
  } catch {
    return `--- ${node.logFile}: no log`;
  }
}

/**
 * Starts a cluster under `dir` (created if missing). Options: `nodes` (3), `sync` ('always' or
 * 'default'), `binary` (else installNatsServer()), `timeoutMs` for health (30 s).
 */
export async function startCluster(options) {
  const dir = resolve(options.dir);
  const sync = options.sync ?? 'always';
  const count = options.nodes ?? 3;
  const binary = options.binary ?? installNatsServer();
  mkdirSync(dir, { recursive: true });
  const nodes = [];
  for (let i = 1; i <= count; i += 1) {
    const name = `n${i}`;
    nodes.push({
      name,
      port: await freePort(),
      clusterPort: await freePort(),
      monitorPort: await freePort(),
      storeDir: join(dir, name, 'store'),
      configFile: join(dir, name, 'nats.conf'),
      logFile: join(dir, name, 'nats.log'),
      pid: undefined,
    });
  }
  const state = { dir, binary, sync, nodes };
  for (const node of nodes) {
    mkdirSync(node.storeDir, { recursive: true });
    writeFileSync(node.configFile, configText(node, nodes, sync));
  }
  for (const node of nodes) startNode(binary, node);
  saveState(state);
  const handle = clusterHandle(state);
  try {
    await waitHealthy(state, options.timeoutMs ?? 30_000);
  } catch (error) {
    await handle.stop();
    throw error;
  }
  return handle;
}

function clusterHandle(state) {
  return {
    dir: state.dir,
    sync: state.sync,
    get nodes() {
      return state.nodes.map((n) => ({ name: n.name, port: n.port, pid: n.pid }));
    },
    urls: state.nodes.map((n) => `nats://127.0.0.1:${n.port}`),
    /** Sends `signal` to node `name` (SIGKILL: it stays down until restart). */
    signal(name, signal) {
      const node = state.nodes.find((n) => n.name === name);
      if (node === undefined) throw new Error(`no node ${name}`);
      if (node.pid !== undefined) {
        try {
          process.kill(node.pid, signal);
        } catch {
          /* already gone */
        }
        if (signal === 'SIGKILL') node.pid = undefined;
        saveState(state);
      }
    },
    /** Starts node `name` again with its config and store; resolves once it is healthy. */
    async restart(name, timeoutMs = 120_000) {
      const node = state.nodes.find((n) => n.name === name);
      if (node === undefined) throw new Error(`no node ${name}`);
      if (node.pid !== undefined && alive(node.pid)) return;
      startNode(state.binary, node);
      saveState(state);
      // JetStream up and the meta group complete; not every old stream caught up on it (with
      // many R3 streams that takes longer than a test should wait, and quorum does not need it).
      await waitHealthy(state, timeoutMs, [node], '/healthz?js-enabled-only=true');
    },
    /**
     * Whether the leader of stream `stream` reports every other replica current. Killing the
     * leader while the only other replicas are behind leaves no quorum until it comes back:
     * JetStream's Raft elects only an up-to-date replica.
     */
    async streamCurrent(stream) {
      for await (const { node, detail } of jszStreamDetails(state, stream)) {
        if (detail.cluster?.leader !== node.name) continue;
        const replicas = detail.cluster.replicas ?? [];
        return (
          replicas.length === state.nodes.length - 1 &&
          replicas.every((r) => r.current === true && (r.lag ?? 0) === 0)
        );
      }
      return false;
    },
    /** The node whose monitoring port reports it leads stream `stream`, if any. */
    async streamLeader(stream) {
      for await (const { detail } of jszStreamDetails(state, stream)) {
        if (detail.cluster?.leader) return detail.cluster.leader;
      }
      return undefined;
    },
    stop: () => stopCluster(state.dir),
  };
}

/**
 * What each running node's monitoring port says of stream `stream` (/jsz), node by node; a node
 * that does not answer, or is mid-restart, is passed over.
 */
async function* jszStreamDetails(state, stream) {
  for (const node of state.nodes) {
    if (node.pid === undefined) continue;
    const { status, body } = await httpGet(
      node.monitorPort,
      '/jsz?streams=true&config=false',
      1000,
    );
    if (status !== 200) continue;
    let jsz;
    try {
      jsz = JSON.parse(body);
    } catch {
      continue; // a node mid-restart
    }
    for (const account of jsz.account_details ?? []) {
      for (const detail of account.stream_detail ?? []) {
        if (detail.name === stream) yield { node, detail };
      }
    }
  }
}

/** Ends the PIDs recorded in DIR/cluster.json (SIGTERM, then SIGKILL after 5 s). Idempotent. */
export async function stopCluster(dir) {
  const file = join(resolve(dir), 'cluster.json');
  if (!existsSync(file)) return;
  const state = JSON.parse(readFileSync(file, 'utf8'));
  const pids = state.nodes.map((n) => n.pid).filter((pid) => pid !== undefined && alive(pid));
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  const deadline = Date.now() + 5000;
  while (pids.some(alive) && Date.now() < deadline) await sleep(50);
  for (const pid of pids.filter(alive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const node of state.nodes) node.pid = undefined;
  writeFileSync(file, JSON.stringify(state, null, 2));
}

async function main(argv) {
  const [command, dir, ...rest] = argv;
  if ((command !== 'start' && command !== 'stop') || dir === undefined) {
    console.error('usage: node scripts/nats/cluster.mjs start|stop DIR [--sync always|default]');
    process.exit(2);
  }
  if (command === 'stop') {
    await stopCluster(dir);
    return;
  }
  const at = rest.indexOf('--sync');
  const sync = at === -1 ? 'always' : rest[at + 1];
  const nodesAt = rest.indexOf('--nodes');
  const nodes = nodesAt === -1 ? 3 : Number(rest[nodesAt + 1]);
  const cluster = await startCluster({ dir, sync, nodes });
  console.log(cluster.urls.join(','));
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error) => {
    console.error(`cluster.mjs: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
