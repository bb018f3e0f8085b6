/**
 * NamespaceGate: a shared/exclusive lock over which file each recorded path names.
 *
 * RecordedFs runs every call that can change what a path names (opens for writing, rename, link,
 * unlink, rm, truncate by path) as a shared holder, from before its real call until after it was
 * recorded; any number run at once, as before. A re-record (RecordedFs.rerecord) is the one
 * exclusive holder: it waits until no such call is between its real call and its recording, and
 * holds new ones back at their start, so the file it reads by path is the file the Recorder
 * believes is there, and stays so until the swap is recorded.
 *
 * Shared holders never wait while the gate is open (the common case costs a counter), and an
 * exclusive request shuts the gate at once, so a stream of shared calls cannot starve it.
 * Ordering rule that keeps it deadlock-free: take the gate before a file's write queue, never
 * while holding one.
 */
export class NamespaceGate {
  #shared = 0;
  /** Settles when the current exclusive holder (or requester) is done; undefined when open. */
  #exclusive: Promise<void> | undefined;
  /** Wakes the exclusive requester once the last shared holder has left. */
  #drained: (() => void) | undefined;

  /** Runs `task` as a shared holder. */
  async shared<T>(task: () => Promise<T>): Promise<T> {
    while (this.#exclusive !== undefined) await this.#exclusive;
    this.#shared++;
    try {
      return await task();
    } finally {
      this.#shared--;
      if (this.#shared === 0 && this.#drained !== undefined) this.#drained();
    }
  }

  /** Runs `task` once no shared holder is inside, keeping new ones out until it settles. */
  async exclusive<T>(task: () => Promise<T>): Promise<T> {
    while (this.#exclusive !== undefined) await this.#exclusive;
    let release!: () => void;
    this.#exclusive = new Promise<void>((resolve) => (release = resolve));
    try {
      if (this.#shared > 0) {
        await new Promise<void>((resolve) => (this.#drained = resolve));
        this.#drained = undefined;
      }
      return await task();
    } finally {
      this.#exclusive = undefined;
      release();
    }
  }
}
