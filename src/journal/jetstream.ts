/**
 * JetStreamJournal: the Journal contract on NATS JetStream, for journals that must outlive a
 * machine. One stream per journal (file storage, R3 by default), one subject in it.
 *
 * - Appends: the group commit of the other journals (call order, one commit per batch). A batch
 *   becomes one *commit* of 1..n messages (jetstream-parts.ts): more than one only when it
 *   exceeds the server's max_payload. Every part is published with
 *   `Nats-Expected-Last-Subject-Sequence` = the sequence the writer believes is last, so a writer
 *   whose view is stale is refused (error 10071) and nothing of it lands after another writer's
 *   message; it then re-reads the tip and re-plans (registers re-checked), up to `maxAttempts`.
 * - Registers ride in the headers of the commit that changes them (every final part carries the
 *   registers after it), so check and union are atomic with the append: the check is evaluated
 *   against the registers at sequence S, and the append lands only if S is still the last.
 * - Offsets are not native: each part carries its commit's [begin, end) and its own offset; a read
 *   finds its sequence by binary search (leader gets) or by a cursor left by the previous read.
 *   Readers only return bytes of commits whose final part exists, so a multi-part append is seen
 *   whole or not at all. A reader that goes on where its last read ended is fed in batches by an
 *   ordered consumer (jetstream-read-ahead.ts), and one read returns the bytes of as many
 *   consecutive cached whole commits as it may.
 * - Ambiguous publishes (timeout, leader lost mid-request) are retried with the same Nats-Msg-Id
 *   and expectation until the deadline; a 10071 after an ambiguous attempt is resolved by
 *   reading sequence expect+1 and comparing its Nats-Msg-Id (at most one message can ever land
 *   with a given expectation, so this is exact). Elections (503 / JetStreamNotEnabled / no
 *   responders) are retried the same way.
 * - Durability is the server's: an ack means stored on a quorum; with `jetstream { sync_interval:
 *   always }` in every server's config it also means fsynced there (see README).
 */
import type { ConsumerMessages, StoredMsg, StreamInfo } from '@nats-io/jetstream';
import type {
  AppendOptions,
  AppendResult,
  Journal,
  ReadOptions,
  ReadResult,
  Registers,
} from './journal.js';
import {
  InvalidJournalNameError,
  JournalClosedError,
  JournalReadOnlyError,
  JournalContendedError,
  JournalCorruptError,
  JournalNotFoundError,
  JournalWriteError,
  OffsetNotYetAvailableError,
  RegisterMismatchError,
} from './errors.js';
import { journalNameProblem } from '../journal-name.js';
import {
  AppendQueue,
  planBatch,
  type CommitHooks,
  type JournalStats,
  type PlannedBatch,
  type QueuedAppend,
} from './group-commit.js';
import { HeadWaiters, checkReadOffset, readLength } from './head-waiters.js';
import { encodeRegisters } from './registers.js';
import { lowestNeededOffset } from './prune-plan.js';
import type { FSMHints } from '../wire/types.js';
import { openNatsSession, type NatsConnectOptions, type NatsSession } from './jetstream-client.js';
import {
  JOURNAL_NAME_METADATA,
  jetStreamLocation,
  type JetStreamLocation,
} from './jetstream-names.js';
import {
  EMPTY_TIP,
  isFinal,
  partHeaders,
  splitParts,
  tipOf,
  type PartMeta,
  type StoredPart,
  type Tip,
} from './jetstream-parts.js';
import {
  JournalUnavailableError,
  backoffMs,
  describe,
  isStreamNotFound,
  isTransient,
  isWrongLastSequence,
  sleep,
} from './jetstream-errors.js';
import {
  PartCache,
  ReadAhead,
  partOfMessage,
  type ReadAheadStats,
} from './jetstream-read-ahead.js';

export interface JetStreamJournalOptions extends NatsConnectOptions {
  /** Stream name (default derived from the journal name, see jetstream-names.ts). */
  stream?: string;
  /** Subject (default derived from the journal name). */
  subject?: string;
  /** Create the stream when it does not exist (default true). */
  create?: boolean;
  /** Replicas of a stream this call creates (default 3; use 1 for a single server). */
  replicas?: number;
  /** Upper bound on one message's payload (default: the server's max_payload less headers). */
  maxPartBytes?: number;
  /** How long transient failures (elections, lost connections) are retried, ms (default 60 s). */
  retryDeadlineMs?: number;
  /** Attempts of one batch when other writers keep appending first (default 100). */
  maxAttempts?: number;
  /** Test hooks around each commit (see CommitHooks); a hook that throws fails the journal. */
  hooks?: CommitHooks;
  /**
   * Read-only (implies `create: false`): appends with data or register unions and a pruning that
   * is not a dry run are refused with JournalReadOnlyError. Barriers and register checks write
   * nothing, so they are answered (at the leader's head).
   */
  readOnly?: boolean;
}

/** What `prune` removed. */
export interface JetStreamPruneResult {
  /** The lowest offset any of the hints needs. */
  readonly needed: number;
  /** First stream sequence kept (messages below it are purged, or would be in a dry run). */
  readonly keptFromSeq: number;
  /** Messages purged (in a dry run: that would be). */
  readonly purged: number;
  /** First journal offset still held afterwards. */
  readonly firstOffset: number;
  readonly dryRun: boolean;
}

const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
/** Room left in a message for our headers and the client's (ids, expectations). */
const HEADER_ROOM = 2048;
/** Twice the read-ahead window: parts fetched ahead are not evicted before they are read. */
const CACHE_BYTES = 32 * 1024 * 1024;
/** Ids of commits known whole, kept for the cache's fast path; forgotten past this many. */
const MAX_COMPLETE_IDS = 65_536;
const TAIL_LINGER_MS = 2000;
const TAIL_POLL_MS = 1000;

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

/** Whether an append's data holds any byte (a barrier holds none). */
function hasBytes(data: Uint8Array | readonly Uint8Array[]): boolean {
  return data instanceof Uint8Array
    ? data.byteLength > 0
    : data.some((chunk) => chunk.byteLength > 0);
}

/** A part holding the requested offset (or the first readable one after it), within a whole commit. */
interface Located {
  readonly part: StoredPart;
  /** Sequence of the commit's first part. */
  readonly commitFirstSeq: number;
}

export class JetStreamJournal implements Journal {
  readonly name: string;
  readonly location: JetStreamLocation;
  private readonly session: NatsSession;
  private readonly options: JetStreamJournalOptions;
  private readonly queue: AppendQueue;
  private readonly waiters: HeadWaiters;
  private readonly cache = new PartCache(CACHE_BYTES);
  private readonly readAhead: ReadAhead;
  /** Parts fetched one by one from the stream leader (searches, and when no feed brings them). */
  private leaderGets = 0;
  /** Offset → the sequence of the part holding it, left by the read that ended there. */
  private readonly cursor = new Map<number, number>();
  /** Commit ids whose final part was seen. */
  private readonly complete = new Set<string>();
  private readonly writerId: string;
  private readonly deadlineMs: number;
  private tip: Tip = EMPTY_TIP;
  private firstSeq = 1;
  private refreshing: Promise<Tip> | undefined;
  private commitCounter = 0;
  private closed = false;
  private tailRunning = false;
  private tailMessages: ConsumerMessages | undefined;
  private tailPoll: NodeJS.Timeout | undefined;
  private tailLinger: NodeJS.Timeout | undefined;

  private constructor(
    name: string,
    location: JetStreamLocation,
    session: NatsSession,
    options: JetStreamJournalOptions,
  ) {
    this.name = name;
    this.location = location;
    this.session = session;
    this.options = options;
    this.deadlineMs = options.retryDeadlineMs ?? 60_000;
    this.writerId = session.modules.transport.nuid.next();
    this.queue = new AppendQueue(name, (batch) => this.commit(batch));
    this.readAhead = new ReadAhead(session, location, (part) => this.remember(part));
    this.waiters = new HeadWaiters(name, {
      onFirstWaiter: () => this.startTail(),
      onNoWaiters: () => this.lingerTail(),
    });
  }

  /**
   * Opens journal `name` on JetStream, creating its stream unless `create: false`. Give either
   * `servers` (a connection is opened and closed with the journal) or `connection`.
   */
  static async open(name: string, options: JetStreamJournalOptions): Promise<JetStreamJournal> {
    const problem = journalNameProblem(name);
    if (problem !== undefined) throw new InvalidJournalNameError(name, problem);
    const derived = jetStreamLocation(name);
    const location = {
      stream: options.stream ?? derived.stream,
      subject: options.subject ?? derived.subject,
    };
    const session = await openNatsSession(options);
    const journal = new JetStreamJournal(name, location, session, options);
    try {
      await journal.ensureStream();
      await journal.refreshTip();
    } catch (error) {
      await session.close().catch(() => undefined);
      throw error;
    }
    return journal;
  }

  /** Counters: `syncs` counts commits (one per batch that wrote). */
  get stats(): Readonly<JournalStats> {
    return { ...this.queue.stats };
  }

  /** How reads were served: parts fetched one by one from the leader, and by batched feeds. */
  get readStats(): Readonly<ReadAheadStats & { leaderGets: number }> {
    return { ...this.readAhead.stats, leaderGets: this.leaderGets };
  }

  append(data: Uint8Array | readonly Uint8Array[], options?: AppendOptions): Promise<AppendResult> {
    if (
      this.options.readOnly === true &&
      (hasBytes(data) || options?.unionRegisters !== undefined)
    ) {
      return Promise.reject(new JournalReadOnlyError(this.name, this.describeLocation()));
    }
    return this.queue.append(data, options);
  }

  async read(offset: number, options: ReadOptions): Promise<ReadResult> {
    checkReadOffset(this.name, offset);
    for (;;) {
      this.assertOpen();
      let result: ReadResult | undefined;
      try {
        result = await this.readOnce(offset, options.maxBytes);
      } catch (error) {
        // close() ends the connection under a read in flight: report that, not the socket error.
        if (this.closed) throw new JournalClosedError(this.name);
        throw error;
      }
      if (result !== undefined) return result;
      this.assertOpen();
      if (!options.blocking) {
        throw new OffsetNotYetAvailableError(this.name, offset, this.tip.head);
      }
      const waiting = this.waiters.wait(offset, options.signal);
      // A commit observed while this read was finding out it had to wait.
      if (this.tip.head > offset) this.waiters.notify(this.tip.head);
      await waiting;
    }
  }

  async head(): Promise<number> {
    this.assertOpen();
    return (await this.refreshTip()).head;
  }

  async registers(): Promise<Registers> {
    this.assertOpen();
    return (await this.refreshTip()).registers;
  }

  /**
   * Purges the messages below the commit holding the lowest offset any of `hintsList` needs
   * (the primary and every backup hints of the log). The last message is always kept: the head
   * and registers are read from it.
   */
  async prune(
    hintsList: readonly FSMHints[],
    options: { dryRun?: boolean } = {},
  ): Promise<JetStreamPruneResult> {
    this.assertOpen();
    if (this.options.readOnly === true && options.dryRun !== true) {
      throw new JournalReadOnlyError(this.name, this.describeLocation());
    }
    const needed = lowestNeededOffset(this.name, hintsList);
    const tip = await this.refreshTip();
    let keepFrom = tip.seq;
    if (needed < tip.head) {
      const located = await this.locate(needed, tip);
      if (located !== undefined) keepFrom = Math.min(keepFrom, located.commitFirstSeq);
    } else if (tip.seq > 0) {
      const last = await this.getPart(tip.seq);
      if (last !== undefined && isFinal(last.meta)) keepFrom = tip.seq - (last.meta.count - 1);
    }
    const first = await this.refreshFirstSeq();
    let purged = 0;
    const dryRun = options.dryRun === true;
    if (keepFrom > first) {
      if (dryRun) {
        purged = keepFrom - first;
      } else {
        const response = await this.retry('prune', () =>
          this.session.jsm.streams.purge(this.location.stream, { seq: keepFrom }),
        );
        purged = response.purged;
        this.firstSeq = keepFrom;
        this.cache.dropBelow(keepFrom);
        this.cursor.clear();
        this.readAhead.stop();
      }
    }
    const kept = keepFrom > first ? keepFrom : first;
    const firstPart = tip.seq === 0 ? undefined : await this.getPart(kept).catch(() => undefined);
    return {
      needed,
      keptFromSeq: kept,
      purged,
      firstOffset: firstPart?.meta.offset ?? tip.head,
      dryRun,
    };
  }

  /** Pending reads reject; queued appends still complete; later calls throw JournalClosedError. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.waiters.rejectAll(new JournalClosedError(this.name));
    await this.queue.close();
    this.stopTail();
    this.readAhead.close();
    await this.session.close();
  }

  // ---- stream and tip -------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new JournalClosedError(this.name);
  }

  /** Where the journal lives, for messages. */
  private describeLocation(): string {
    return `NATS JetStream stream ${this.location.stream}`;
  }

  private async ensureStream(): Promise<void> {
    const { stream, subject } = this.location;
    const where = `NATS JetStream stream ${stream}`;
    let info: StreamInfo;
    try {
      info = await this.retry('open the stream', () => this.session.jsm.streams.info(stream));
    } catch (error) {
      if (!isStreamNotFound(error)) throw error;
      if (this.options.create === false || this.options.readOnly === true) {
        throw new JournalNotFoundError(where, 'the stream does not exist', error);
      }
      const { StorageType, RetentionPolicy, DiscardPolicy } = this.session.modules.jetstream;
      info = await this.retry('create the stream', () =>
        this.session.jsm.streams.add({
          name: stream,
          subjects: [subject],
          description: `recoverylog journal ${this.name}`,
          storage: StorageType.File,
          num_replicas: this.options.replicas ?? 3,
          retention: RetentionPolicy.Limits,
          discard: DiscardPolicy.Old,
          max_msgs: -1,
          max_bytes: -1,
          max_age: 0,
          max_msg_size: -1,
          duplicate_window: 120_000_000_000,
          deny_delete: true,
          deny_purge: false,
          allow_direct: false,
          metadata: { [JOURNAL_NAME_METADATA]: this.name },
        }),
      );
    }
    const holds = info.config.metadata?.[JOURNAL_NAME_METADATA];
    if (holds !== this.name) {
      throw new JournalNotFoundError(
        where,
        holds === undefined
          ? 'the stream exists but was not made by recoverylog (no journal name in its metadata)'
          : `the stream holds journal ${JSON.stringify(holds)}, not ${JSON.stringify(this.name)}`,
      );
    }
    if (!info.config.subjects?.includes(subject)) {
      throw new JournalNotFoundError(where, `the stream does not capture subject ${subject}`);
    }
    this.firstSeq = Math.max(1, info.state.first_seq);
  }

  /**
   * Re-reads the last message from the stream leader. Each caller sends its own request (one
   * already in flight may predate an append acknowledged since, which a barrier must see); only
   * the tail's background poll shares one.
   */
  private async refreshTip(shared = false): Promise<Tip> {
    if (shared) {
      this.refreshing ??= this.refreshTip().finally(() => {
        this.refreshing = undefined;
      });
      return this.refreshing;
    }
    const message = await this.retry('read the head', () =>
      this.session.jsm.streams.getMessage(this.location.stream, {
        last_by_subj: this.location.subject,
      }),
    );
    if (message !== null) {
      const part = this.decode(message);
      this.cache.put(part);
      this.advanceTip(tipOf(part));
    }
    return this.tip;
  }

  private async refreshFirstSeq(): Promise<number> {
    const info = await this.retry('read the stream state', () =>
      this.session.jsm.streams.info(this.location.stream),
    );
    this.firstSeq = Math.max(1, info.state.first_seq);
    return this.firstSeq;
  }

  /** Moves the known tip forward (never back) and wakes readers the new head lets through. */
  private advanceTip(tip: Tip): void {
    if (tip.seq < this.tip.seq) return;
    this.tip = tip;
    this.waiters.notify(tip.head);
  }

  // ---- reading --------------------------------------------------------------------------

  private decode(message: StoredMsg): StoredPart {
    const part = partOfMessage(message.seq, message.header, message.data);
    if (typeof part === 'string') {
      throw new JournalCorruptError(
        `NATS JetStream stream ${this.location.stream} sequence ${message.seq}`,
        0,
        `not a recoverylog journal message: ${part}`,
      );
    }
    this.remember(part);
    return part;
  }

  /** Caches a part read or written, noting its commit whole when it is the final part. */
  private remember(part: StoredPart): void {
    if (isFinal(part.meta)) {
      if (this.complete.size >= MAX_COMPLETE_IDS) this.complete.clear();
      this.complete.add(part.meta.commit);
    }
    this.cache.put(part);
  }

  /** The part at `seq` (cache, a feed bringing it, else the stream leader); undefined when purged. */
  private async getPart(seq: number): Promise<StoredPart | undefined> {
    const cached = this.cache.get(seq);
    if (cached !== undefined) return cached;
    const arriving = this.readAhead.arrival(seq);
    if (arriving !== undefined) {
      await arriving;
      const fed = this.cache.get(seq);
      if (fed !== undefined) return fed;
    }
    this.leaderGets += 1;
    const message = await this.retry('read', () =>
      this.session.jsm.streams.getMessage(this.location.stream, { seq }),
    );
    if (message === null) return undefined;
    return this.decode(message);
  }

  /** Whether `part`'s commit is known whole from what is cached (no request). */
  private wholeInCache(part: StoredPart): boolean {
    const { meta } = part;
    if (this.complete.has(meta.commit)) return true;
    const final = this.cache.get(part.seq + (meta.count - 1 - meta.index));
    return final !== undefined && final.meta.commit === meta.commit && isFinal(final.meta);
  }

  /**
   * The commit `part` belongs to, if whole: its first sequence. Undefined when the commit is an
   * orphan (its final part never landed) or still being written.
   */
  private async wholeCommit(part: StoredPart): Promise<number | undefined> {
    const { meta } = part;
    const firstSeq = part.seq - meta.index;
    if (this.complete.has(meta.commit)) return firstSeq;
    const finalSeq = part.seq + (meta.count - 1 - meta.index);
    if (finalSeq > this.tip.seq) await this.refreshTip();
    if (finalSeq > this.tip.seq) return undefined;
    const final = await this.getPart(finalSeq);
    if (final === undefined || final.meta.commit !== meta.commit || !isFinal(final.meta)) {
      return undefined;
    }
    return firstSeq;
  }

  /** The part of a whole commit holding `offset` (< tip.head), or the first readable one after it. */
  private async locate(offset: number, tip: Tip): Promise<Located | undefined> {
    const hinted = this.cursor.get(offset);
    if (hinted !== undefined && hinted <= tip.seq) {
      // A reader going on where its last read ended: feed it in batches from here.
      if (!this.cache.has(hinted)) this.readAhead.want(hinted, tip.seq);
      const part = await this.getPart(hinted);
      const { offset: partOffset } = part?.meta ?? { offset: -1 };
      if (
        part !== undefined &&
        partOffset <= offset &&
        offset < partOffset + part.data.byteLength
      ) {
        const commitFirstSeq = await this.wholeCommit(part);
        if (commitFirstSeq !== undefined) return { part, commitFirstSeq };
      }
    }
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const found = await this.search(offset, tip);
      if (found !== 'purged') return found;
      await this.refreshFirstSeq();
    }
    throw new JournalUnavailableError(
      this.name,
      `read offset ${offset}`,
      0,
      new Error('messages kept being purged under the read'),
    );
  }

  /** Binary search for the last sequence whose commit begins at or before `offset`. */
  private async search(offset: number, tip: Tip): Promise<Located | undefined | 'purged'> {
    let lo = this.firstSeq;
    let hi = tip.seq;
    if (lo > hi) return undefined;
    const first = await this.getPart(lo);
    if (first === undefined) return 'purged';
    if (first.meta.begin > offset) return this.firstReadableFrom(lo, tip);
    // Every get brings a whole message (up to 1 MiB): probe where the offset should be, as
    // offsets grow about linearly with sequences, alternating with halving (a skewed log still
    // takes O(log n) gets). A whole commit holding the offset ends the search at its final part:
    // later messages begin at or after its end (Rl-Begin never decreases).
    let loBegin = first.meta.begin;
    let hiEnd = tip.head;
    let guess = true;
    const holding = async (part: StoredPart): Promise<number | undefined> => {
      if (part.meta.begin > offset || offset >= part.meta.end) return undefined;
      const commitFirstSeq = await this.wholeCommit(part);
      return commitFirstSeq === undefined ? undefined : commitFirstSeq + part.meta.count - 1;
    };
    const firstFinal = await holding(first);
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
        const finalSeq = await holding(part);
        if (finalSeq !== undefined) lo = hi = Math.min(hi, finalSeq);
      } else {
        hi = mid - 1;
        hiEnd = part.meta.begin;
      }
    }
    const last = await this.getPart(lo);
    if (last === undefined) return 'purged';
    const { meta } = last;
    if (offset >= meta.end) return undefined; // at or past the head
    const commitFirstSeq = await this.wholeCommit(last);
    if (commitFirstSeq === undefined) return undefined; // an orphan or an unfinished commit
    if (commitFirstSeq < this.firstSeq) {
      // The commit's first parts are purged: continue after it.
      return this.firstReadableFrom(commitFirstSeq + meta.count, tip);
    }
    let part = last;
    if (meta.count > 1) {
      const final =
        last.meta.index === meta.count - 1
          ? last
          : await this.getPart(commitFirstSeq + meta.count - 1);
      if (final === undefined) return 'purged';
      const partSize = (final.meta.offset - meta.begin) / (meta.count - 1);
      const index = Math.min(meta.count - 1, Math.floor((offset - meta.begin) / partSize));
      const found = await this.getPart(commitFirstSeq + index);
      if (found === undefined) return 'purged';
      part = found;
    }
    return { part, commitFirstSeq };
  }

  /** The first part at or after `seq` that begins a whole commit with bytes (an offset jump). */
  private async firstReadableFrom(seq: number, tip: Tip): Promise<Located | undefined | 'purged'> {
    for (let at = seq; at <= tip.seq;) {
      const part = await this.getPart(at);
      if (part === undefined) return 'purged';
      const commitFirstSeq = await this.wholeCommit(part);
      if (
        commitFirstSeq !== undefined &&
        commitFirstSeq >= this.firstSeq &&
        part.meta.index === 0 &&
        part.meta.end > part.meta.begin
      ) {
        return { part, commitFirstSeq };
      }
      at = commitFirstSeq === undefined ? at + 1 : commitFirstSeq + part.meta.count;
    }
    return undefined;
  }

  /** One read attempt: bytes at `offset`, or undefined when `offset` is at or past the head. */
  private async readOnce(
    offset: number,
    maxBytes: number | undefined,
  ): Promise<ReadResult | undefined> {
    let tip = this.tip;
    if (offset >= tip.head) {
      tip = await this.refreshTip();
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
      const next = this.cache.get(seq + 1);
      if (next === undefined || next.meta.offset !== end || !this.wholeInCache(next)) break;
      seq += 1;
      const take = Math.min(next.data.byteLength, limit - (end - from));
      if (take > 0) pieces.push(next.data.subarray(0, take));
      end += take;
      whole = take === next.data.byteLength;
    }
    // Where the next read begins: the next part, or this one when the read stopped inside it.
    this.cursor.set(end, whole ? seq + 1 : seq);
    if (this.cursor.size > 4096) this.cursor.delete(this.cursor.keys().next().value as number);
    this.readAhead.moved(seq + 1, this.tip.seq);
    return { offset: from, bytes: joinPieces(pieces, end - from) };
  }

  // ---- tailing --------------------------------------------------------------------------

  private startTail(): void {
    if (this.tailLinger !== undefined) {
      clearTimeout(this.tailLinger);
      this.tailLinger = undefined;
    }
    if (this.tailRunning || this.closed) return;
    this.tailRunning = true;
    this.tailPoll = setInterval(() => {
      this.refreshTip(true).catch(() => undefined);
    }, TAIL_POLL_MS);
    void this.tailLoop();
  }

  private lingerTail(): void {
    if (this.tailLinger !== undefined) return;
    this.tailLinger = setTimeout(() => {
      this.tailLinger = undefined;
      if (this.waiters.size === 0) this.stopTail();
    }, TAIL_LINGER_MS);
    this.tailLinger.unref();
  }

  private stopTail(): void {
    if (this.tailLinger !== undefined) clearTimeout(this.tailLinger);
    this.tailLinger = undefined;
    if (this.tailPoll !== undefined) clearInterval(this.tailPoll);
    this.tailPoll = undefined;
    this.tailRunning = false;
    this.tailMessages?.stop();
    this.tailMessages = undefined;
  }

  /** An ordered consumer from the known tip on: parts land in the cache, commits wake readers. */
  private async tailLoop(): Promise<void> {
    const { DeliverPolicy } = this.session.modules.jetstream;
    let attempt = 0;
    while (this.tailRunning && !this.closed) {
      try {
        const consumer = await this.session.js.consumers.get(this.location.stream, {
          filter_subjects: this.location.subject,
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: this.tip.seq + 1,
        });
        if (!this.tailRunning) break;
        const messages = await consumer.consume({ max_messages: 256 });
        this.tailMessages = messages;
        if (!this.tailRunning) messages.stop();
        for await (const message of messages) {
          attempt = 0;
          const part = partOfMessage(message.seq, message.headers, message.data);
          if (typeof part === 'string') continue; // reads report it with its sequence
          this.remember(part);
          this.advanceTip(tipOf(part));
        }
      } catch {
        // An election or a lost connection; the poll keeps readers going meanwhile.
      }
      if (!this.tailRunning || this.closed) break;
      await sleep(backoffMs(attempt));
      attempt += 1;
    }
  }

  // ---- committing -----------------------------------------------------------------------

  private async commit(entries: QueuedAppend[]): Promise<void> {
    this.commitCounter += 1;
    const maxAttempts = this.options.maxAttempts ?? 100;
    let fresh = false;
    let attempts = 0;
    for (;;) {
      const tip = this.tip;
      for (const entry of entries) {
        entry.result = undefined;
        entry.error = undefined;
      }
      const plan = planBatch(this.name, entries, tip.head, tip.registers);
      const mismatch = entries.some((entry) => entry.error instanceof RegisterMismatchError);
      if (!fresh && (!plan.needsCommit || mismatch)) {
        // A barrier reports the head, and a check fails, only against the leader's current tip.
        await this.refreshTip();
        fresh = true;
        continue;
      }
      if (!plan.needsCommit) {
        this.queue.settle(plan, false);
        return;
      }
      if (attempts >= maxAttempts) throw new JournalContendedError(this.name, attempts);
      attempts += 1;
      try {
        await this.options.hooks?.beforeWrite?.(plan.info);
        await this.options.hooks?.beforeSync?.(plan.info);
      } catch (error) {
        throw error instanceof JournalWriteError
          ? error
          : new JournalWriteError(this.name, 'simulated write failure', error);
      }
      const committed = await this.publishCommit(plan, tip, attempts);
      if (committed === undefined) {
        await this.refreshTip();
        fresh = true;
        continue;
      }
      this.advanceTip(committed);
      this.queue.settle(plan, true);
      return;
    }
  }

  private partBytes(before: Registers, after: Registers): number {
    const maxPayload = this.session.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
    const registers = Math.max(
      encodeRegisters(before).byteLength,
      encodeRegisters(after).byteLength,
    );
    const room = Math.max(1024, maxPayload - registers - HEADER_ROOM);
    return Math.min(room, this.options.maxPartBytes ?? room);
  }

  /** Publishes a planned batch as one commit. Undefined: fenced by another writer (re-plan). */
  private async publishCommit(
    plan: PlannedBatch,
    tip: Tip,
    attempt: number,
  ): Promise<Tip | undefined> {
    const commit = `${this.writerId}.${this.commitCounter}.${attempt}`;
    const before = tip.registers;
    const after = plan.registersChanged ? plan.registers : before;
    const datas = splitParts(plan.chunks, plan.end - plan.begin, this.partBytes(before, after));
    let expect = tip.seq;
    let offset = plan.begin;
    for (const [index, data] of datas.entries()) {
      const meta: PartMeta = {
        commit,
        begin: plan.begin,
        end: plan.end,
        index,
        count: datas.length,
        offset,
        registers: index === datas.length - 1 ? after : before,
      };
      const seq = await this.publishPart(meta, data, expect);
      if (seq === undefined) return undefined;
      this.remember({ seq, meta, data });
      expect = seq;
      offset += data.byteLength;
    }
    return { seq: expect, head: plan.end, registers: after };
  }

  /**
   * Publishes one part expecting `expect` to be the last sequence. Resolves with its sequence,
   * or undefined when another message holds expect+1 (fenced).
   */
  private async publishPart(
    meta: PartMeta,
    data: Uint8Array,
    expect: number,
  ): Promise<number | undefined> {
    const msgID = `${meta.commit}.${meta.index}`;
    const started = Date.now();
    let ambiguous = false;
    for (let attempt = 0; ; attempt += 1) {
      const headers = this.session.modules.transport.headers();
      for (const [key, value] of partHeaders(meta)) headers.set(key, value);
      try {
        const ack = await this.session.js.publish(this.location.subject, data, {
          msgID,
          headers,
          expect: { lastSubjectSequence: expect },
          timeout: this.options.requestTimeoutMs ?? 5000,
        });
        if (ack.seq !== expect + 1) {
          throw new JournalWriteError(
            this.name,
            `JetStream stored part ${meta.index} of commit ${meta.commit} at sequence ${ack.seq}, expected ${expect + 1}`,
          );
        }
        return ack.seq;
      } catch (error) {
        if (error instanceof JournalWriteError) throw error;
        if (isWrongLastSequence(error)) {
          if (ambiguous && (await this.landedAt(expect + 1, msgID))) return expect + 1;
          return undefined;
        }
        if (!isTransient(error)) {
          throw new JournalWriteError(
            this.name,
            `JetStream refused the append: ${describe(error)}`,
            error,
          );
        }
        ambiguous = true;
        const waited = Date.now() - started;
        if (waited > this.deadlineMs) {
          throw new JournalWriteError(
            this.name,
            `no acknowledgement from JetStream within ${Math.round(waited / 1000)} s ` +
              `(${describe(error)}); the append may or may not have committed`,
            error,
          );
        }
        await sleep(backoffMs(attempt));
      }
    }
  }

  /** Whether the message at `seq` is the one published with `msgID`. */
  private async landedAt(seq: number, msgID: string): Promise<boolean> {
    const message = await this.retry('resolve an ambiguous append', () =>
      this.session.jsm.streams.getMessage(this.location.stream, { seq }),
    );
    return message !== null && message.header?.get('Nats-Msg-Id') === msgID;
  }

  /** Runs `task`, retrying transient failures until the deadline. */
  private async retry<T>(action: string, task: () => Promise<T>): Promise<T> {
    const started = Date.now();
    for (let attempt = 0; ; attempt += 1) {
      if (this.closed && attempt > 0) throw new JournalClosedError(this.name);
      try {
        return await task();
      } catch (error) {
        if (!isTransient(error) || this.closed) throw error;
        const waited = Date.now() - started;
        if (waited > this.deadlineMs)
          throw new JournalUnavailableError(this.name, action, waited, error);
        await sleep(backoffMs(attempt));
      }
    }
  }
}
