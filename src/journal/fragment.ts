/**
 * Fragment: one fragment's files as the reader sees them (its place in the chain, its index
 * loaded on demand and checked against what the chain says, its data). Reads hand out only bytes
 * whose commit checksum was verified on the way. A commit's bytes lie in the data file, or (an
 * INLINE commit) after its record in the index file: a span is read from one of the two.
 * A read may lend a buffer (readInto): the bytes are read into it and checked there.
 */
import { join } from 'node:path';
import { crc32cUpdate } from '../crc32c.js';
import { JournalCorruptError } from './errors.js';
import type { FragmentIndex } from './fragment-index.js';
import { IO_CHUNK, advanceIndex, loadIndex, loadLegacyIndex, readInto } from './fragment-io.js';
import { LEGACY_COMMITS_FILE, LEGACY_DATA_FILE, dataFile, indexFile } from './fragment-layout.js';
import type { StartRecord } from './fragment-record.js';
import { LEGACY_EPOCH } from './legacy-fragment.js';
import type { JournalStorage, StorageFileHandle } from './storage.js';

/**
 * Commits up to this size are read and verified whole (and served from memory while a reader
 * moves through them); larger ones are verified in chunks once, then read per request.
 */
const CACHED_COMMIT = 16 * 1024 * 1024;

/** Below this size a lent buffer is not used to stream a large commit through for its check. */
const MIN_SCRATCH = 64 * 1024;

/** Committed bytes [from, to) of the journal, every commit in them checked against its CRC. */
export interface VerifiedSpan {
  readonly from: number;
  readonly to: number;
  readonly bytes: Uint8Array;
}

/** One fragment as readers see it: the chain position, the index (loaded on demand), the data. */
export class Fragment {
  readonly indexPath: string;
  readonly dataPath: string;
  /** File position of journal offset `begin` is `begin - dataBase`. */
  readonly dataBase: number;
  #data: StorageFileHandle | undefined;
  #indexHandle: StorageFileHandle | undefined;
  /** Closed (journal closed, or dropped from the chain): handles opened later are not kept. */
  #closed = false;
  #opening: Promise<StorageFileHandle> | undefined;
  #loading: Promise<FragmentIndex> | undefined;
  /** Commits verified whole that reads serve in pieces (by index): large ones, cut ones. */
  readonly #verified = new Set<number>();

  constructor(
    private readonly storage: JournalStorage,
    dir: string,
    readonly epoch: number,
    /** The full index, or undefined until a read needs it (then `expected` checks it). */
    public index: FragmentIndex | undefined,
    /** What the chain says of this fragment (from its successor's START). */
    readonly expected?: { begin: number; end: number; dataCrc: number },
    /** Its own START record, when read without the rest of the index. */
    private readonly startOnly?: StartRecord,
  ) {
    const legacy = epoch === LEGACY_EPOCH;
    this.indexPath = join(dir, legacy ? LEGACY_COMMITS_FILE : indexFile(epoch));
    this.dataPath = join(dir, legacy ? LEGACY_DATA_FILE : dataFile(epoch));
    this.dataBase = legacy ? 0 : (index?.begin ?? expected?.begin ?? 0);
  }

  /** The START record (undefined for the legacy fragment). */
  get start(): StartRecord | undefined {
    return this.index?.startRecord ?? this.startOnly;
  }

  get begin(): number {
    return this.index?.begin ?? this.expected?.begin ?? 0;
  }

  get end(): number {
    return this.expected?.end ?? this.index?.end ?? 0;
  }

  /** The parsed index (loading and checking it against the chain the first time). */
  async loaded(): Promise<FragmentIndex> {
    if (this.index !== undefined) return this.index;
    this.#loading ??= (async () => {
      const index =
        this.epoch === LEGACY_EPOCH
          ? await loadLegacyIndex(this.storage, this.indexPath)
          : await loadIndex(this.storage, this.indexPath, this.epoch);
      const expected = this.expected;
      // The next writer judged our unconfirmed last commit unfinished (its data did not match):
      // its START says where this fragment ends.
      if (expected !== undefined && index.end !== expected.end && index.unconfirmed !== undefined) {
        index.dropUnconfirmed();
      }
      if (
        expected !== undefined &&
        (index.begin !== expected.begin ||
          index.end !== expected.end ||
          index.dataCrc !== expected.dataCrc)
      ) {
        throw new JournalCorruptError(
          this.indexPath,
          0,
          `the fragment's commits cover [${index.begin}, ${index.end}) with checksum ` +
            `${index.dataCrc}, but the next fragment says it covers [${expected.begin}, ` +
            `${expected.end}) with checksum ${expected.dataCrc}`,
        );
      }
      this.index = index;
      return index;
    })();
    try {
      return await this.#loading;
    } finally {
      this.#loading = undefined;
    }
  }

  /**
   * Reads index records written since the last look (a follower of another process's open
   * fragment). Returns true when the index changed.
   */
  async refreshIndex(): Promise<boolean> {
    const index = await this.loaded();
    if (this.epoch === LEGACY_EPOCH || index.closed) return false;
    const handle = await this.indexReader();
    if (handle !== this.#indexHandle) {
      await handle.close().catch(() => undefined);
      return false;
    }
    const before = index.parsedThrough;
    await advanceIndex(this.storage, this.indexPath, index, handle);
    return index.parsedThrough !== before;
  }

  /** The index file opened for reading (a handle not kept when the fragment was closed). */
  private async indexReader(): Promise<StorageFileHandle> {
    if (this.#indexHandle !== undefined) return this.#indexHandle;
    const handle = await this.storage.open(this.indexPath, 'r');
    if (this.#closed) return handle;
    this.#indexHandle ??= handle;
    if (this.#indexHandle !== handle) await handle.close().catch(() => undefined);
    return this.#indexHandle;
  }

  private async data(): Promise<StorageFileHandle> {
    if (this.#data !== undefined) return this.#data;
    this.#opening ??= this.storage.open(this.dataPath, 'r');
    const opening = this.#opening;
    try {
      const handle = await opening;
      // Closed while opening: the handle serves this read only (readData closes it).
      if (!this.#closed) this.#data = handle;
      return handle;
    } finally {
      if (this.#opening === opening) this.#opening = undefined;
    }
  }

  /**
   * Verified committed bytes around `offset` (begin ≤ offset < end): a span [from, to) of whole
   * commits, each checked against its CRC, starting at the commit holding `offset` and reaching
   * about `maxBytes` past it. A commit larger than CACHED_COMMIT is verified in chunks once, and
   * the span is then just [offset, offset + maxBytes) of it, read again.
   */
  async readSpan(offset: number, maxBytes: number): Promise<VerifiedSpan> {
    const index = await this.loaded();
    const at = index.commitAt(offset);
    if (at === -1) {
      throw new JournalCorruptError(this.indexPath, 0, `no commit holds offset ${offset}`);
    }
    const size = (i: number): number =>
      (index.commitEnds[i] as number) - (index.commitBegins[i] as number);
    if (size(at) > CACHED_COMMIT) return this.readHuge(index, at, offset, maxBytes);
    const inline = (index.commitInline[at] as number) >= 0;
    let last = at;
    while (
      last + 1 < index.commitEnds.length &&
      size(last + 1) <= CACHED_COMMIT &&
      (index.commitInline[last + 1] as number) >= 0 === inline &&
      (index.commitEnds[last + 1] as number) - offset <= maxBytes
    ) {
      last += 1;
    }
    const from = index.commitBegins[at] as number;
    const to = index.commitEnds[last] as number;
    const range = inline
      ? (index.commitInline[last] as number) + size(last) - (index.commitInline[at] as number)
      : to - from;
    // Not zero-filled: every byte is read over (or the read fails).
    const buffer = Buffer.allocUnsafeSlow(range);
    if (inline) await this.gatherInline(index, at, last, buffer);
    else await this.readData(from, to - from, buffer);
    const bytes = buffer.subarray(0, to - from);
    let position = 0;
    for (let i = at; i <= last; i += 1) {
      const length = size(i);
      this.check(index, i, crc32cUpdate(0, bytes.subarray(position, position + length)));
      position += length;
    }
    return { from, to, bytes };
  }

  /**
   * Verified committed bytes from `offset` (begin ≤ offset < end), at most `maxBytes`, read into
   * the caller's buffer and returned as a view of it. Commits that fit in `into` are read whole
   * from their first byte and checked in place; a larger one (or one a read cut) is checked once
   * by streaming it, then served by reads of just the bytes asked for.
   */
  async readInto(offset: number, maxBytes: number, into: Uint8Array): Promise<Uint8Array> {
    const index = await this.loaded();
    const at = index.commitAt(offset);
    if (at === -1) {
      throw new JournalCorruptError(this.indexPath, 0, `no commit holds offset ${offset}`);
    }
    const capacity = into.byteLength;
    const limit = Math.max(1, Math.min(maxBytes, capacity));
    const begins = index.commitBegins;
    const ends = index.commitEnds;
    const size = (i: number): number => (ends[i] as number) - (begins[i] as number);
    const view = (from: number, length: number): Uint8Array =>
      new Uint8Array(into.buffer, into.byteOffset + from, length);
    if (!this.#verified.has(at) && size(at) <= capacity) {
      const inline = (index.commitInline[at] as number) >= 0;
      // Bytes of `into` that commits at..i take (inline: their records in between too).
      const footprint = (i: number): number =>
        inline
          ? (index.commitInline[i] as number) + size(i) - (index.commitInline[at] as number)
          : (ends[i] as number) - (begins[at] as number);
      let last = at;
      while (
        last + 1 < ends.length &&
        (index.commitInline[last + 1] as number) >= 0 === inline &&
        (ends[last + 1] as number) - offset <= limit &&
        footprint(last + 1) <= capacity
      ) {
        last += 1;
      }
      const from = begins[at] as number;
      if (inline) await this.gatherInline(index, at, last, into);
      else await this.readData(from, (ends[last] as number) - from, into);
      for (let i = at; i <= last; i += 1) {
        const start = (begins[i] as number) - from;
        this.check(index, i, crc32cUpdate(0, into.subarray(start, start + size(i))));
      }
      const end = Math.min(ends[last] as number, offset + limit);
      // Cut inside its last commit: the next read continues in it without checking it again.
      if (end < (ends[last] as number)) this.#verified.add(last);
      return view(offset - from, end - offset);
    }
    if (!this.#verified.has(at)) {
      const scratch = capacity >= MIN_SCRATCH ? into : Buffer.allocUnsafe(MIN_SCRATCH);
      await this.verifyStreaming(index, at, scratch);
    }
    const length = Math.min((ends[at] as number) - offset, limit);
    await this.readCommitPart(index, at, offset, length, into);
    return view(0, length);
  }

  /** A commit too large to hold in memory: verified once in chunks, then read per request. */
  private async readHuge(
    index: FragmentIndex,
    at: number,
    offset: number,
    maxBytes: number,
  ): Promise<VerifiedSpan> {
    const end = index.commitEnds[at] as number;
    if (!this.#verified.has(at)) {
      await this.verifyStreaming(index, at, Buffer.allocUnsafe(IO_CHUNK));
    }
    const length = Math.min(end - offset, Math.max(maxBytes, 1));
    const bytes = Buffer.allocUnsafeSlow(length);
    await this.readCommitPart(index, at, offset, length, bytes);
    return { from: offset, to: offset + length, bytes };
  }

  /** Checks commit `at` by streaming it through `scratch`; remembers that it was verified. */
  private async verifyStreaming(
    index: FragmentIndex,
    at: number,
    scratch: Uint8Array,
  ): Promise<void> {
    const begin = index.commitBegins[at] as number;
    const end = index.commitEnds[at] as number;
    const chunk = Math.min(scratch.byteLength, IO_CHUNK);
    let crc = 0;
    for (let p = begin; p < end; p += chunk) {
      const length = Math.min(chunk, end - p);
      await this.readCommitPart(index, at, p, length, scratch);
      crc = crc32cUpdate(crc, scratch.subarray(0, length));
    }
    this.check(index, at, crc);
    this.#verified.add(at);
  }

  private check(index: FragmentIndex, at: number, crc: number): void {
    if (crc === index.commitCrcs[at]) return;
    const begin = index.commitBegins[at] as number;
    const end = index.commitEnds[at] as number;
    const inlineAt = index.commitInline[at] as number;
    throw new JournalCorruptError(
      inlineAt >= 0 ? this.indexPath : this.dataPath,
      inlineAt >= 0 ? inlineAt : begin - this.dataBase,
      `committed bytes [${begin}, ${end}) of the journal do not match their checksum (the ` +
        'disk changed them after they were written and synced)',
    );
  }

  /** Journal bytes [offset, offset + length) of commit `at` into `target`, from either file. */
  private async readCommitPart(
    index: FragmentIndex,
    at: number,
    offset: number,
    length: number,
    target: Uint8Array,
  ): Promise<void> {
    const inlineAt = index.commitInline[at] as number;
    if (inlineAt < 0) return this.readData(offset, length, target);
    const position = inlineAt + offset - (index.commitBegins[at] as number);
    await this.fill(true, position, target, length, index.commitEnds[at] as number);
  }

  /**
   * The bytes of INLINE commits first..last, in journal order, into `target` (which must hold
   * their whole index-file range): one read of that range, then each commit's bytes moved down
   * over the records between them.
   */
  private async gatherInline(
    index: FragmentIndex,
    first: number,
    last: number,
    target: Uint8Array,
  ): Promise<void> {
    const from = index.commitInline[first] as number;
    const size = (i: number): number =>
      (index.commitEnds[i] as number) - (index.commitBegins[i] as number);
    const to = (index.commitInline[last] as number) + size(last);
    await this.fill(true, from, target, to - from, index.commitEnds[last] as number);
    let position = size(first);
    for (let i = first + 1; i <= last; i += 1) {
      const at = (index.commitInline[i] as number) - from;
      target.copyWithin(position, at, at + size(i));
      position += size(i);
    }
  }

  /** Journal bytes [offset, offset + length) of the data file into `target`. */
  private async readData(offset: number, length: number, target: Uint8Array): Promise<void> {
    await this.fill(false, offset - this.dataBase, target, length, offset + length);
  }

  /**
   * Reads `length` bytes at `position` of the index file (else the data file) into `target`; a
   * file that ends before them lost committed bytes (up to journal offset `committed`).
   */
  private async fill(
    inIndex: boolean,
    position: number,
    target: Uint8Array,
    length: number,
    committed: number,
  ): Promise<void> {
    const handle = inIndex ? await this.indexReader() : await this.data();
    let read: number;
    try {
      read = await readInto(handle, position, target, 0, length);
    } finally {
      // Closed while reading: the handle served this read only.
      if (handle !== (inIndex ? this.#indexHandle : this.#data)) {
        await handle.close().catch(() => undefined);
      }
    }
    if (read < length) {
      throw new JournalCorruptError(
        inIndex ? this.indexPath : this.dataPath,
        position + read,
        inIndex
          ? `the index file ends before the committed data of offset ${committed}`
          : `the data file ends before committed offset ${committed}`,
      );
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const handles = [this.#data, this.#indexHandle];
    this.#data = undefined;
    this.#indexHandle = undefined;
    await Promise.all(handles.map((handle) => handle?.close().catch(() => undefined)));
  }
}
