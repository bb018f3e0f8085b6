/**
 * The parent's handle on one kill-child.ts process: forks it (through tsx), sends 'go', collects
 * its messages and ends it by PID. Messages are buffered so that a test can wait for the first
 * one of a type, or look at all of them.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FSM } from '../../src/fsm.js';
import type { FsmPosition } from '../crash/kill/protocol.js';
import type { TreeSnapshot } from '../crash/kill/tree.js';
import type { ChildGo, JournalAt, KillChildMessage } from './kill-child.js';

const CHILD = fileURLToPath(new URL('./kill-child.ts', import.meta.url));

type MessageOf<T extends KillChildMessage['type']> = Extract<KillChildMessage, { type: T }>;

export class KillChildProcess {
  readonly process: ChildProcess;
  readonly messages: KillChildMessage[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #waiters = new Set<() => void>();
  #stderr = '';

  constructor() {
    this.process = fork(CHILD, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    this.process.stderr?.setEncoding('utf8');
    this.process.stderr?.on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-4000);
    });
    this.process.on('message', (message: KillChildMessage) => {
      this.messages.push(message);
      for (const wake of this.#waiters) wake();
    });
    this.exited = new Promise((resolve) => {
      // 'close' comes after the IPC channel drained: no message sent before the exit is missed.
      this.process.on('close', (code, signal) => {
        this.#closed = true;
        for (const wake of this.#waiters) wake();
        resolve({ code, signal });
      });
    });
  }

  get stderr(): string {
    return this.#stderr;
  }

  #closed = false;

  get alive(): boolean {
    return !this.#closed;
  }

  /** Waits for 'ready', then sends `go`. */
  async start(go: ChildGo): Promise<void> {
    await this.next('ready', 60_000);
    this.process.send(go);
  }

  send(message: { type: 'zombie' }): void {
    this.process.send(message);
  }

  all<T extends KillChildMessage['type']>(type: T): MessageOf<T>[] {
    return this.messages.filter((m): m is MessageOf<T> => m.type === type);
  }

  /** The first message of `type` (waiting up to `timeoutMs`); throws on an 'error' or exit. */
  async next<T extends KillChildMessage['type']>(
    type: T,
    timeoutMs: number,
  ): Promise<MessageOf<T>> {
    await this.until(() => this.all(type).length > 0, `'${type}'`, timeoutMs);
    return this.all(type)[0]!;
  }

  /** Waits until `done()` holds (re-checked on every message); throws on an 'error' or exit. */
  async until(done: () => boolean, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (done()) return;
      const error = this.all('error')[0];
      if (error !== undefined) throw new Error(`kill child ${this.process.pid}: ${error.message}`);
      if (!this.alive) {
        throw new Error(
          `kill child ${this.process.pid} exited before ${what}:\n${this.#stderr.slice(-1500)}`,
        );
      }
      if (Date.now() > deadline) {
        throw new Error(`kill child ${this.process.pid}: no ${what} within ${timeoutMs} ms`);
      }
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.#waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, 200);
        this.#waiters.add(wake);
      });
    }
  }

  signal(signal: NodeJS.Signals): void {
    if (this.alive) this.process.kill(signal);
  }

  /** SIGKILL (after SIGCONT, should it be stopped) and wait for the exit. */
  async kill(): Promise<void> {
    if (this.alive) {
      this.process.kill('SIGCONT');
      this.process.kill('SIGKILL');
    }
    await this.exited;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function positionOf(fsm: FSM): FsmPosition {
  return { seqNo: fsm.nextSeqNo, checksum: fsm.nextChecksum };
}

export interface Recovery {
  tree: TreeSnapshot;
  fsm: FsmPosition;
}

/**
 * Plays the journal in a fresh process into `dir` (from offset 0, or from the KV hints); with
 * `killAfterMs`, SIGKILLs it that long after it started. `child` may be started beforehand (a
 * warm process: Node and tsx start-up cost seconds of CPU on a small machine).
 */
export async function recoverElsewhere(
  journal: JournalAt,
  dir: string,
  kv?: { bucket: string; store: string },
  killAfterMs?: number,
  child = new KillChildProcess(),
): Promise<Recovery | undefined> {
  try {
    await child.start({ type: 'go', role: 'recover', journal, dir, kv });
    if (killAfterMs !== undefined) {
      await sleep(killAfterMs);
      await child.kill();
      return undefined;
    }
    const recovered = await child.next('recovered', 120_000);
    return { tree: recovered.tree, fsm: recovered.fsm };
  } finally {
    await child.kill();
  }
}
