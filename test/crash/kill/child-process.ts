/**
 * The parent's handle on one recording child: spawns it (`node child.js`, armed with
 * a failpoint or not), collects what it reports, and kills it. Messages are only trusted once the
 * process is fully closed (the 'close' event comes after the IPC channel drained), so an ack the
 * child handed to the channel before dying is never missed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import {
  FAILPOINT_ENV,
  failpointMark,
  type ChildMessage,
  type FailpointName,
  type GoMessage,
  type ParentMessage,
} from './protocol.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export type ChildPlan =
  /** SIGKILL at a random moment, during recovery or while recording. */
  | { mode: 'random'; duringRecovery: boolean }
  /** The child kills itself at the `hit`-th pass through a failpoint. */
  | { mode: 'failpoint'; name: FailpointName; hit: number }
  /** Paused (not killed) after recording; fenced by the next recovery; then tries to append. */
  | { mode: 'zombie' }
  /**
   * SIGSTOPped while recording, right after an ack (so, normally, holding the append lock); the
   * next recovery must hand off past it within the lock lease; then SIGCONTed, unaware.
   */
  | { mode: 'stop' };

type Recovered = Extract<ChildMessage, { type: 'recovered' }>;
type ZombieResult = Extract<ChildMessage, { type: 'zombie-result' }>;

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class KillChild {
  readonly plan: ChildPlan;
  readonly ready: Promise<void>;
  readonly closed: Promise<ExitStatus>;
  go: GoMessage | undefined;
  goAt = 0;
  recovered: Recovered | undefined;
  recoveredAt = 0;
  /** Highest acknowledged op and the SeqNo reached by then. */
  acked = { op: 0, seqNo: 0 };
  hintsStored = 0;
  paused: number | undefined;
  zombieResult: ZombieResult | undefined;
  error: string | undefined;
  killedByParent = false;
  /** SIGSTOPped by the parent and not continued since. */
  stopped = false;
  /** When the parent last SIGCONTed it (performance.now()), 0 if never. */
  continuedAt = 0;
  exit: ExitStatus | undefined;
  stderr = '';
  /** The failpoints the child said it died at (stderr marks, not capped: normally 0 or 1). */
  readonly failpointsHit: string[] = [];
  #stderrLine = '';
  readonly #process: ChildProcess;
  readonly #listeners = new Set<() => void>();

  /** `nodeArgs` start child.ts (see child-entry.ts). */
  constructor(plan: ChildPlan, nodeArgs: readonly string[], extraEnv: Record<string, string> = {}) {
    this.plan = plan;
    const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv };
    delete env[FAILPOINT_ENV];
    if (plan.mode === 'failpoint') env[FAILPOINT_ENV] = `${plan.name}:${plan.hit}`;
    this.#process = spawn(process.execPath, [...nodeArgs], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.#process.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      if (this.stderr.length < 20_000) this.stderr += text;
      const lines = (this.#stderrLine + text).split('\n');
      this.#stderrLine = lines.pop() ?? '';
      for (const line of lines) this.#mark(line);
    });
    this.#process.on('message', (message: ChildMessage) => this.#receive(message));
    this.closed = new Promise((resolve) => {
      this.#process.on('close', (code, signal) => {
        this.#mark(this.#stderrLine);
        this.#stderrLine = '';
        this.exit = { code, signal };
        this.#notify();
        resolve(this.exit);
      });
    });
    this.ready = new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.#readySeen) resolve();
        else if (this.exit) {
          reject(
            new Error(
              `kill child exited before it was ready (${this.describeExit()}): ${this.stderr}`,
            ),
          );
        } else return;
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
    });
    this.ready.catch(() => undefined);
  }

  #readySeen = false;
  /** Set by stopAtNextAck: SIGSTOPs the child as soon as its next ack arrives. */
  #stopAtAck: (() => void) | undefined;

  get pid(): number | undefined {
    return this.#process.pid;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  describeExit(): string {
    if (this.exit === undefined) return 'running';
    return this.exit.signal !== null ? `signal ${this.exit.signal}` : `exit code ${this.exit.code}`;
  }

  start(go: GoMessage): void {
    this.go = go;
    this.goAt = performance.now();
    this.send(go);
  }

  send(message: ParentMessage): void {
    if (this.alive && this.#process.connected) this.#process.send(message);
  }

  kill(): void {
    if (!this.alive || this.#process.exitCode !== null || this.#process.signalCode !== null) return;
    this.killedByParent = true;
    this.#process.kill('SIGKILL');
  }

  /**
   * SIGSTOPs the child the moment its next ack message arrives (an ack follows a commit, after
   * which the child normally still holds the append lock), and waits until the kernel reports it
   * stopped. Resolves false when no ack came within `timeoutMs` or the child is gone.
   */
  async stopAtNextAck(timeoutMs: number): Promise<boolean> {
    if (!this.alive || this.stopped) return false;
    let stoppedNow = false;
    this.#stopAtAck = () => {
      this.#stopAtAck = undefined;
      if (!this.alive) return;
      this.#process.kill('SIGSTOP');
      this.stopped = true;
      stoppedNow = true;
    };
    const ok = await this.until(() => stoppedNow, timeoutMs);
    this.#stopAtAck = undefined;
    if (!ok) return false;
    return this.#waitState((state) => state === 'T' || state === 't', 5000);
  }

  /** SIGCONTs a stopped child. */
  cont(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.continuedAt = performance.now();
    if (this.alive) this.#process.kill('SIGCONT');
  }

  /** Waits until /proc says the child's state satisfies `accept` (false on timeout or exit). */
  async #waitState(accept: (state: string) => boolean, timeoutMs: number): Promise<boolean> {
    const until = performance.now() + timeoutMs;
    while (this.alive && performance.now() < until) {
      const stat = await readFile(`/proc/${this.pid}/stat`, 'utf8').catch(() => '');
      // pid (comm) state ...: comm may contain spaces and parentheses, the state follows the last ')'.
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (accept(state)) return true;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    return false;
  }

  /**
   * Resolves true when `condition` holds, false when the child closed first or `timeoutMs` passed.
   */
  until(condition: () => boolean, timeoutMs = Infinity): Promise<boolean> {
    if (condition()) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        if (condition()) finish(true);
        else if (!this.alive) finish(false);
      };
      const finish = (value: boolean): void => {
        this.#listeners.delete(check);
        if (timer !== undefined) clearTimeout(timer);
        resolve(value);
      };
      this.#listeners.add(check);
      if (Number.isFinite(timeoutMs)) timer = setTimeout(() => finish(condition()), timeoutMs);
      check();
    });
  }

  #receive(message: ChildMessage): void {
    switch (message.type) {
      case 'ready':
        this.#readySeen = true;
        break;
      case 'recovered':
        this.recovered = message;
        this.recoveredAt = performance.now();
        break;
      case 'ack':
        if (message.op >= this.acked.op) this.acked = { op: message.op, seqNo: message.seqNo };
        this.#stopAtAck?.();
        break;
      case 'hints':
        this.hintsStored++;
        break;
      case 'paused':
        this.paused = message.op;
        break;
      case 'zombie-result':
        this.zombieResult = message;
        break;
      case 'error':
        this.error = message.message;
        break;
    }
    this.#notify();
  }

  #mark(line: string): void {
    const name = failpointMark(line);
    if (name !== undefined) this.failpointsHit.push(name);
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}
