/**
 * The parent's handle on one journal-writer.ts process: parses its report lines into a ledger of
 * acknowledged appends (kept here, off the flakey device) and knows which acknowledgements
 * arrived before the power cut began.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Ack } from './records.js';
import type { WriterConfig } from './journal-writer.js';
import type { WorkloadName } from './journal-target.js';

// run.sh runs these modules compiled to JavaScript (node + tsx take seconds to start under
// emulation, once per cut); run from source they start the writer through tsx too.
const COMPILED = import.meta.url.endsWith('.js');
const WRITER_ARGS = COMPILED
  ? [fileURLToPath(new URL('./journal-writer.js', import.meta.url))]
  : ['--import', 'tsx', fileURLToPath(new URL('./journal-writer.ts', import.meta.url))];

export interface LedgerAck extends Ack {
  /** CLOCK_MONOTONIC (process.hrtime) when the writer saw the append resolve. */
  ackedAtNs: bigint;
  /**
   * Resolved after the cut had begun: its sync may have run while writes were being dropped, so
   * it proves nothing about durability (its offsets are still checked).
   */
  late: boolean;
}

export interface AppendFailure {
  index: number;
  /** The error is an instance of the contract's types (JournalWriteError / JournalFailedError). */
  typed: boolean;
  name: string;
  code: string;
  message: string;
}

export class WriterChild {
  readonly acks: LedgerAck[] = [];
  readonly failures: AppendFailure[] = [];
  /** Resolves once the writer has loaded its modules (or has exited). */
  readonly loaded: Promise<void>;
  /** Resolves on "ready" (journal open, after start()); rejects when the process exits first. */
  readonly ready: Promise<void>;
  private readonly process: ChildProcess;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private cutAtNs: bigint | undefined;
  readonly spawnedAt = Date.now();
  /** When the writer had loaded its modules (0: not yet). */
  loadedAt = 0;
  private stderr = '';
  private readonly listeners = new Set<() => void>();

  /** Starts the process; it loads its modules, then waits for start(). */
  constructor(workload: WorkloadName) {
    this.process = spawn(process.execPath, [...WRITER_ARGS, workload], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.process.stderr!.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 64_000) this.stderr += chunk.toString();
    });
    this.exited = new Promise((resolve) => {
      this.process.on('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        this.notify();
        resolve({ code, signal });
      });
    });
    let onLoaded: () => void = () => undefined;
    this.loaded = new Promise<void>((resolve) => {
      onLoaded = resolve;
      void this.exited.then(() => resolve());
    });
    let onReady: () => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      void this.exited.then((status) =>
        reject(
          new Error(
            `journal writer exited before it was ready (${describe(status)}): ${this.stderrTail()}`,
          ),
        ),
      );
    });
    // A spare writer killed unused never becomes ready: that is no error for anyone to handle.
    this.ready.catch(() => undefined);
    createInterface({ input: this.process.stdout! }).on('line', (line) => {
      this.parse(line, onLoaded, onReady);
      this.notify();
    });
  }

  /** Hands the writer its journal and first record: it opens the journal and starts appending. */
  start(config: WriterConfig): void {
    this.process.stdin!.end(JSON.stringify(config) + '\n');
  }

  /**
   * Call right before the cut begins: acknowledgements made later than now are late. The writer
   * stamps each one with the same system-wide monotonic clock, so an ack still in the pipe when
   * the cut begins is told apart from one made during it.
   */
  markCutBegun(): void {
    this.cutAtNs = process.hrtime.bigint();
  }

  /** Whether the process ended on its own (crashed) rather than by kill(). */
  get exitedEarly(): string | undefined {
    return this.exitStatus === undefined ? undefined : describe(this.exitStatus);
  }

  /** SIGKILL (a crash, no clean-up) and wait until the process is gone. */
  async kill(): Promise<void> {
    if (this.exitStatus === undefined) this.process.kill('SIGKILL');
    await this.exited;
  }

  /** Resolves once `count` appends have failed, or the writer stopped or exited, or after timeoutMs. */
  async waitForFailures(count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.failures.length < count && this.exitStatus === undefined && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.listeners.add(done);
      });
    }
  }

  /** The writer's stderr, shortened: its first lines (the error) and its last ones. */
  stderrTail(): string {
    const lines = this.stderr.trim().split('\n');
    const shown = lines.length <= 8 ? lines : [...lines.slice(0, 4), '...', ...lines.slice(-4)];
    return shown.join(' | ') || '(no stderr)';
  }

  private parse(line: string, onLoaded: () => void, onReady: () => void): void {
    const [kind, ...fields] = line.split(' ');
    if (kind === 'loaded') {
      this.loadedAt = Date.now();
      onLoaded();
    } else if (kind === 'ready') {
      onReady();
    } else if (kind === 'ack') {
      const [index, begin, end] = fields.slice(0, 3).map(Number);
      const ackedAtNs = BigInt(fields[3] ?? '0');
      const late = this.cutAtNs !== undefined && ackedAtNs >= this.cutAtNs;
      this.acks.push({ index: index!, begin: begin!, end: end!, ackedAtNs, late });
    } else if (kind === 'fail') {
      const [index, typed, name, code, ...message] = fields;
      this.failures.push({
        index: Number(index),
        typed: typed === 'typed',
        name: name ?? '?',
        code: code ?? '-',
        message: message.join(' '),
      });
    }
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
    this.listeners.clear();
  }
}

function describe(status: { code: number | null; signal: NodeJS.Signals | null }): string {
  return status.signal !== null ? `signal ${status.signal}` : `exit code ${status.code}`;
}
