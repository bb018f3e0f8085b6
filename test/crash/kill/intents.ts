/**
 * The child's intent file: before performing op i it writes `{"i":i,"op":...}` with a synchronous
 * write (which the page cache keeps through SIGKILL), and after RecordedFs returned it writes the
 * FSM position `{"i":i,"post":...}`. The parent reads it after the child is gone: ops 1..n are
 * every op that may have reached the journal (the upper bound, "written"), the posts give the
 * FSM's SeqNo and checksum after each op (for I3).
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { KillOp } from './model.js';
import type { FsmPosition } from './protocol.js';

export class IntentWriter {
  readonly #fd: number;

  constructor(file: string) {
    this.#fd = openSync(file, 'a');
  }

  intend(i: number, op: KillOp): void {
    writeSync(this.#fd, JSON.stringify({ i, op }) + '\n');
  }

  done(i: number, post: FsmPosition): void {
    writeSync(this.#fd, JSON.stringify({ i, post }) + '\n');
  }

  close(): void {
    closeSync(this.#fd);
  }
}

export interface Intents {
  /** ops[i - 1] is op i. */
  ops: KillOp[];
  /** posts[i] is the FSM after op i, when the child got to write it. */
  posts: Map<number, FsmPosition>;
}

export function readIntents(file: string): Intents {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ops: [], posts: new Map() };
    throw err;
  }
  const ops: KillOp[] = [];
  const posts = new Map<number, FsmPosition>();
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    if (line === '') continue;
    let entry: { i: number; op?: KillOp; post?: FsmPosition };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch (err) {
      // Only the very last line can be cut short (a kill during its write): that op never started.
      if (n >= lines.length - 2) break;
      throw new Error(`intent file ${file}: line ${n + 1} is not JSON`, { cause: err });
    }
    if (entry.op !== undefined) {
      if (entry.i !== ops.length + 1) {
        throw new Error(`intent file ${file}: op ${entry.i} follows op ${ops.length}`);
      }
      ops.push(entry.op);
    } else if (entry.post !== undefined) {
      posts.set(entry.i, entry.post);
    }
  }
  return { ops, posts };
}
