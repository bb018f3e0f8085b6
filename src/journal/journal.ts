/**
 * The Journal contract (docs/ARCHITECTURE.md, "Journals"): a named, append-only byte stream.
 * Journals know nothing of RecordedOps; they store and return bytes. Written so that a replicated
 * broker could implement it too: nothing above this interface assumes one process or local files.
 */

/** A small label set per journal. Used to fence writers (e.g. `{ author: "16i" }`). */
export type Registers = Readonly<Record<string, string>>;

export interface AppendOptions {
  /**
   * The append fails with RegisterMismatchError, writing nothing, unless every label here equals
   * the journal's current register of that name. A journal with NO registers matches anything.
   */
  checkRegisters?: Registers;
  /** Labels set (replacing same-named ones) atomically with the append. */
  unionRegisters?: Registers;
  /** Aborting rejects the returned promise; if bytes were already handed to storage they may still commit. */
  signal?: AbortSignal;
}

/** Byte range `[begin, end)` the append occupies. A barrier (0 bytes) has begin == end == head. */
export interface AppendResult {
  begin: number;
  end: number;
}

export interface ReadOptions {
  /**
   * true: wait until bytes at `offset` exist (tail). false: throw OffsetNotYetAvailableError
   * when `offset` is at the committed head.
   */
  blocking: boolean;
  /** Upper bound on bytes returned (a hint; implementations may return fewer). */
  maxBytes?: number;
  signal?: AbortSignal;
  /**
   * A buffer the caller lends for this read (at least maxBytes long). An implementation may read
   * the bytes into it and return a view of it, or return bytes of its own; the caller may reuse
   * it once done with the result. A reader streaming a log then reuses its buffers instead of
   * touching fresh memory for every read (a page fault per 4 KiB, which costs more than the copy).
   */
  into?: Uint8Array;
}

export interface ReadResult {
  /**
   * Offset of `bytes[0]`. Normally the requested offset; larger when the bytes before it no longer
   * exist (an "offset jump": the caller decides whether that is data loss).
   */
  offset: number;
  /** At least one byte. */
  bytes: Uint8Array;
}

export interface Journal {
  readonly name: string;
  /**
   * Appends `data` atomically and durably; resolves once the bytes are on stable storage.
   * Appends are serialized in call order and may share one sync (group commit).
   * A zero-byte append is a barrier: resolves after every earlier append, at the write head.
   */
  append(data: Uint8Array | readonly Uint8Array[], options?: AppendOptions): Promise<AppendResult>;
  /** Committed bytes from `offset` (see ReadOptions). */
  read(offset: number, options: ReadOptions): Promise<ReadResult>;
  /** The current committed write head (exclusive end of the last durable append). */
  head(): Promise<number>;
  /** The journal's current registers. */
  registers(): Promise<Registers>;
  /** Releases resources (file handles, watchers). Pending reads reject. */
  close(): Promise<void>;
}

/** Resolves journal names to journals, so that hints spanning several logs can be played. */
export type JournalResolver = (name: string) => Journal | Promise<Journal>;
