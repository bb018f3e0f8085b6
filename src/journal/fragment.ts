/**
 * Fragment: one fragment's files as the reader sees them (its place in the chain, its index
 * loaded on demand and checked against what the chain says, its data). Reads hand out only bytes
 * whose commit checksum was verified on the way. A commit's bytes lie in the data file, or (an
 * INLINE commit) after its record in the index file: a span is read from one of the two.
 */
import { join } from 'node:path';
import { crc32cUpdate } from '../crc32c.js';
import { JournalCorruptError } from './errors.js';
import type { FragmentIndex } from './fragment-index.js';
import { IO_CHUNK, advanceIndex, loadIndex, loadLegacyIndex, readFully } from './fragment-io.js';
import { LEGACY_COMMITS_FILE, LEGACY_DATA_FILE, dataFile, indexFile } from './fragment-layout.js';
import type { StartRecord } from './fragment-record.js';
import { LEGACY_EPOCH } from './legacy-fragment.js';
import type { JournalStorage, StorageFileHandle } from './storage.js';

/**
 * Commits up to this size are read and verified whole (and served from memory while a reader
 * moves through them); larger ones are verified in chunks once, then read per request.
 */
const CACHED_COMMIT = 16 * 1024 * 1024;

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
  /** Large commits already verified whole (by index). */
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
    const bytes = inline
      ? await this.readInline(index, at, last)
      : await this.readData(from, to - from);
    let position = 0;
    for (let i = at; i <= last; i += 1) {
      const length = size(i);
      this.check(index, i, crc32cUpdate(0, bytes.subarray(position, position + length)));
      position += length;
    }
    return { from, to, bytes };
  }

  /** A commit too large to hold in memory: verified once in chunks, then read per request. */
  private async readHuge(
    index: FragmentIndex,
    at: number,
    offset: number,
    maxBytes: number,
  ): Promise<VerifiedSpan> {
    const begin = index.commitBegins[at] as number;
    const end = index.commitEnds[at] as number;
    if (!this.#verified.has(at)) {
      let crc = 0;
      for (let p = begin; p < end; p += IO_CHUNK) {
        crc = crc32cUpdate(crc, await this.readData(p, Math.min(IO_CHUNK, end - p)));
      }
      this.check(index, at, crc);
      this.#verified.add(at);
    }
    const length = Math.min(end - offset, Math.max(maxBytes, 1));
    return { from: offset, to: offset + length, bytes: await this.readData(offset, length) };
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

  /**
   * The bytes of INLINE commits first..last, in journal order: one read of the index-file range
   * that holds them (their records between them are skipped).
   */
  private async readInline(index: FragmentIndex, first: number, last: number): Promise<Buffer> {
    const from = index.commitInline[first] as number;
    const size = (i: number): number =>
      (index.commitEnds[i] as number) - (index.commitBegins[i] as number);
    const to = (index.commitInline[last] as number) + size(last);
    const handle = await this.indexReader();
    let range: Buffer;
    try {
      range = await readFully(handle, from, to - from);
    } finally {
      if (handle !== this.#indexHandle) await handle.close().catch(() => undefined);
    }
    if (range.byteLength < to - from) {
      throw new JournalCorruptError(
        this.indexPath,
        from + range.byteLength,
        `the index file ends before the committed data of offset ${index.commitEnds[last]}`,
      );
    }
    if (first === last) return range;
    const parts: Buffer[] = [];
    for (let i = first; i <= last; i += 1) {
      const at = (index.commitInline[i] as number) - from;
      parts.push(range.subarray(at, at + size(i)));
    }
    return Buffer.concat(parts);
  }

  private async readData(offset: number, length: number): Promise<Buffer> {
    const handle = await this.data();
    let bytes: Buffer;
    try {
      bytes = await readFully(handle, offset - this.dataBase, length);
    } finally {
      if (handle !== this.#data) await handle.close().catch(() => undefined);
    }
    if (bytes.byteLength < length) {
      throw new JournalCorruptError(
        this.dataPath,
        offset - this.dataBase + bytes.byteLength,
        `the data file ends before committed offset ${offset + length}`,
      );
    }
    return bytes;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const handles = [this.#data, this.#indexHandle];
    this.#data = undefined;
    this.#indexHandle = undefined;
    await Promise.all(handles.map((handle) => handle?.close().catch(() => undefined)));
  }
}
