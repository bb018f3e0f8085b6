/**
 * FileRegistry: what RecordedFs knows about the files of one Recorder, shared by every RecordedFs
 * (and every handle) over that Recorder, so that there is one truth per file (issue 9, item 3):
 * - the exact size of files being appended to (an O_APPEND write lands at the file's end, and is
 *   recorded there, so the end must be known exactly, whichever wrapper wrote last);
 * - a write queue per file, serialising each write with its recording;
 * - the open writable handles per file (a truncating open gives their file a new identity);
 * - re-recorded identities still referenced by queued tasks;
 * - the namespace gate (a re-record holds it exclusively against every wrapper's path changes).
 */
import { NamespaceGate } from '../namespace-gate.js';
import type { Recorder } from '../recorder.js';
import type { Fnode } from '../wire/types.js';

/** A handle as the registry sees it: the identity of the file it writes to. */
export interface TrackedHandle {
  fnode: Fnode | undefined;
}

const registries = new WeakMap<Recorder, FileRegistry>();

export class FileRegistry {
  /** Held shared by calls that change what a path names; exclusively by a re-record's open. */
  readonly gate = new NamespaceGate();
  /**
   * Re-recorded files: old Fnode -> new one, while tasks queued under the old one may still run
   * (a truncation queued behind the re-record must truncate the file under its new identity).
   */
  readonly successors = new Map<Fnode, Fnode>();
  /** Known file sizes, by Fnode (appends land at the end; it must be known exactly). */
  readonly #sizes = new Map<Fnode, number>();
  /** Open writable handles by Fnode. */
  readonly #handles = new Map<Fnode, Set<TrackedHandle>>();
  /** Per-Fnode queues serialising writes with their recording. */
  readonly #queues = new Map<Fnode, Promise<unknown>>();

  /** The registry of `recorder` (created on first use). */
  static of(recorder: Recorder): FileRegistry {
    let registry = registries.get(recorder);
    if (registry === undefined) registries.set(recorder, (registry = new FileRegistry()));
    return registry;
  }

  /** Runs `task` after earlier tasks queued on the same file. */
  serialized<T>(fnode: Fnode, task: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(fnode) ?? Promise.resolve();
    const run = previous.then(task, task);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(fnode, settled);
    void settled.then(() => {
      if (this.#queues.get(fnode) === settled) this.#queues.delete(fnode);
    });
    return run;
  }

  /** The latest identity of a file that may have been re-recorded. */
  latest(fnode: Fnode): Fnode {
    let current = fnode;
    for (let next = this.successors.get(current); next !== undefined;) {
      current = next;
      next = this.successors.get(current);
    }
    return current;
  }

  /** The exact size of `fnode`, learned through `stat` the first time (call in its queue). */
  async size(fnode: Fnode, stat: () => Promise<number>): Promise<number> {
    let size = this.#sizes.get(fnode);
    if (size === undefined) {
      size = await stat();
      // Another task may have learned it meanwhile (it holds no queue): keep the first.
      size = this.#sizes.get(fnode) ?? size;
      this.#sizes.set(fnode, size);
    }
    return size;
  }

  setSize(fnode: Fnode, size: number): void {
    this.#sizes.set(fnode, size);
  }

  /** A write of `length` bytes at `offset` of `fnode` landed: a known size grows to cover it. */
  noteWrite(fnode: Fnode, offset: number, length: number): void {
    const size = this.#sizes.get(fnode);
    if (size !== undefined) this.#sizes.set(fnode, Math.max(size, offset + length));
  }

  /** Forgets what is known of a file that has no name left. */
  dropIfDead(recorder: Recorder, fnode: Fnode): void {
    if (recorder.linkCount(fnode) === 0) this.#sizes.delete(fnode);
  }

  addHandle(handle: TrackedHandle): void {
    const fnode = handle.fnode;
    if (fnode === undefined) return;
    let handles = this.#handles.get(fnode);
    if (handles === undefined) this.#handles.set(fnode, (handles = new Set()));
    handles.add(handle);
  }

  /** Whether `fnode` has open writable handles. */
  hasHandles(fnode: Fnode): boolean {
    return (this.#handles.get(fnode)?.size ?? 0) > 0;
  }

  forget(handle: TrackedHandle): void {
    if (handle.fnode === undefined) return;
    const handles = this.#handles.get(handle.fnode);
    handles?.delete(handle);
    if (handles?.size === 0) this.#handles.delete(handle.fnode);
  }

  /**
   * The file `old` goes on as `fresh` (a truncation: empty; a re-record: `size` bytes). Called in
   * `old`'s write queue: handles, size and the queue move over, so that writes on `fresh` come
   * after those still queued on `old`, as the file system applies them.
   */
  renewIdentity(old: Fnode, fresh: Fnode, size = 0): void {
    this.#sizes.delete(old);
    this.#sizes.set(fresh, size);
    const tail = this.#queues.get(old);
    if (tail !== undefined) {
      this.#queues.set(fresh, tail);
      void tail.then(() => {
        if (this.#queues.get(fresh) === tail) this.#queues.delete(fresh);
        this.successors.delete(old);
      });
    } else {
      this.successors.delete(old);
    }
    const handles = this.#handles.get(old);
    if (handles === undefined) return;
    this.#handles.delete(old);
    const target = this.#handles.get(fresh) ?? new Set<TrackedHandle>();
    for (const h of handles) {
      h.fnode = fresh;
      target.add(h);
    }
    this.#handles.set(fresh, target);
  }
}
