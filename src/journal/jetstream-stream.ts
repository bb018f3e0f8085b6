/**
 * What the parts of a JetStream journal (reader, tail, committer) share: where the stream lives,
 * its *tip* (last message: head and registers) as read from the stream leader, the first sequence
 * still held, the cache of parts, and the requests behind them, retried through elections.
 *
 * The tip is only ever moved forward: it comes from the leader's last message, from a commit this
 * writer got acknowledged, or from the tail; each is a state the stream really passed through.
 */
import type { StoredMsg, StreamInfo } from '@nats-io/jetstream';
import { JournalClosedError, JournalCorruptError, JournalNotFoundError } from './errors.js';
import type { NatsSession } from './jetstream-client.js';
import {
  JournalUnavailableError,
  backoffMs,
  isStreamNotFound,
  isTransient,
  sleep,
} from './jetstream-errors.js';
import { JOURNAL_NAME_METADATA, type JetStreamLocation } from './jetstream-names.js';
import { EMPTY_TIP, isFinal, tipOf, type StoredPart, type Tip } from './jetstream-parts.js';
import { partOfMessage } from './jetstream-read-ahead.js';

/** Twice the read-ahead window: parts fetched ahead are not evicted before they are read. */
const CACHE_BYTES = 32 * 1024 * 1024;
/** Ids of commits known whole, kept for the cache's fast path; forgotten past this many. */
const MAX_COMPLETE_IDS = 65_536;

/** Parts by sequence, least recently used evicted first, bounded in bytes. */
export class PartCache {
  private readonly parts = new Map<number, StoredPart>();
  private bytes = 0;
  constructor(private readonly budget: number) {}
  get(seq: number): StoredPart | undefined {
    const part = this.parts.get(seq);
    if (part !== undefined) {
      this.parts.delete(seq);
      this.parts.set(seq, part);
    }
    return part;
  }
  has(seq: number): boolean {
    return this.parts.has(seq);
  }
  put(part: StoredPart): void {
    if (this.parts.has(part.seq)) return;
    this.parts.set(part.seq, part);
    this.bytes += part.data.byteLength + 256;
    for (const [seq, old] of this.parts) {
      if (this.bytes <= this.budget) break;
      this.parts.delete(seq);
      this.bytes -= old.data.byteLength + 256;
    }
  }
  /** Forgets parts below `seq` (purged). */
  dropBelow(seq: number): void {
    for (const [at, part] of this.parts) {
      if (at < seq) {
        this.parts.delete(at);
        this.bytes -= part.data.byteLength + 256;
      }
    }
  }
}

/** How the stream is created when it does not exist (see JetStreamJournalOptions). */
export interface StreamSetup {
  create?: boolean;
  readOnly?: boolean;
  replicas?: number;
}

export class JournalStream {
  readonly cache = new PartCache(CACHE_BYTES);
  /** Parts fetched one by one from the stream leader (searches, and when no feed brings them). */
  leaderGets = 0;
  /** Set by the journal's close(): retries stop. */
  closed = false;
  /** Lowest sequence still held (messages below are purged). */
  firstSeq = 1;
  private current: Tip = EMPTY_TIP;
  private refreshing: Promise<Tip> | undefined;
  /** Commit ids whose final part was seen. */
  private readonly complete = new Set<string>();

  constructor(
    readonly name: string,
    readonly location: JetStreamLocation,
    readonly session: NatsSession,
    /** How long transient failures are retried, ms. */
    readonly deadlineMs: number,
    /** Told every head the tip moves to (wakes blocked readers). */
    private readonly onHead: (head: number) => void,
  ) {}

  /** The last tip seen (no request). */
  get tip(): Tip {
    return this.current;
  }

  /** Where the journal lives, for messages. */
  describeLocation(): string {
    return `NATS JetStream stream ${this.location.stream}`;
  }

  /** Runs `task`, retrying transient failures until the deadline. */
  async retry<T>(action: string, task: () => Promise<T>): Promise<T> {
    const started = Date.now();
    for (let attempt = 0; ; attempt += 1) {
      if (this.closed && attempt > 0) throw new JournalClosedError(this.name);
      try {
        return await task();
      } catch (error) {
        if (!isTransient(error) || this.closed) throw error;
        const waited = Date.now() - started;
        if (waited > this.deadlineMs) {
          throw new JournalUnavailableError(this.name, action, waited, error);
        }
        await sleep(backoffMs(attempt));
      }
    }
  }

  /**
   * Re-reads the last message from the stream leader. Each caller sends its own request (one
   * already in flight may predate an append acknowledged since, which a barrier must see); only
   * the tail's background poll shares one.
   */
  async refreshTip(shared = false): Promise<Tip> {
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
    if (message !== null) this.advanceTip(tipOf(this.decode(message)));
    return this.current;
  }

  async refreshFirstSeq(): Promise<number> {
    const info = await this.retry('read the stream state', () =>
      this.session.jsm.streams.info(this.location.stream),
    );
    this.firstSeq = Math.max(1, info.state.first_seq);
    return this.firstSeq;
  }

  /** Moves the known tip forward (never back) and wakes readers the new head lets through. */
  advanceTip(tip: Tip): void {
    if (tip.seq < this.current.seq) return;
    this.current = tip;
    this.onHead(tip.head);
  }

  /** The part at `seq` from the stream leader (undefined: purged), cached. */
  async leaderGet(seq: number): Promise<StoredPart | undefined> {
    this.leaderGets += 1;
    const message = await this.retry('read', () =>
      this.session.jsm.streams.getMessage(this.location.stream, { seq }),
    );
    return message === null ? undefined : this.decode(message);
  }

  /** A stored message as a part (cached), or JournalCorruptError. */
  decode(message: StoredMsg): StoredPart {
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
  remember(part: StoredPart): void {
    if (isFinal(part.meta)) {
      if (this.complete.size >= MAX_COMPLETE_IDS) this.complete.clear();
      this.complete.add(part.meta.commit);
    }
    this.cache.put(part);
  }

  /** Whether the final part of commit `id` was seen. */
  knownWhole(id: string): boolean {
    return this.complete.has(id);
  }

  /** Whether `part`'s commit is known whole from what is cached (no request). */
  wholeInCache(part: StoredPart): boolean {
    const { meta } = part;
    if (this.complete.has(meta.commit)) return true;
    const final = this.cache.get(part.seq + (meta.count - 1 - meta.index));
    return final !== undefined && final.meta.commit === meta.commit && isFinal(final.meta);
  }

  /**
   * Checks the stream (creating it unless told not to): it must be recoverylog's stream of this
   * journal and capture its subject. Notes the first sequence held.
   */
  async ensure(setup: StreamSetup): Promise<void> {
    const { stream, subject } = this.location;
    const where = this.describeLocation();
    let info: StreamInfo;
    try {
      info = await this.retry('open the stream', () => this.session.jsm.streams.info(stream));
    } catch (error) {
      if (!isStreamNotFound(error)) throw error;
      if (setup.create === false || setup.readOnly === true) {
        throw new JournalNotFoundError(where, 'the stream does not exist', error);
      }
      info = await this.retry('create the stream', () => this.create(setup.replicas ?? 3));
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

  private create(replicas: number): Promise<StreamInfo> {
    const { StorageType, RetentionPolicy, DiscardPolicy } = this.session.modules.jetstream;
    return this.session.jsm.streams.add({
      name: this.location.stream,
      subjects: [this.location.subject],
      description: `recoverylog journal ${this.name}`,
      storage: StorageType.File,
      num_replicas: replicas,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_msgs: -1,
      max_bytes: -1,
      max_age: 0,
      max_msg_size: -1,
      duplicate_window: 120_000_000_000,
      // Messages never change under a sequence (readers and caches rely on it); purges only
      // remove a prefix.
      deny_delete: true,
      deny_purge: false,
      allow_direct: false,
      metadata: { [JOURNAL_NAME_METADATA]: this.name },
    });
  }
}
