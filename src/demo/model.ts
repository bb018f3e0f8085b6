import { entriesFrom, sha256, treeDigest, type TreeEntry } from './tree.js';
import type { Action } from './workload.js';

/**
 * Every state the store's directory passes through while the child performs the workload, at
 * the granularity recovery can observe: one state per recorded journal append (a create, a
 * write, a rename, an unlink, a link). A crash leaves the journal holding a prefix of those
 * appends, so a correct recovery reproduces exactly one of these states.
 */
export interface WorkloadStates {
  /** Digest of state i (state 0 = the empty directory). */
  digests: string[];
  /** For each action index, the state index reached when it completed. */
  stateAfterAction: number[];
  /** Puts completed by state i (the store's logical progress). */
  putsAt: number[];
}

interface ModelFile {
  data: string;
  /** Cached digest of `data`; recomputed only when the file changes. */
  digest: string;
}

/** An in-memory file system that understands exactly the workload's actions. */
export class TreeModel {
  private readonly files = new Map<number, ModelFile>();
  private readonly paths = new Map<string, number>();
  private readonly handles = new Map<number, number>();
  private nextId = 1;

  /** Applies one action, calling `onState` after each state it makes observable (0, 1 or 2). */
  apply(action: Action, onState: () => void): void {
    switch (action.kind) {
      case 'mkdir':
      case 'sync':
        return;
      case 'close':
        this.handles.delete(action.handle);
        return;
      case 'create':
        this.handles.set(action.handle, this.createFile(action.path));
        return onState();
      case 'append': {
        const id = this.handles.get(action.handle);
        if (id === undefined) throw new Error(`model: append to closed handle ${action.handle}`);
        const file = this.files.get(id)!;
        file.data += action.data;
        file.digest = sha256(file.data);
        return onState();
      }
      case 'writeFile': {
        // Two appends: the (truncating) create, then the write.
        const id = this.createFile(action.path);
        onState();
        const file = this.files.get(id)!;
        file.data = action.data;
        file.digest = sha256(file.data);
        return onState();
      }
      case 'rename': {
        const id = this.lookup(action.from);
        this.paths.delete(action.from);
        this.paths.set(action.to, id);
        return onState();
      }
      case 'unlink':
        this.lookup(action.path);
        this.paths.delete(action.path);
        return onState();
      case 'link':
        if (this.paths.has(action.newPath)) throw new Error(`model: ${action.newPath} exists`);
        this.paths.set(action.newPath, this.lookup(action.existing));
        return onState();
    }
  }

  entries(): TreeEntry[] {
    return entriesFrom(
      [...this.paths].map(([path, id]) => {
        const file = this.files.get(id)!;
        return { path, identity: String(id), sha256: file.digest, size: file.data.length };
      }),
    );
  }

  private createFile(path: string): number {
    const id = this.nextId++;
    this.files.set(id, { data: '', digest: sha256('') });
    this.paths.set(path, id);
    return id;
  }

  private lookup(path: string): number {
    const id = this.paths.get(path);
    if (id === undefined) throw new Error(`model: no such file ${path}`);
    return id;
  }
}

/**
 * Runs the workload in the model and records every state. `keepEntriesFor` lists state indexes
 * whose full entries should be kept (to explain a failed verification).
 */
export function workloadStates(
  actions: readonly Action[],
  keepEntriesFor: ReadonlySet<number> = new Set(),
): WorkloadStates & { entries: Map<number, TreeEntry[]> } {
  const model = new TreeModel();
  const digests = [treeDigest([])];
  const putsAt = [0];
  const entries = new Map<number, TreeEntry[]>();
  if (keepEntriesFor.has(0)) entries.set(0, []);
  const stateAfterAction: number[] = [];
  let puts = 0;
  for (const action of actions) {
    model.apply(action, () => {
      if (action.kind === 'append') puts += action.puts;
      const tree = model.entries();
      if (keepEntriesFor.has(digests.length)) entries.set(digests.length, tree);
      digests.push(treeDigest(tree));
      putsAt.push(puts);
    });
    stateAfterAction.push(digests.length - 1);
  }
  return { digests, stateAfterAction, putsAt, entries };
}
