/**
 * Reading a JetStream journal in bulk. A get by sequence is one request per message, and the
 * stream API answers it as JSON with the payload in base64: a sequential reader that fetched
 * part after part that way replayed at a few MiB/s. A sequential reader instead gets a *feed*:
 * an ordered consumer from the sequence it reads next, pulled in batches of many messages per
 * round trip (`fetch`), a bounded window ahead of the reader.
 *
 * The feed only fills the journal's part cache: it is never the authority on what exists. It is
 * asked only for sequences at or below a tip read from the stream leader (a consumer may sit on
 * a lagging replica, which could otherwise make a reader believe in a stale end), every message
 * it delivers is decoded and checked like a leader get, and a part it did not deliver (a lagging
 * replica, a dropped message, a failed consumer) is simply fetched from the leader by the reader.
 * A message at a given sequence never changes (the stream denies deletes; purges only remove),
 * so a part from any replica is the part.
 */
import type { MsgHdrs } from '@nats-io/transport-node';
import type { Consumer } from '@nats-io/jetstream';
import type { NatsSession } from './jetstream-client.js';
import type { JetStreamLocation } from './jetstream-names.js';
import { decodePartMeta, type StoredPart } from './jetstream-parts.js';

/** Bytes fetched ahead of the reader (keep well below the cache budget, or parts are evicted unread). */
export const READ_AHEAD_BYTES = 8 * 1024 * 1024;
/**
 * A reader this many sequences ahead of its feed (parts it got elsewhere: the tail, its own
 * appends) keeps the feed, which re-fetches those few rather than creating a new consumer.
 */
const FEED_SLACK = 16;
/** Fewer messages left than this are read with single gets (no consumer is created). */
const MIN_FEED_MESSAGES = 4;
/** Upper bound on messages asked of one fetch (small messages: one round trip for many). */
const MAX_BATCH_MESSAGES = 4096;
/** A fetch waits this long for messages a lagging replica does not hold yet (client minimum 1 s). */
const FETCH_EXPIRES_MS = 2000;
/** A fetch that delivers nothing for this long (past its expiry) is abandoned. */
const FETCH_STALL_MS = FETCH_EXPIRES_MS + 3000;
/**
 * How long readers wait for a new feed's consumer (normally created in a few ms) unless the
 * stream's replicas are all current. The server places the (R1) consumer on one of the stream's
 * peers, and a peer that is down (a killed stream leader stays in the peer set until it is back or
 * removed) leaves the create request to end with the client's timeout (5 s): a fresh process
 * recovering after a leader kill waited that long. So a feed whose stream has a replica not
 * current is given up after this wait and its readers ask the leader; with every replica current
 * a slow create (a loaded machine) is waited for, as it will be answered.
 */
export const CONSUMER_WAIT_MS = 500;
/**
 * After a feed failed, readers use leader gets for this long before a feed is tried again; doubled
 * after each failure in a row (a new consumer may be placed on the same dead node), up to
 * MAX_RETRY_FEED_AFTER_MS.
 */
const RETRY_FEED_AFTER_MS = 1000;
const MAX_RETRY_FEED_AFTER_MS = 16_000;
/** An abandoned consumer (a process that died mid-read) is removed by the server after this. */
const CONSUMER_INACTIVE_MS = 30_000;

/** The client hands out Buffers; readers get plain Uint8Arrays (as from the other journals). */
export function plainBytes(data: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(data) === Uint8Array.prototype
    ? data
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A stored message as a part, or a description of why it is not a well-formed part. */
export function partOfMessage(
  seq: number,
  header: MsgHdrs | undefined,
  data: Uint8Array,
): StoredPart | string {
  const meta = decodePartMeta(
    (key) => (header !== undefined && header.has(key) ? header.get(key) : undefined),
    data.byteLength,
  );
  return typeof meta === 'string' ? meta : { seq, meta, data: plainBytes(data) };
}

/** One ordered consumer delivering sequences `next`.. to one sequential reader. */
interface Feed {
  readonly consumer: Promise<Consumer>;
  /** The next sequence the consumer delivers. */
  next: number;
  /** The last sequence wanted (at or below a tip read from the leader). */
  wanted: number;
  /**
   * Fetch through this sequence whatever the window: a reader waits for it (the final part of
   * the commit it reads, whose presence makes the commit's bytes readable).
   */
  reach: number;
  /** The sequence the reader reads next; bytes fetched beyond it count against the window. */
  readerSeq: number;
  /** Sequences fetched beyond readerSeq and their sizes, oldest first. */
  readonly ahead: [seq: number, bytes: number][];
  aheadBytes: number;
  running: boolean;
  stopped: boolean;
  /** Every replica of the stream was current when the feed started (see CONSUMER_WAIT_MS). */
  healthy: boolean;
}

export interface ReadAheadStats {
  /** Consumers created for sequential readers. */
  feeds: number;
  /** Fetch requests (each a round trip for up to MAX_BATCH_MESSAGES messages). */
  fetches: number;
  /** Parts delivered by fetches. */
  parts: number;
}

export class ReadAhead {
  private feed: Feed | undefined;
  private arrivals: { seq: number; resolve: () => void }[] = [];
  private retryAt = 0;
  /** Feeds that failed in a row (reset by a fetch that delivered). */
  private failures = 0;
  /** Mean size of the messages fetched last; until known, assume full ones (1 MiB). */
  private meanBytes = 1024 * 1024;
  private closed = false;
  readonly stats: ReadAheadStats = { feeds: 0, fetches: 0, parts: 0 };

  constructor(
    private readonly session: NatsSession,
    private readonly location: JetStreamLocation,
    /** Receives every well-formed part delivered (the journal caches it). */
    private readonly accept: (part: StoredPart) => void,
    private readonly windowBytes = READ_AHEAD_BYTES,
    private readonly consumerWaitMs = CONSUMER_WAIT_MS,
  ) {}

  /**
   * A sequential reader needs part `seq` next (not cached) and will go on up to `last`: keeps or
   * starts a feed from there. Starting one costs a consumer creation, so only readers that
   * continue where their previous read ended call this.
   */
  want(seq: number, last: number): void {
    if (this.closed || seq > last) return;
    const feed = this.feed;
    if (feed !== undefined && !feed.stopped && this.follows(feed, seq)) {
      this.advance(feed, seq, last);
      return;
    }
    // A consumer costs more than a few single gets.
    if (last - seq + 1 < MIN_FEED_MESSAGES || Date.now() < this.retryAt) return;
    this.start(seq, last);
  }

  /** The reader moved on to `seq` (its parts below are consumed): keeps the window full. */
  moved(seq: number, last: number): void {
    const feed = this.feed;
    if (feed === undefined || feed.stopped || !this.follows(feed, seq)) return;
    this.advance(feed, seq, last);
  }

  /**
   * Resolves once part `seq` was delivered, or the fetch that should have brought it ended
   * without it; undefined when no feed will bring it soon (ask the leader). A part a little
   * beyond the window (the final part of a commit being read) is fetched through.
   */
  arrival(seq: number): Promise<void> | undefined {
    const feed = this.feed;
    if (feed === undefined || feed.stopped || seq < feed.next || seq > feed.wanted)
      return undefined;
    if ((seq - feed.next) * this.meanBytes > this.windowBytes) return undefined;
    if (seq > feed.reach) feed.reach = seq;
    const arrived = new Promise<void>((resolve) => this.arrivals.push({ seq, resolve }));
    void this.pump(feed);
    return arrived;
  }

  private follows(feed: Feed, seq: number): boolean {
    return seq >= feed.readerSeq && seq <= feed.next + FEED_SLACK;
  }

  /** Forgets the position (after a purge, or when closing). */
  stop(): void {
    const feed = this.feed;
    this.feed = undefined;
    if (feed !== undefined) this.end(feed);
    this.wake(Number.POSITIVE_INFINITY);
  }

  close(): void {
    this.closed = true;
    this.stop();
  }

  private start(seq: number, last: number): void {
    const previous = this.feed;
    if (previous !== undefined) this.end(previous);
    const { DeliverPolicy } = this.session.modules.jetstream;
    const consumer = this.session.js.consumers.get(this.location.stream, {
      filter_subjects: this.location.subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: seq,
      inactive_threshold: CONSUMER_INACTIVE_MS,
    });
    consumer.catch(() => undefined); // observed by pump()
    const feed: Feed = {
      consumer,
      next: seq,
      wanted: last,
      reach: 0,
      readerSeq: seq,
      ahead: [],
      aheadBytes: 0,
      running: false,
      stopped: false,
      healthy: false,
    };
    this.checkReplicas(feed);
    this.feed = feed;
    this.stats.feeds += 1;
    void this.pump(feed);
  }

  private advance(feed: Feed, seq: number, last: number): void {
    feed.readerSeq = Math.max(feed.readerSeq, seq);
    feed.wanted = Math.max(feed.wanted, last);
    while (feed.ahead.length > 0 && (feed.ahead[0] as [number, number])[0] < feed.readerSeq) {
      feed.aheadBytes -= (feed.ahead.shift() as [number, number])[1];
    }
    void this.pump(feed);
  }

  /** Fetches batches while the window ahead of the reader has room and sequences are wanted. */
  private async pump(feed: Feed): Promise<void> {
    if (feed.running || feed.stopped) return;
    feed.running = true;
    try {
      const consumer = await this.created(feed);
      // Fetch when half the window is free: one request brings at least half a window.
      while (
        !feed.stopped &&
        feed.next <= feed.wanted &&
        (feed.aheadBytes <= this.windowBytes / 2 || feed.next <= feed.reach)
      ) {
        const got = await this.fetchBatch(feed, consumer);
        if (got === 0) break; // a lagging replica: readers go to the leader meanwhile
        this.failures = 0;
      }
      if (!feed.stopped && feed.next > feed.wanted) {
        // Everything wanted was delivered: release the consumer (a reader going on starts anew).
        if (this.feed === feed) this.feed = undefined;
        this.end(feed);
      }
    } catch {
      // No consumer (an election, permissions, a lost connection): leader gets for a while. (A
      // feed stopped under its fetch fails that fetch too; that is no reason to wait.)
      if (!feed.stopped) {
        const pause = RETRY_FEED_AFTER_MS * 2 ** Math.min(this.failures, 4);
        this.retryAt = Date.now() + Math.min(pause, MAX_RETRY_FEED_AFTER_MS);
        this.failures += 1;
      }
      if (this.feed === feed) this.feed = undefined;
      this.end(feed);
    } finally {
      feed.running = false;
      // No fetch is under way now: whoever still waits reads from the leader.
      this.wake(Number.POSITIVE_INFINITY);
    }
  }

  /** One fetch of up to a window's worth (and through `reach`): how many parts it brought. */
  private async fetchBatch(feed: Feed, consumer: Consumer): Promise<number> {
    const room = Math.max(0, this.windowBytes - feed.aheadBytes);
    const count = Math.max(
      1,
      feed.reach - feed.next + 1,
      Math.min(
        MAX_BATCH_MESSAGES,
        feed.wanted - feed.next + 1,
        Math.floor(room / Math.max(1, this.meanBytes)),
      ),
    );
    const asked = feed.next + count - 1;
    this.stats.fetches += 1;
    const messages = await consumer.fetch({ max_messages: count, expires: FETCH_EXPIRES_MS });
    // The server ends a fetch by `expires`; if the node holding the consumer died, nothing
    // ends it: give up on it then, and let the readers ask the leader.
    let stalled = false;
    const stall = (): NodeJS.Timeout =>
      setTimeout(() => {
        stalled = true;
        messages.stop();
      }, FETCH_STALL_MS);
    let watchdog = stall();
    let got = 0;
    let bytes = 0;
    for await (const message of messages) {
      clearTimeout(watchdog);
      watchdog = stall();
      if (feed.stopped) break;
      if (message.seq < feed.next) continue;
      feed.next = message.seq + 1;
      got += 1;
      bytes += message.data.byteLength;
      const part = partOfMessage(message.seq, message.headers, message.data);
      // A malformed message is left to the reader's leader get, which reports it.
      if (typeof part !== 'string') this.accept(part);
      if (message.seq >= feed.readerSeq) {
        feed.ahead.push([message.seq, message.data.byteLength]);
        feed.aheadBytes += message.data.byteLength;
      }
      this.wake(message.seq);
    }
    clearTimeout(watchdog);
    if (stalled) throw new Error('a fetch stalled');
    this.stats.parts += got;
    // Whatever this fetch did not bring is fetched by its readers from the leader.
    this.wake(asked);
    if (got > 0) this.meanBytes = bytes / got;
    return got;
  }

  /** Sets `feed.healthy` once the stream leader tells every replica is current. */
  private checkReplicas(feed: Feed): void {
    this.session.jsm.streams.info(this.location.stream).then(
      (info) => {
        const replicas = info.cluster?.replicas ?? [];
        feed.healthy = replicas.every((replica) => replica.current && replica.offline !== true);
      },
      () => undefined, // no answer: not known healthy
    );
  }

  /**
   * The feed's consumer; a rejection when it is not created within the consumer wait and the
   * stream is not known healthy (see CONSUMER_WAIT_MS).
   */
  private created(feed: Feed): Promise<Consumer> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!feed.healthy) reject(new Error(`no consumer within ${this.consumerWaitMs} ms`));
      }, this.consumerWaitMs);
      feed.consumer.then(
        (consumer) => {
          clearTimeout(timer);
          resolve(consumer);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  private end(feed: Feed): void {
    if (feed.stopped) return;
    feed.stopped = true;
    feed.consumer.then(
      (consumer) => consumer.delete().catch(() => undefined),
      () => undefined,
    );
  }

  /** Resolves the arrivals of sequences up to `seq`. */
  private wake(seq: number): void {
    if (this.arrivals.length === 0) return;
    const waiting: typeof this.arrivals = [];
    for (const arrival of this.arrivals) {
      if (arrival.seq <= seq) arrival.resolve();
      else waiting.push(arrival);
    }
    this.arrivals = waiting;
  }
}
