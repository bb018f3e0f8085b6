/**
 * Committing a batch of appends to a JetStream journal. A batch becomes one *commit* of 1..n
 * messages (jetstream-parts.ts): more than one only when it exceeds the server's max_payload.
 * Every part is published with `Nats-Expected-Last-Subject-Sequence` = the sequence the writer
 * believes is last, so a writer whose view is stale is refused (error 10071) and nothing of it
 * lands after another writer's message; it then re-reads the tip and re-plans (registers
 * re-checked), up to `maxAttempts`.
 *
 * Ambiguous outcomes: a publish that timed out or lost its leader may have been stored, and an
 * acknowledgement naming a sequence other than expect+1 (a new leader answers a retried msg id
 * whose entry it is still applying with sequence 0) does not say where the part is. Both are
 * settled the same way: with the expectation, the part can only ever be at expect+1, so the
 * message there is read from the leader and its Nats-Msg-Id compared — ours: committed; another
 * message's: fenced (re-plan); none: publish again with the same msg id and expectation, until
 * the deadline. An append is acknowledged only once its part is known stored where expected.
 */
import type { PubAck } from '@nats-io/jetstream';
import type { Registers } from './journal.js';
import { JournalContendedError, JournalWriteError, RegisterMismatchError } from './errors.js';
import {
  planBatch,
  type CommitHooks,
  type PlannedBatch,
  type QueuedAppend,
} from './group-commit.js';
import { encodeRegisters } from './registers.js';
import {
  backoffMs,
  describe,
  isTransient,
  isWrongLastSequence,
  sleep,
} from './jetstream-errors.js';
import { partHeaders, splitParts, type PartMeta, type Tip } from './jetstream-parts.js';
import type { JournalStream } from './jetstream-stream.js';

const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
/** Room left in a message for our headers and the client's (ids, expectations). */
const HEADER_ROOM = 2048;

export interface CommitOptions {
  /** Attempts of one batch when other writers keep appending first (default 100). */
  maxAttempts?: number;
  /** Upper bound on one message's payload (default: the server's max_payload less headers). */
  maxPartBytes?: number;
  /** Timeout of each publish, ms (default 5000). */
  requestTimeoutMs?: number;
  /** Test hooks around each commit (see CommitHooks); a hook that throws fails the journal. */
  hooks?: CommitHooks;
}

/** What publishing one part came to. */
type PartOutcome = { stored: number } | 'fenced' | { unsettled: string; cause?: unknown };

export class Committer {
  private commitCounter = 0;

  constructor(
    private readonly stream: JournalStream,
    /** Settles a finished batch's appends (AppendQueue.settle). */
    private readonly settle: (plan: PlannedBatch, synced: boolean) => void,
    private readonly options: CommitOptions,
    /** Unique to this journal instance: part of every commit id. */
    private readonly writerId: string,
  ) {}

  /** Commits one batch (the AppendQueue's runBatch); a throw fails the journal. */
  async commit(entries: QueuedAppend[]): Promise<void> {
    this.commitCounter += 1;
    const maxAttempts = this.options.maxAttempts ?? 100;
    let fresh = false;
    let attempts = 0;
    for (;;) {
      const tip = this.stream.tip;
      for (const entry of entries) {
        entry.result = undefined;
        entry.error = undefined;
      }
      const plan = planBatch(this.stream.name, entries, tip.head, tip.registers);
      const mismatch = entries.some((entry) => entry.error instanceof RegisterMismatchError);
      if (!fresh && (!plan.needsCommit || mismatch)) {
        // A barrier reports the head, and a check fails, only against the leader's current tip.
        await this.stream.refreshTip();
        fresh = true;
        continue;
      }
      if (!plan.needsCommit) {
        this.settle(plan, false);
        return;
      }
      if (attempts >= maxAttempts) throw new JournalContendedError(this.stream.name, attempts);
      attempts += 1;
      await this.runHooks(plan);
      const committed = await this.publishCommit(plan, tip, attempts);
      if (committed === undefined) {
        await this.stream.refreshTip();
        fresh = true;
        continue;
      }
      this.stream.advanceTip(committed);
      this.settle(plan, true);
      return;
    }
  }

  private async runHooks(plan: PlannedBatch): Promise<void> {
    try {
      await this.options.hooks?.beforeWrite?.(plan.info);
      await this.options.hooks?.beforeSync?.(plan.info);
    } catch (error) {
      throw error instanceof JournalWriteError
        ? error
        : new JournalWriteError(this.stream.name, 'simulated write failure', error);
    }
  }

  private partBytes(before: Registers, after: Registers): number {
    const maxPayload = this.stream.session.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
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
      this.stream.remember({ seq, meta, data });
      expect = seq;
      offset += data.byteLength;
    }
    return { seq: expect, head: plan.end, registers: after };
  }

  /**
   * Publishes one part expecting `expect` to be the last sequence, retrying ambiguous outcomes
   * (see the module comment) until the deadline. Resolves with its sequence (expect+1), or
   * undefined when another message holds expect+1 (fenced).
   */
  private async publishPart(
    meta: PartMeta,
    data: Uint8Array,
    expect: number,
  ): Promise<number | undefined> {
    const msgID = `${meta.commit}.${meta.index}`;
    const started = Date.now();
    // Once an attempt's outcome is unknown, a later 10071 may be that attempt's own message.
    let ambiguous = false;
    for (let attempt = 0; ; attempt += 1) {
      const outcome = await this.attemptPart(meta, data, expect, msgID, ambiguous);
      if (outcome === 'fenced') return undefined;
      if ('stored' in outcome) return outcome.stored;
      ambiguous = true;
      const waited = Date.now() - started;
      if (waited > this.stream.deadlineMs) {
        throw new JournalWriteError(
          this.stream.name,
          `no acknowledgement from JetStream within ${Math.round(waited / 1000)} s ` +
            `(${outcome.unsettled}); the append may or may not have committed`,
          outcome.cause,
        );
      }
      await sleep(backoffMs(attempt));
    }
  }

  /** One publish of a part and, when its outcome is ambiguous, what the stream tells of it. */
  private async attemptPart(
    meta: PartMeta,
    data: Uint8Array,
    expect: number,
    msgID: string,
    ambiguous: boolean,
  ): Promise<PartOutcome> {
    let ack: PubAck;
    try {
      ack = await this.publish(meta, data, expect, msgID);
    } catch (error) {
      if (isWrongLastSequence(error)) {
        // Expect+1 is taken: by this part when an earlier attempt was stored after all.
        if (!ambiguous) return 'fenced';
        return (await this.messageIdAt(expect + 1)) === msgID ? { stored: expect + 1 } : 'fenced';
      }
      if (!isTransient(error)) {
        throw new JournalWriteError(
          this.stream.name,
          `JetStream refused the append: ${describe(error)}`,
          error,
        );
      }
      return { unsettled: describe(error), cause: error };
    }
    if (ack.seq === expect + 1) return { stored: ack.seq };
    const holder = await this.messageIdAt(expect + 1);
    if (holder === msgID) return { stored: expect + 1 };
    if (holder !== undefined) return 'fenced';
    return {
      unsettled:
        `an acknowledgement of part ${meta.index} of commit ${meta.commit} naming sequence ` +
        `${ack.seq}${ack.duplicate ? ' (duplicate)' : ''} while sequence ${expect + 1} is empty`,
    };
  }

  private publish(
    meta: PartMeta,
    data: Uint8Array,
    expect: number,
    msgID: string,
  ): Promise<PubAck> {
    const headers = this.stream.session.modules.transport.headers();
    for (const [key, value] of partHeaders(meta)) headers.set(key, value);
    return this.stream.session.js.publish(this.stream.location.subject, data, {
      msgID,
      headers,
      expect: { lastSubjectSequence: expect },
      timeout: this.options.requestTimeoutMs ?? 5000,
    });
  }

  /**
   * The Nats-Msg-Id of the message at `seq`, read from the stream leader ('' for a message
   * without one); undefined when there is none.
   */
  private async messageIdAt(seq: number): Promise<string | undefined> {
    const { session, location } = this.stream;
    const message = await this.stream.retry('resolve an ambiguous append', () =>
      session.jsm.streams.getMessage(location.stream, { seq }),
    );
    if (message === null) return undefined;
    return message.header?.get('Nats-Msg-Id') ?? '';
  }
}
