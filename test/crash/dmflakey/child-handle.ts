/**
 * The driver's handle on one recorder-child.ts process: spawns it (ahead of time: loading node
 * and the library takes seconds under emulation), hands it its config, collects its reports in
 * memory (the ledger lives here, off the flakey device) and kills it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseReport, type ChildConfig, type ChildReport } from './protocol.js';

// run.sh runs the harness bundled (.mjs) or compiled (.js) to plain JavaScript: the child is
// the sibling file of the same kind. From source (unit tests) the child goes through tsx too.
const SELF = import.meta.url;
const COMPILED = /\.m?js$/.test(SELF);
const CHILD_ARGS = COMPILED
  ? [fileURLToPath(new URL(`./recorder-child${SELF.endsWith('.mjs') ? '.mjs' : '.js'}`, SELF))]
  : ['--import', 'tsx', fileURLToPath(new URL('./recorder-child.ts', SELF))];

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ChildHandle {
  readonly reports: ChildReport[] = [];
  readonly spawnedAt = Date.now();
  /** Resolves once the child loaded its modules (or exited). */
  readonly loaded: Promise<void>;
  readonly exited: Promise<ExitStatus>;
  exitStatus: ExitStatus | undefined;
  /** Date.now() when the child reported 'loaded' (0: not yet). */
  loadedAt = 0;
  private readonly process: ChildProcess;
  private stderr = '';
  private readonly listeners = new Set<() => void>();
  private killed = false;

  constructor() {
    this.process = spawn(process.execPath, CHILD_ARGS, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env },
    });
    this.process.stderr!.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 64_000) this.stderr += chunk.toString();
    });
    // A child killed before it read its config closes stdin under us: not an error.
    this.process.stdin!.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      this.process.on('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        this.notify();
        resolve({ code, signal });
      });
    });
    this.loaded = this.waitFor((r) => r.t === 'loaded', 600_000).then(() => undefined);
    createInterface({ input: this.process.stdout! }).on('line', (line) => {
      const report = parseReport(line);
      if (report === undefined) return;
      if (report.t === 'loaded') this.loadedAt = Date.now();
      this.reports.push(report);
      this.notify();
    });
  }

  start(config: ChildConfig): void {
    this.process.stdin!.write(JSON.stringify(config) + '\n');
  }

  /** After an error_writes window: ask the failed child to try a barrier and an append again. */
  probe(): void {
    this.process.stdin!.write('probe\n');
  }

  /** The first report matching `match`, or undefined once the child exited or the time ran out. */
  async waitFor(
    match: (report: ChildReport) => boolean,
    timeoutMs: number,
  ): Promise<ChildReport | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.reports.find(match);
      if (found !== undefined) return found;
      if (this.exitStatus !== undefined || Date.now() >= deadline) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
        const listeners = this.listeners;
        function done(): void {
          clearTimeout(timer);
          listeners.delete(done);
          resolve();
        }
        listeners.add(done);
      });
    }
  }

  /** Whether the process ended on its own (crashed or gave up) rather than by kill(). */
  get exitedEarly(): string | undefined {
    if (this.exitStatus === undefined || this.killed) return undefined;
    return describeExit(this.exitStatus);
  }

  /**
   * SIGSTOP: the child runs no more user code (so reports no more acknowledgements), while the
   * kernel finishes the system calls it is in (a sync in flight completes).
   */
  freeze(): void {
    if (this.exitStatus === undefined) this.process.kill('SIGSTOP');
  }

  /** SIGKILL (a crash: no clean-up runs) and wait until the process is gone. */
  async kill(): Promise<void> {
    this.killed = true;
    if (this.exitStatus === undefined) this.process.kill('SIGKILL');
    await this.exited;
  }

  /** The child's stderr, shortened to its first and last lines. */
  stderrTail(): string {
    const lines = this.stderr.trim().split('\n');
    const shown = lines.length <= 8 ? lines : [...lines.slice(0, 4), '...', ...lines.slice(-4)];
    return shown.join(' | ') || '(no stderr)';
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

export function describeExit(status: ExitStatus): string {
  return status.signal !== null ? `signal ${status.signal}` : `exit code ${status.code}`;
}
