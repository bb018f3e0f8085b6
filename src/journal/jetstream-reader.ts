/**
 * Reading a JetStream journal by byte offset. Offsets are not native: each part carries its
 * commit's [begin, end) and its own offset, so a read finds its sequence by a search over
 * sequences (leader gets), or by the cursor the previous read left where it ended. Only bytes of
 * whole commits (final part present) are returned, so a multi-part append is seen whole or not
 * at all. A reader going on where its last read ended is fed in batches by an ordered consumer
 * (jetstream-read-ahead.ts), and one read returns the bytes of as many consecutive cached whole
 * commits as it may.
 */
import type { ReadResult } from './journal.js';
import { readLength } from './head-waiters.js';
import { JournalUnavailableError } from './jetstream-errors.js';
import { isFinal, type StoredPart, type Tip } from './jetstream-parts.js';
import { ReadAhead, type ReadAheadStats } from './jetstream-read-ahead.js';
import type { JournalStream } from './jetstream-stream.js';

/** A part holding the requested offset (or the first readable one after it), within a whole commit. */
export interface Located {
  readonly part: StoredPart;
  /** Sequence of the commit's first part. */
  readonly commitFirstSeq: number;
}

/** Cursors kept (one per recent read end); the oldest is forgotten past this many. */
const MAX_CURSORS = 4096;

/** `pieces` (of `length` bytes in all) as one array the caller owns. */
function joinPieces(pieces: readonly Uint8Array[], length: number): Uint8Array {
  if (pieces.length === 1) return (pieces[0] as Uint8Array).slice();
  const out = new Uint8Array(length);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.byteLength;
  }
  return out;
}

export class JournalReader {
  private readonly readAhead: ReadAhead;
  /** Offset → the sequence of the part holding it, left by the read that ended there. */
  private readonly cursor = new Map<number, number>();

  constructor(private readonly stream: JournalStream) {
    this.readAhead = new ReadAhead(stream.session, stream.location, (part) =>
      stream.remember(part),
    );
  }

  get stats(): Readonly<ReadAheadStats> {
    return this.readAhead.stats;
  }

  /** Forgets positions after a purge below `seq`. */
  purgedBelow(seq: number): void {
    this.stream.cache.dropBelow(seq);
    this.cursor.clear();
    this.readAhead.stop();
  }

  close(): void {
    this.readAhead.close();
  }

  /** One read attempt: bytes at `offset`, or undefined when `offset` is at or past the head. */
  async readOnce(offset: number, maxBytes: number | undefined): Promise<ReadResult | undefined> {
    let tip = this.stream.tip;
    if (offset >= tip.head) {
      tip = await this.stream.refreshTip();
      if (offset >= tip.head) return undefined;
    }
    const located = await this.locate(offset, tip);
    if (located === undefined) return undefined;
    const { part } = located;
    const from = Math.max(offset, part.meta.offset);
    const start = from - part.meta.offset;
    const available = part.data.byteLength - start;
    if (available <= 0) return undefined;
    const limit = readLength(Number.MAX_SAFE_INTEGER, maxBytes);
    const pieces = [part.data.subarray(start, start + Math.min(available, limit))];
    let end = from + (pieces[0] as Uint8Array).byteLength;
    let seq = part.seq;
    let whole = start + (pieces[0] as Uint8Array).byteLength === part.data.byteLength;
    // Go on through the parts already cached: each must continue at the offset reached and
    // belong to a whole commit (an orphan stops it: the next read finds what follows it).
    while (whole && end - from < limit) {
      const next = this.stream.cache.get(seq + 1);
      if (next === undefined || next.meta.offset !== end || !this.stream.wholeInCache(next)) break;
      seq += 1;
      const take = Math.min(next.data.byteLength, limit - (end - from));
      if (take > 0) pieces.push(next.data.subarray(0, take));
      end += take;
      whole = take === next.data.byteLength;
    }
    // Where the next read begins: the next part, or this one when the read stopped inside it.
    this.cursor.set(end, whole ? seq + 1 : seq);
    if (this.cursor.size > MAX_CURSORS) {
      this.cursor.delete(this.cursor.keys().next().value as number);
    }
    this.readAhead.moved(seq + 1, this.stream.tip.seq);
    return { offset: from, bytes: joinPieces(pieces, end - from) };
  }

  /** The part at `seq` (cache, a feed bringing it, else the stream leader); undefined when purged. */
  async getPart(seq: number): Promise<StoredPart | undefined> {
    const cached = this.stream.cache.get(seq);
    if (cached !== undefined) return cached;
    const arriving = this.readAhead.arrival(seq);
    if (arriving !== undefined) {
      await arriving;
      const fed = this.stream.cache.get(seq);
      if (fed !== undefined) return fed;
    }
    return this.stream.leaderGet(seq);
  }

  /** The part of a whole commit holding `offset` (< tip.head), or the first readable one after it. */
  async locate(offset: number, tip: Tip): Promise<Located | undefined> {
    const continued = await this.atCursor(offset, tip);
    if (continued !== undefined) return continued;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const found = await this.search(offset, tip);
      if (found !== 'purged') return found;
      await this.stream.refreshFirstSeq();
    }
    throw new JournalUnavailableError(
      this.stream.name,
      `read offset ${offset}`,
      0,
      new Error('messages kept being purged under the read'),
    );
  }

  /** A reader going on where its last read ended: the part there, fed in batches from there on. */
  private async atCursor(offset: number, tip: Tip): Promise<Located | undefined> {
    const hinted = this.cursor.get(offset);
    if (hinted === undefined || hinted > tip.seq) return undefined;
    if (!this.stream.cache.has(hinted)) this.readAhead.want(hinted, tip.seq);
    const part = await this.getPart(hinted);
    if (
      part === undefined ||
      part.meta.offset > offset ||
      offset >= part.meta.offset + part.data.byteLength
    ) {
      return undefined;
    }
    const commitFirstSeq = await this.wholeCommit(part);
    return commitFirstSeq === undefined ? undefined : { part, commitFirstSeq };
  }

  /**
   * The commit `part` belongs to, if whole: its first sequence. Undefined when the commit is an
   * orphan (its final part never landed) or still being written.
   */
  private async wholeCommit(part: StoredPart): Promise<number | undefined> {
    const { meta } = part;
    const firstSeq = part.seq - meta.index;
    if (this.stream.knownWhole(meta.commit)) return firstSeq;
    const finalSeq = part.seq + (meta.count - 1 - meta.index);
    if (finalSeq > this.stream.tip.seq) await this.stream.refreshTip();
    if (finalSeq > this.stream.tip.seq) return undefined;
    const final = await this.getPart(finalSeq);
    if (final === undefined || final.meta.commit !== meta.commit || !isFinal(final.meta)) {
      return undefined;
    }
    return firstSeq;
  }

  /**
   * The final sequence of `part`'s commit if that commit is whole and holds `offset`: a search
   * can stop there, as later messages begin at or after its end (Rl-Begin never decreases).
   */
  private async finalHolding(part: StoredPart, offset: number): Promise<number | undefined> {
    if (part.meta.begin > offset || offset >= part.meta.end) return undefined;
    const commitFirstSeq = await this.wholeCommit(part);
    return commitFirstSeq === undefined ? undefined : commitFirstSeq + part.meta.count - 1;
  }

  /** Binary search for the last sequence whose commit begins at or before `offset`. */
  private async search(offset: number, tip: Tip): Promise<Located | undefined | 'purged'> {
    let lo = this.stream.firstSeq;
    let hi = tip.seq;
    if (lo > hi) return undefined;
    const first = await this.getPart(lo);
    if (first === undefined) return 'purged';
    if (first.meta.begin > offset) return this.firstReadableFrom(lo, tip);
    // Every get brings a whole message (up to 1 MiB): probe where the offset should be, as
    // offsets grow about linearly with sequences, alternating with halving (a skewed log still
    // takes O(log n) gets).
    let loBegin = first.meta.begin;
    let hiEnd = tip.head;
    let guess = true;
    const firstFinal = await this.finalHolding(first, offset);
    if (firstFinal !== undefined) lo = hi = Math.min(hi, firstFinal);
    while (lo < hi) {
      let mid = Math.ceil((lo + hi) / 2);
      if (guess && hiEnd > loBegin) {
        const at = lo + Math.floor(((offset - loBegin) / (hiEnd - loBegin)) * (hi - lo + 1));
        mid = Math.min(hi, Math.max(lo + 1, at));
      }
      guess = !guess;
      const part = await this.getPart(mid);
      if (part === undefined) return 'purged';
      if (part.meta.begin <= offset) {
        lo = mid;
        loBegin = part.meta.begin;
        const finalSeq = await this.finalHolding(part, offset);
        if (finalSeq !== undefined) lo = hi = Math.min(hi, finalSeq);
      } else {
        hi = mid - 1;
        hiEnd = part.meta.begin;
      }
    }
    return this.withinCommitAt(lo, offset, tip);
  }

  /**
   * The part holding `offset` in the commit of the part at `seq` (the search's last sequence
   * beginning at or before it), when that commit is whole and readable.
   */
  private async withinCommitAt(
    seq: number,
    offset: number,
    tip: Tip,
  ): Promise<Located | undefined | 'purged'> {
    const last = await this.getPart(seq);
    if (last === undefined) return 'purged';
    const { meta } = last;
    if (offset >= meta.end) return undefined; // at or past the head
    const commitFirstSeq = await this.wholeCommit(last);
    if (commitFirstSeq === undefined) return undefined; // an orphan or an unfinished commit
    if (commitFirstSeq < this.stream.firstSeq) {
      // The commit's first parts are purged: continue after it.
      return this.firstReadableFrom(commitFirstSeq + meta.count, tip);
    }
    if (meta.count === 1) return { part: last, commitFirstSeq };
    const final =
      meta.index === meta.count - 1 ? last : await this.getPart(commitFirstSeq + meta.count - 1);
    if (final === undefined) return 'purged';
    // Parts before the final one are all the same size: the index follows from the offset.
    const partSize = (final.meta.offset - meta.begin) / (meta.count - 1);
    const index = Math.min(meta.count - 1, Math.floor((offset - meta.begin) / partSize));
    const found = await this.getPart(commitFirstSeq + index);
    if (found === undefined) return 'purged';
    return { part: found, commitFirstSeq };
  }

  /** The first part at or after `seq` that begins a whole commit with bytes (an offset jump). */
  private async firstReadableFrom(seq: number, tip: Tip): Promise<Located | undefined | 'purged'> {
    for (let at = seq; at <= tip.seq;) {
      const part = await this.getPart(at);
      if (part === undefined) return 'purged';
      const commitFirstSeq = await this.wholeCommit(part);
      if (
        commitFirstSeq !== undefined &&
        commitFirstSeq >= this.stream.firstSeq &&
        part.meta.index === 0 &&
        part.meta.end > part.meta.begin
      ) {
        return { part, commitFirstSeq };
      }
      at = commitFirstSeq === undefined ? at + 1 : commitFirstSeq + part.meta.count;
    }
    return undefined;
  }
}
