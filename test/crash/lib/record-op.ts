/**
 * Records a TreeOp through the real Recorder (one record call, whose frames always travel in one
 * journal append, possibly together with other calls of the same synchronous run), the way an
 * application's file-system calls reach it. Shared by every layer that drives a Recorder.
 */
import type { Recorder } from '../../../src/recorder.js';
import type { Fnode } from '../../../src/wire/types.js';
import {
  PROPERTY_PATHS,
  dataBytes,
  fileSize,
  opProblem,
  utf8Text,
  describeTreeOp,
  type TreeOp,
  type TreeState,
} from './tree-model.js';

/** Absolute path of recorded path `rel` ('/a/x') under the recorded directory `dir`. */
export function absolute(dir: string, rel: string): string {
  return dir === '/' ? rel : dir + rel;
}

/**
 * Hands `op` to the Recorder (synchronously: its append is queued before this returns).
 * `state` is the directory before the op (the oracle's view, for appends and properties).
 * Returns the file identity the op concerns, when it has one.
 */
export function recordTreeOp(
  recorder: Recorder,
  dir: string,
  state: TreeState,
  op: TreeOp,
): Fnode | undefined {
  const problem = opProblem(state, op);
  if (problem !== undefined) throw new Error(`cannot record ${describeTreeOp(op)}: ${problem}`);
  const abs = (rel: string): string => absolute(dir, rel);
  switch (op.kind) {
    case 'create':
      return recorder.recordCreate(abs(op.path));
    case 'write':
    case 'append': {
      const fnode = recorder.fnodeAt(abs(op.path));
      if (fnode === undefined) throw new Error(`the Recorder does not know ${op.path}`);
      const offset = op.kind === 'append' ? fileSize(state, op.path)! : op.offset;
      recorder.recordWriteAt(fnode, dataBytes(op.data), offset);
      return fnode;
    }
    case 'link':
      recorder.recordLink(abs(op.from), abs(op.to));
      return recorder.fnodeAt(abs(op.to));
    case 'unlink': {
      const fnode = recorder.fnodeAt(abs(op.path));
      recorder.recordRemove(abs(op.path));
      return fnode;
    }
    case 'rename': {
      const fnode = recorder.fnodeAt(abs(op.from));
      const toProperty = PROPERTY_PATHS.has(op.to) || state.properties.has(op.to);
      const id = state.links.get(op.from)!;
      const content = toProperty ? utf8Text(state.contents.get(id)!) : undefined;
      recorder.recordRename(abs(op.from), abs(op.to), content);
      return fnode;
    }
    case 'noop':
      throw new Error('no-ops are appended by Recorder.open and Player hand-offs, not recorded');
  }
}
