/**
 * The file journal's reader: the chain of fragments as this process last saw it, and reads of
 * verified spans from it. Reading needs no lock and never writes; every byte handed out lies in
 * a commit whose CRC was checked on the way (fragment-io.ts), and a fragment pruned by another
 * process while we read is looked up again rather than reported.
 */
import { RecoveryLogError } from '../errors.js';
import { JournalClosedError, JournalIOError, errorCode } from './errors.js';
import { discoverChain, type Chain } from './fragment-chain.js';
import { Fragment, type VerifiedSpan } from './fragment.js';
import { FragmentGoneError } from './fragment-io.js';
import type { FileJournalState } from './file-state.js';
import { readLength } from './head-waiters.js';
import type { ReadResult, Registers } from './journal.js';
import { describeFragment, type FragmentInfo } from './prune.js';
import { EMPTY_REGISTERS } from './registers.js';
import type { JournalStorage } from './storage.js';

export class ChainReader {
  chain: Chain = { fragments: [], low: 0, prunedBelow: -1, topClaimed: 0 };
  /**
   * The last verified span a read returned bytes from: a reader moving through a commit larger
   * than its `maxBytes` is served from it without reading and checking the commit again.
   */
  private lastSpan: VerifiedSpan | undefined;

  constructor(
    private readonly storage: JournalStorage,
    private readonly dir: string,
    private readonly name: string,
    private readonly state: FileJournalState,
  ) {}

  /** The first offset the journal still holds (0 unless pruned). */
  get low(): number {
    return this.chain.low;
  }

  top(): Fragment | undefined {
    return this.chain.fragments.at(-1);
  }

  /** The committed head as far as this process knows. */
  head(): number {
    return this.top()?.index?.end ?? this.chain.low;
  }

  registers(): Registers {
    return this.top()?.index?.registers ?? EMPTY_REGISTERS;
  }

  /**
   * Verified bytes at `offset` (below the head), or undefined when the fragment holding them was
   * pruned by another process meanwhile: the chain has then been reloaded, look again. Bytes
   * below the first retained fragment were pruned: the result jumps past them (see ReadResult).
   * With `into` (ReadOptions.into) the bytes are read into it and the result is a view of it.
   */
  async readAt(
    offset: number,
    maxBytes: number | undefined,
    into?: Uint8Array,
  ): Promise<ReadResult | undefined> {
    const at = Math.max(offset, this.chain.low);
    const fragment = this.fragmentAt(at);
    const limit = readLength(fragment.end - at, maxBytes);
    let bytes: Uint8Array;
    try {
      bytes =
        into !== undefined && into.byteLength > 0
          ? await fragment.readInto(at, limit, into)
          : await this.fromSpan(fragment, at, limit);
    } catch (error) {
      if (error instanceof RecoveryLogError) throw error;
      if (this.state.closed) throw new JournalClosedError(this.name);
      if (errorCode(error) === 'ENOENT' || error instanceof FragmentGoneError) {
        await this.reload();
        return undefined;
      }
      throw new JournalIOError(this.name, fragment.dataPath, 'read', error);
    }
    return { offset: at, bytes };
  }

  /** Bytes [at, at + limit) or fewer, from the last span when it holds `at` (see lastSpan). */
  private async fromSpan(fragment: Fragment, at: number, limit: number): Promise<Uint8Array> {
    let span = this.lastSpan;
    if (span === undefined || at < span.from || at >= span.to) {
      span = await fragment.readSpan(at, limit);
      this.lastSpan = span;
    }
    const start = at - span.from;
    const length = Math.min(limit, span.to - at);
    // A plain Uint8Array view (what callers expect), not a Buffer.
    return new Uint8Array(span.bytes.buffer, span.bytes.byteOffset + start, length);
  }

  /** The fragment holding `offset` (low ≤ offset < head). */
  private fragmentAt(offset: number): Fragment {
    const fragments = this.chain.fragments;
    let low = 0;
    let high = fragments.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if ((fragments[mid] as Fragment).begin <= offset) low = mid;
      else high = mid - 1;
    }
    return fragments[low] as Fragment;
  }

  /** Rediscovers the chain, reusing what is known (closed fragments never change). */
  async reload(): Promise<void> {
    const known = new Map(this.chain.fragments.map((fragment) => [fragment.epoch, fragment]));
    const chain = await discoverChain(this.storage, this.dir, known);
    const owned = this.state.owned;
    const top = chain.fragments.at(-1);
    // Our own open fragment: readers of this process share the writer's index.
    if (owned !== undefined && top?.epoch === owned.epoch) top.index = owned.index;
    const dropped = this.chain.fragments.filter((fragment) => !chain.fragments.includes(fragment));
    this.chain = chain;
    await Promise.all(dropped.map((fragment) => fragment.close()));
  }

  /** The fragments, oldest first (loads every index; for listings). */
  async describeAll(): Promise<FragmentInfo[]> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const infos: FragmentInfo[] = [];
        for (const fragment of this.chain.fragments) {
          infos.push(describeFragment(fragment, await fragment.loaded()));
        }
        return infos;
      } catch (error) {
        // Pruned by another process while we listed: list the chain as it is now (three times;
        // prunes racing every listing are then reported, typed, for the caller to retry).
        if (!(error instanceof FragmentGoneError)) throw error;
        if (attempt >= 2) throw new JournalIOError(this.name, error.path, 'list', error);
        await this.reload();
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.chain.fragments.map((fragment) => fragment.close()));
  }
}
