/**
 * The namespace lane of the kill -9 layer: two raw appenders (appender.ts, no Recorder) append
 * to ONE FileJournal directory at the same time, one of them inside a pid namespace of its own
 * (`unshare --pid --fork --mount-proc`: pid 1 there, its pid meaningless to the other), the
 * other in the host's, like two containers sharing a volume. The lock lease is short (200 ms by
 * default, passed as `lockLeaseMs`), so the writers really do take the journal from each other;
 * every take-over starts a writer epoch (one `<epoch>.index` file each, counted).
 *
 * A round: a fresh journal; phase 1 runs both appenders for a second or two, then stops both
 * (mode 'stop') or SIGKILLs one or both at a random moment ('kill-unshared', 'kill-host',
 * 'kill-both') while the other goes on; after a kill, phase 2 starts two new appenders (again
 * one per namespace) on the same journal. Mode 'pause-unshared' SIGSTOPs the unshared appender
 * for several leases at a random moment (the other breaks its lock and fences its epoch), then
 * SIGCONTs it: it must carry on (its fenced batch retried in a new epoch), and every record of
 * it must still be there exactly once. After each phase a fresh process opens the journal
 * read-only, reads every byte from 0 to the head, and the parent checks (appender-records.ts):
 * only whole records (I4); each writer's records are 1..m once each, in its order (I1); m covers
 * every acknowledged record (I2) and no more than it issued (I3); a writer that was gone at an
 * earlier check has exactly the records it had then (I6). An appender that fails while the
 * other holds the lock (JournalLockedError, a write error) is a violation too (I7).
 *
 * The v1 journal judged the unshared writer's live lock by its pid and broke it: both wrote at
 * the same offsets, and thousands of acknowledged appends were overwritten.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileJournal } from '../../../src/journal/file.js';
import { checkRecords, type AppenderLedger, type ParsedJournal } from './appender-records.js';
import type { Violation } from './ledger.js';
import { prng } from './model.js';
import type { KillStats } from './stats.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const NAMESPACE_MODES = [
  'stop',
  'kill-unshared',
  'kill-host',
  'kill-both',
  'pause-unshared',
] as const;
export type NamespaceMode = (typeof NAMESPACE_MODES)[number];

/** A phase's appenders must be ready, and then gone once stopped, within this long. */
const PROCESS_TIMEOUT_MS = 30_000;

export interface NamespaceLaneContext {
  root: string;
  stats: KillStats;
  /** The run is over (the other lanes' criteria): stop after the minimum rounds. */
  finished(): boolean;
  /** Ends the run early (a lane failed). */
  stop(): void;
  /** `node` arguments that start appender.ts (child-entry.ts). */
  appenderArgs: readonly string[];
  leaseMs: number;
  /** Rounds to run at most, and at least (every mode once needs NAMESPACE_MODES.length). */
  rounds: number;
  minRounds: number;
  seed: number;
  /**
   * 'none' keeps nothing; otherwise a failing round's journal is copied to a temp directory
   * (not to the corpus: Layer 1 replays those journals as RecordedOps, and these hold raw
   * records).
   */
  corpusDir?: string;
  log(line: string): void;
}

/** How to start a command in a new pid namespace. */
export interface PidNamespaceRunner {
  command: string;
  args: string[];
  how: string;
}

function ourPidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return '';
  }
}

function probe(runner: PidNamespaceRunner): { ok: boolean; why: string } {
  const result = spawnSync(runner.command, [...runner.args, 'readlink', '/proc/self/ns/pid'], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  if (result.error !== undefined) return { ok: false, why: result.error.message };
  const inside = result.stdout.trim();
  if (result.status !== 0) return { ok: false, why: (result.stderr || result.stdout).trim() };
  if (inside === '' || inside === ourPidNamespace()) {
    return { ok: false, why: `no new pid namespace (inside: ${inside || 'unknown'})` };
  }
  return { ok: true, why: '' };
}

function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Finds a way to start a process in a pid namespace of its own: util-linux `unshare` as root
 * (installed with apt-get when missing), else an unprivileged user namespace. Returns why not,
 * when neither works here (then the lane is skipped, as Layer 3 is where it cannot run).
 */
export function pidNamespaceRunner(log: (line: string) => void): {
  runner?: PidNamespaceRunner;
  skipped?: string;
} {
  const base = ['--pid', '--fork', '--mount-proc', '--kill-child'];
  const root: PidNamespaceRunner = {
    command: 'unshare',
    args: base,
    how: 'unshare --pid --fork --mount-proc',
  };
  const isRoot = process.getuid?.() === 0;
  if (!commandExists('unshare')) {
    if (!isRoot || !commandExists('apt-get')) {
      return {
        skipped: `unshare (util-linux) is missing and ${isRoot ? 'apt-get is' : 'root is'} not available to install it`,
      };
    }
    log('kill: unshare is missing: installing util-linux with apt-get');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () =>
      spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'util-linux'], {
        stdio: 'inherit',
        env,
      }).status === 0;
    if (!install()) {
      spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
      if (!install())
        throw new Error('apt-get install util-linux failed: no unshare for the namespace lane');
    }
  }
  const first = probe(root);
  if (first.ok) return { runner: root };
  const userns: PidNamespaceRunner = {
    command: 'unshare',
    args: ['--user', '--map-root-user', ...base],
    how: 'unshare --user --map-root-user --pid --fork --mount-proc',
  };
  const second = probe(userns);
  if (second.ok) return { runner: userns };
  const why = `unshare --pid failed (${first.why}), and with a user namespace too (${second.why})`;
  // As root a pid namespace is expected to work: a failure here is not a reason to skip.
  if (isRoot && !/EPERM|Operation not permitted/i.test(first.why + second.why)) {
    throw new Error(`namespace lane: ${why}`);
  }
  return { skipped: why };
}

type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** One appender process (host namespace, or under the runner's new pid namespace). */
class Appender {
  readonly id: number;
  readonly label: string;
  readonly unshared: boolean;
  readonly ready: Promise<boolean>;
  readonly closed: Promise<Exit>;
  pidNamespace = '';
  /** Its pid as it sees itself (1 inside a new pid namespace). */
  ownPid = 0;
  acked = 0;
  breaks = 0;
  done: { issued: number; acked: number } | undefined;
  error: string | undefined;
  stderr = '';
  killed = false;
  /** Times it was SIGSTOPped (and SIGCONTed) mid-run. */
  paused = 0;
  exit: Exit | undefined;
  readonly #process: ChildProcess;
  #partial = '';
  #onReady: ((ok: boolean) => void) | undefined;

  constructor(options: {
    id: number;
    label: string;
    runner: PidNamespaceRunner | undefined;
    appenderArgs: readonly string[];
    dir: string;
    leaseMs: number;
    seed: number;
  }) {
    this.id = options.id;
    this.label = options.label;
    this.unshared = options.runner !== undefined;
    const nodeArgs = [
      ...options.appenderArgs,
      'append',
      options.dir,
      String(options.id),
      String(options.leaseMs),
      String(options.seed),
    ];
    const [command, args] =
      options.runner === undefined
        ? [process.execPath, nodeArgs]
        : [options.runner.command, [...options.runner.args, process.execPath, ...nodeArgs]];
    this.#process = spawn(command, args, { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.#process.stdin!.on('error', () => undefined); // EPIPE once it is gone
    this.#process.stdout!.on('data', (chunk: Buffer) => this.#stdout(chunk.toString()));
    this.#process.stderr!.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 20_000) this.stderr += chunk.toString();
    });
    this.ready = new Promise((resolve) => (this.#onReady = resolve));
    this.closed = new Promise((resolve) => {
      this.#process.on('close', (code, signal) => {
        this.#stdout('\n');
        this.exit = { code, signal };
        this.#onReady?.(false);
        resolve(this.exit);
      });
    });
  }

  #stdout(text: string): void {
    const lines = (this.#partial + text).split('\n');
    this.#partial = lines.pop() ?? '';
    for (const line of lines) {
      const [what, ...rest] = line.split(' ');
      if (what === 'ack') this.acked = Math.max(this.acked, Number(rest[0]));
      else if (what === 'break') this.breaks++;
      else if (what === 'ready') {
        this.pidNamespace = rest[0] ?? '';
        this.ownPid = Number(rest[1]);
        this.#onReady?.(true);
        this.#onReady = undefined;
      } else if (what === 'done') this.done = { issued: Number(rest[0]), acked: Number(rest[1]) };
      else if (what === 'error') this.error = rest.join(' ');
    }
  }

  /** Closes its stdin: it settles its appends, closes the journal and exits. */
  stop(): void {
    this.#process.stdin!.end();
  }

  /** The node process itself (inside the namespace: the runner's child, by its host pid). */
  async #nodePid(): Promise<number> {
    const pid = this.#process.pid!;
    if (!this.unshared) return pid;
    const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
    const inner = Number(children.trim().split(/\s+/)[0]);
    return Number.isSafeInteger(inner) && inner > 0 ? inner : pid;
  }

  /** SIGKILLs the node process itself. */
  async kill(): Promise<void> {
    if (this.exit !== undefined) return;
    this.killed = true;
    const target = await this.#nodePid();
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // gone already
    }
    // The runner (unshare --kill-child) follows its child; kill it too if it is still there.
    if (target !== this.#process.pid) setTimeout(() => this.forceKill(), 2000).unref();
  }

  /** SIGSTOPs the node process for `ms`, then SIGCONTs it. */
  async pause(ms: number): Promise<void> {
    if (this.exit !== undefined) return;
    const target = await this.#nodePid();
    try {
      process.kill(target, 'SIGSTOP');
      this.paused++;
      await sleep(ms);
    } finally {
      try {
        process.kill(target, 'SIGCONT');
      } catch {
        // gone
      }
    }
  }

  forceKill(): void {
    if (this.exit === undefined) this.#process.kill('SIGKILL');
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms))),
  ]).finally(() => clearTimeout(timer));
}

interface ReadBack {
  head?: number;
  indexFiles?: number;
  jumps?: string[];
  parsed?: ParsedJournal;
  error?: string;
}

/** A fresh process reads the whole journal (read-only) and parses it. */
async function readBack(appenderArgs: readonly string[], dir: string): Promise<ReadBack> {
  const child = spawn(process.execPath, [...appenderArgs, 'read', dir], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exit = await within(
    new Promise<number | null>((resolve) => child.on('close', resolve)),
    PROCESS_TIMEOUT_MS * 2,
  );
  if (exit === 'timeout') {
    child.kill('SIGKILL');
    return { error: 'the reader did not finish within 60 s' };
  }
  try {
    return JSON.parse(out) as ReadBack;
  } catch {
    return { error: `the reader exited ${exit}: ${(err || out).slice(-1000)}` };
  }
}

export class NamespaceLane {
  readonly #ctx: NamespaceLaneContext;
  readonly #random: () => number;
  #runner: PidNamespaceRunner | undefined;
  #nextId = 1;

  constructor(ctx: NamespaceLaneContext) {
    this.#ctx = ctx;
    this.#random = prng(ctx.seed);
  }

  async loop(): Promise<void> {
    const ns = this.#ctx.stats.ns;
    ns.leaseMs = this.#ctx.leaseMs;
    const found = pidNamespaceRunner(this.#ctx.log);
    if (found.runner === undefined) {
      ns.skipped = found.skipped;
      this.#ctx.log(`kill: namespaces: SKIPPED (${found.skipped})`);
      return;
    }
    this.#runner = found.runner;
    ns.how = found.runner.how;
    try {
      for (let round = 1; round <= this.#ctx.rounds; round++) {
        if (round > this.#ctx.minRounds && this.#ctx.finished()) break;
        if (this.#ctx.stats.violations.length >= 25) break;
        const mode = NAMESPACE_MODES[(round - 1) % NAMESPACE_MODES.length]!;
        await this.#round(round, mode);
      }
    } catch (err) {
      this.#ctx.stop();
      this.#ctx.log(`kill: namespaces failed: ${err instanceof Error ? err.stack : String(err)}`);
      throw err;
    } finally {
      await rm(join(this.#ctx.root, 'ns'), { recursive: true, force: true });
    }
  }

  async #round(round: number, mode: NamespaceMode): Promise<void> {
    const ns = this.#ctx.stats.ns;
    const roundDir = join(this.#ctx.root, 'ns', `r-${round}`);
    const dir = join(roundDir, 'journal');
    await rm(roundDir, { recursive: true, force: true });
    await mkdir(roundDir, { recursive: true });
    await (await FileJournal.create(dir, `kill/ns/r-${round}`)).close();
    const ledger: AppenderLedger[] = [];
    const counted = new Set<number>();
    const violations: Violation[] = [];
    const started = performance.now();
    let epochs = 0;

    const kills =
      mode === 'kill-both'
        ? [0, 1]
        : mode === 'kill-unshared'
          ? [0]
          : mode === 'kill-host'
            ? [1]
            : [];
    const phases: { kills: number[]; pauses: number[]; ms: number }[] = [
      { kills, pauses: mode === 'pause-unshared' ? [0] : [], ms: 800 + this.#random() * 1500 },
    ];
    if (kills.length > 0) phases.push({ kills: [], pauses: [], ms: 400 + this.#random() * 800 });

    for (let p = 0; p < phases.length && violations.length === 0; p++) {
      const phase = phases[p]!;
      const where = `namespaces round ${round} (${mode}) phase ${p + 1}`;
      violations.push(...(await this.#phase(dir, where, phase, ledger)));
      const read = await readBack(this.#ctx.appenderArgs, dir);
      if (read.error !== undefined || read.parsed === undefined) {
        violations.push({
          invariant: 'I4',
          detail: `${where}: a fresh read-only process could not read the journal: ${read.error}`,
        });
        break;
      }
      if ((read.jumps ?? []).length > 0) {
        violations.push({
          invariant: 'I2',
          detail: `${where}: reading from 0 jumped over missing bytes: ${read.jumps!.join(', ')}`,
        });
      }
      const checked = checkRecords(read.parsed, ledger);
      violations.push(
        ...checked.violations.map((v) => ({ ...v, detail: `${where}: ${v.detail}` })),
      );
      for (const writer of ledger) {
        // Every appender of the round is gone now: its records must stay exactly as they are.
        writer.settled ??= checked.counts.get(writer.id);
        if (!counted.has(writer.id)) {
          counted.add(writer.id);
          this.#ctx.stats.ackedOpsChecked += writer.acked;
          ns.acked += writer.acked;
        }
      }
      epochs = read.indexFiles ?? 0;
    }
    // Every take-over (and the first append) started a writer epoch: one `*.index` file each.
    ns.epochs += epochs;
    ns.maxEpochs = Math.max(ns.maxEpochs, epochs);
    ns.rounds++;
    ns.byMode[mode] = (ns.byMode[mode] ?? 0) + 1;
    if (process.env.KILL_DEBUG) {
      this.#ctx.log(
        `kill: namespaces round ${round} (${mode}) ${(performance.now() - started).toFixed(0)} ms: ` +
          ledger
            .map((w) => `${w.label} acked ${w.acked}/${w.issued ?? '?'} in journal ${w.settled}`)
            .join('; '),
      );
    }
    let kept: string | undefined;
    if (violations.length > 0 && this.#ctx.corpusDir !== 'none') {
      kept = await mkdtemp(join(tmpdir(), `recoverylog-kill-ns-r${round}-`));
      await cp(dir, join(kept, 'journal'), { recursive: true }).catch(() => undefined);
    }
    for (const v of violations) {
      this.#ctx.stats.violations.push({ ...v, lane: -1, gen: round, corpus: kept });
      this.#ctx.log(
        `kill: VIOLATION ${v.invariant} ${v.detail}${kept ? ` (journal kept in ${kept})` : ''}`,
      );
    }
    await rm(roundDir, { recursive: true, force: true });
  }

  /**
   * Runs one appender per namespace (0: unshared, 1: host) for about `ms`, SIGKILLing those in
   * `kills` and SIGSTOPping those in `pauses` (for 3-4 leases) at random moments on the way.
   */
  async #phase(
    dir: string,
    where: string,
    { kills, pauses, ms }: { kills: readonly number[]; pauses: readonly number[]; ms: number },
    ledger: AppenderLedger[],
  ): Promise<Violation[]> {
    const ns = this.#ctx.stats.ns;
    const violations: Violation[] = [];
    const appenders = [this.#runner, undefined].map(
      (runner) =>
        new Appender({
          id: this.#nextId++ * 0x10000 + Math.floor(this.#random() * 0xffff),
          label: runner === undefined ? 'host appender' : 'unshared appender',
          runner,
          appenderArgs: this.#ctx.appenderArgs,
          dir,
          leaseMs: this.#ctx.leaseMs,
          seed: Math.floor(this.#random() * 0xffffffff),
        }),
    );
    ns.appenders += appenders.length;
    const run = async (): Promise<void> => {
      const ready = await within(Promise.all(appenders.map((a) => a.ready)), PROCESS_TIMEOUT_MS);
      if (ready === 'timeout' || ready.includes(false)) {
        violations.push({
          invariant: 'harness',
          detail:
            `${where}: the appenders did not start: ` +
            appenders.map((a) => `${a.label}: ${a.error ?? a.stderr.slice(-500)}`).join('; '),
        });
        return;
      }
      const [unshared, host] = appenders as [Appender, Appender];
      if (unshared.pidNamespace === '' || unshared.pidNamespace === host.pidNamespace) {
        violations.push({
          invariant: 'harness',
          detail: `${where}: the appenders share a pid namespace (${unshared.pidNamespace})`,
        });
        return;
      }
      const timers = kills.map((i) =>
        setTimeout(() => void appenders[i]!.kill(), 50 + this.#random() * (ms - 50)),
      );
      const paused = pauses.map(async (i) => {
        await sleep(50 + (this.#random() * ms) / 2);
        await appenders[i]!.pause(this.#ctx.leaseMs * (3 + this.#random()));
      });
      await sleep(ms);
      await Promise.all(paused);
      await sleep(pauses.length > 0 ? 300 : 0); // the paused one carries on for a moment
      timers.forEach(clearTimeout);
      for (const i of kills) await appenders[i]!.kill(); // (already done, normally)
      for (const a of appenders) if (!a.killed) a.stop();
      const gone = await within(Promise.all(appenders.map((a) => a.closed)), PROCESS_TIMEOUT_MS);
      if (gone === 'timeout') {
        violations.push({
          invariant: 'I7',
          detail:
            `${where}: an appender did not finish within ${PROCESS_TIMEOUT_MS / 1000} s of being ` +
            `told to stop: ${appenders
              .filter((a) => a.exit === undefined)
              .map((a) => a.label)
              .join(', ')}`,
        });
      }
    };
    try {
      await run();
    } finally {
      for (const a of appenders) a.forceKill();
      await Promise.all(appenders.map((a) => a.closed));
    }
    for (const a of appenders) {
      ns.lockBreaks += a.breaks;
      ns.paused += a.paused;
      if (a.killed) {
        ns.killed++;
        this.#ctx.stats.kills++;
        this.#ctx.stats.random++;
      }
      if (a.error !== undefined || (!a.killed && (a.exit?.code !== 0 || a.done === undefined))) {
        violations.push({
          invariant: 'I7',
          detail:
            `${where}: the ${a.label} failed while the other appended ` +
            `(exit ${a.exit?.code ?? a.exit?.signal}): ${a.error ?? a.stderr.slice(-800)}`,
        });
      }
      if (a.done !== undefined && a.done.acked !== a.acked) {
        violations.push({
          invariant: 'harness',
          detail: `${where}: the ${a.label} says it acked ${a.done.acked}, the parent read ${a.acked}`,
        });
      }
      ledger.push({ id: a.id, label: a.label, acked: a.acked, issued: a.done?.issued });
    }
    return violations;
  }
}
