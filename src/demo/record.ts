/** Running the recording child and killing it with SIGKILL after a chosen acknowledgement. */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trackChild } from './nats.js';
import { isChildMessage, type ChildArgs, type ChildMessage } from './protocol.js';

/** What the parent saw of one recording child, up to its death. */
export interface ChildRun {
  pid: number;
  author: number;
  acks: Extract<ChildMessage, { type: 'ack' }>[];
  /** When each acknowledgement arrived (Date.now()). */
  ackTimes: number[];
  killed: boolean;
  finishedState?: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: string;
}

/**
 * Forks the recording child (child.ts) with `args`, collects its messages, and SIGKILLs it
 * `killDelayMs` after acknowledgement #`killAfterAcks`; `onAck` sees each acknowledgement count.
 */
export async function recordAndKill(
  args: ChildArgs,
  killAfterAcks: number,
  killDelayMs: number,
  onAck?: (acks: number) => void,
): Promise<ChildRun> {
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith('.ts');
  const script = join(here, '..', fromSource ? 'child.ts' : 'child.js');
  const child = fork(script, [JSON.stringify(args)], {
    // From source (tests), the child needs the TypeScript loader too, resolved from the package.
    execArgv: fromSource ? ['--import', 'tsx'] : [],
    cwd: join(here, '..', '..', '..'),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  trackChild(child);
  const run: ChildRun = {
    pid: child.pid ?? 0,
    author: 0,
    acks: [],
    ackTimes: [],
    killed: false,
    code: null,
    signal: null,
  };
  child.on('message', (message: unknown) => {
    if (!isChildMessage(message)) return;
    if (message.type === 'started') run.author = message.author;
    else if (message.type === 'finished') run.finishedState = message.state;
    else if (message.type === 'error') run.error = message.message;
    else if (message.type === 'ack' && !run.killed) {
      run.acks.push(message);
      run.ackTimes.push(Date.now());
      onAck?.(run.acks.length);
      if (run.acks.length === killAfterAcks) {
        setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) {
            run.killed = true;
            child.kill('SIGKILL');
          }
        }, killDelayMs);
      }
    }
  });
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      run.code = code;
      run.signal = signal;
      resolve();
    });
  });
  if (run.error === undefined && !run.killed && run.code !== 0) {
    run.error = `exited with ${run.signal ?? `code ${run.code}`}`;
  }
  return run;
}
