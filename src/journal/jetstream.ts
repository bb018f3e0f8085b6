/**
 * JetStreamJournal: the Journal contract on NATS JetStream, for journals that must outlive a
 * machine. One stream per journal (file storage, R3 by default), one subject in it.
 *
 * - Appends: the group commit of the other journals (call order, one commit per batch). A batch
 *   becomes one *commit* of 1..n messages (jetstream-parts.ts), each published with
 *   `Nats-Expected-Last-Subject-Sequence`, so a writer whose view is stale is refused and re-plans
 *   (jetstream-commit.ts, which also settles ambiguous publishes).
 * - Registers ride in the headers of the commit that changes them (every final part carries the
 *   registers after it), so check and union are atomic with the append: the check is evaluated
 *   against the registers at sequence S, and the append lands only if S is still the last.
 * - Reads find offsets by searching sequences or by a cursor, and return only whole commits
 *   (jetstream-reader.ts, fed in batches by jetstream-read-ahead.ts); blocked reads are woken by a
 *   tail (jetstream-tail.ts). The tip, the part cache and retried requests are shared
 *   (jetstream-stream.ts).
 * - Elections (503 / JetStreamNotEnabled / no responders) and lost connections are retried until
 *   `retryDeadlineMs`.
 * - Durability is the server's: an ack means stored on a quorum; with `jetstream { sync_interval:
 *   always }` in every server's config it also means fsynced there (see README).
 */
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
  OffsetNotYetAvailableError,
} from './errors.js';
import { journalNameProblem } from '../journal-name.js';
import {
  AppendQueue,
  type CommitHooks,
  type JournalStats,
  type PlannedBatch,
} from './group-commit.js';
import { HeadWaiters, checkReadOffset } from './head-waiters.js';
import { lowestNeededOffset } from './prune-plan.js';
import type { FSMHints } from '../wire/types.js';
import { openNatsSession, type NatsConnectOptions, type NatsSession } from './jetstream-client.js';
import { jetStreamLocation, type JetStreamLocation } from './jetstream-names.js';
import { isFinal, type Tip } from './jetstream-parts.js';
import type { ReadAheadStats } from './jetstream-read-ahead.js';
import { JournalStream } from './jetstream-stream.js';
import { JournalReader } from './jetstream-reader.js';
import { JournalTail } from './jetstream-tail.js';
import { Committer } from './jetstream-commit.js';

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

/** Whether an append's data holds any byte (a barrier holds none). */
function hasBytes(data: Uint8Array | readonly Uint8Array[]): boolean {
  return data instanceof Uint8Array
    ? data.byteLength > 0
    : data.some((chunk) => chunk.byteLength > 0);
}

export class JetStreamJournal implements Journal {
  readonly name: string;
  readonly location: JetStreamLocation;
  private readonly options: JetStreamJournalOptions;
  private readonly stream: JournalStream;
  private readonly queue: AppendQueue;
  private readonly waiters: HeadWaiters;
  private readonly reader: JournalReader;
  private readonly tail: JournalTail;

  private constructor(
    name: string,
    location: JetStreamLocation,
    session: NatsSession,
    options: JetStreamJournalOptions,
  ) {
    this.name = name;
    this.location = location;
    this.options = options;
    const deadlineMs = options.retryDeadlineMs ?? 60_000;
    this.stream = new JournalStream(name, location, session, deadlineMs, (head) =>
      this.waiters.notify(head),
    );
    const writerId = session.modules.transport.nuid.next();
    const settle = (plan: PlannedBatch, synced: boolean): void => this.queue.settle(plan, synced);
    const committer = new Committer(this.stream, settle, options, writerId);
    this.queue = new AppendQueue(name, (batch) => committer.commit(batch));
    this.reader = new JournalReader(this.stream);
    this.tail = new JournalTail(this.stream, () => this.waiters.size > 0);
    this.waiters = new HeadWaiters(name, {
      onFirstWaiter: () => this.tail.start(),
      onNoWaiters: () => this.tail.linger(),
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
      await journal.stream.ensure(options);
      await journal.stream.refreshTip();
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
    return { ...this.reader.stats, leaderGets: this.stream.leaderGets };
  }

  append(data: Uint8Array | readonly Uint8Array[], options?: AppendOptions): Promise<AppendResult> {
    if (
      this.options.readOnly === true &&
      (hasBytes(data) || options?.unionRegisters !== undefined)
    ) {
      return Promise.reject(new JournalReadOnlyError(this.name, this.stream.describeLocation()));
    }
    return this.queue.append(data, options);
  }

  async read(offset: number, options: ReadOptions): Promise<ReadResult> {
    checkReadOffset(this.name, offset);
    for (;;) {
      this.assertOpen();
      let result: ReadResult | undefined;
      try {
        result = await this.reader.readOnce(offset, options.maxBytes);
      } catch (error) {
        // close() ends the connection under a read in flight: report that, not the socket error.
        if (this.stream.closed) throw new JournalClosedError(this.name);
        throw error;
      }
      if (result !== undefined) return result;
      this.assertOpen();
      if (!options.blocking) {
        throw new OffsetNotYetAvailableError(this.name, offset, this.stream.tip.head);
      }
      const waiting = this.waiters.wait(offset, options.signal);
      // A commit observed while this read was finding out it had to wait.
      if (this.stream.tip.head > offset) this.waiters.notify(this.stream.tip.head);
      await waiting;
    }
  }

  async head(): Promise<number> {
    this.assertOpen();
    return (await this.stream.refreshTip()).head;
  }

  async registers(): Promise<Registers> {
    this.assertOpen();
    return (await this.stream.refreshTip()).registers;
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
    const dryRun = options.dryRun === true;
    if (this.options.readOnly === true && !dryRun) {
      throw new JournalReadOnlyError(this.name, this.stream.describeLocation());
    }
    const needed = lowestNeededOffset(this.name, hintsList);
    const tip = await this.stream.refreshTip();
    const keepFrom = await this.firstSeqNeeded(needed, tip);
    const first = await this.stream.refreshFirstSeq();
    let purged = 0;
    if (keepFrom > first && dryRun) {
      purged = keepFrom - first;
    } else if (keepFrom > first) {
      const response = await this.stream.retry('prune', () =>
        this.stream.session.jsm.streams.purge(this.location.stream, { seq: keepFrom }),
      );
      purged = response.purged;
      this.stream.firstSeq = keepFrom;
      this.reader.purgedBelow(keepFrom);
    }
    const kept = keepFrom > first ? keepFrom : first;
    const firstPart =
      tip.seq === 0 ? undefined : await this.reader.getPart(kept).catch(() => undefined);
    return {
      needed,
      keptFromSeq: kept,
      purged,
      firstOffset: firstPart?.meta.offset ?? tip.head,
      dryRun,
    };
  }

  /**
   * The first sequence to keep so that offset `needed` stays readable: the first part of the
   * commit holding it, and never past the last commit (the head and registers are read from it).
   */
  private async firstSeqNeeded(needed: number, tip: Tip): Promise<number> {
    let keepFrom = tip.seq;
    if (needed < tip.head) {
      const located = await this.reader.locate(needed, tip);
      if (located !== undefined) keepFrom = Math.min(keepFrom, located.commitFirstSeq);
    } else if (tip.seq > 0) {
      const last = await this.reader.getPart(tip.seq);
      if (last !== undefined && isFinal(last.meta)) keepFrom = tip.seq - (last.meta.count - 1);
    }
    return keepFrom;
  }

  /** Pending reads reject; queued appends still complete; later calls throw JournalClosedError. */
  async close(): Promise<void> {
    if (this.stream.closed) return;
    this.stream.closed = true;
    this.waiters.rejectAll(new JournalClosedError(this.name));
    await this.queue.close();
    this.tail.stop();
    this.reader.close();
    await this.stream.session.close();
  }

  private assertOpen(): void {
    if (this.stream.closed) throw new JournalClosedError(this.name);
  }
}
