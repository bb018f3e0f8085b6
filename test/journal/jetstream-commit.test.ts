/**
 * The JetStream committer's handling of ambiguous publishes, without a server: a fake stream
 * behind the session seam (publish with expectation and msg-id deduplication, gets by sequence)
 * that can answer a publish with an odd acknowledgement. The kill layer saw a new stream leader,
 * mid-election, acknowledge a part with sequence 0 instead of expect+1; that must be settled by
 * reading sequence expect+1 (ours: committed; another's: fenced, re-plan; none: publish again),
 * never fail the journal, and never acknowledge an append whose part is not stored.
 */
import assert from 'node:assert/strict';
import type { PubAck } from '@nats-io/jetstream';
import { AppendQueue } from '../../src/journal/group-commit.js';
import { JournalWriteError } from '../../src/journal/errors.js';
import type { NatsSession } from '../../src/journal/jetstream-client.js';
import { Committer } from '../../src/journal/jetstream-commit.js';
import { partHeaders, type PartMeta } from '../../src/journal/jetstream-parts.js';
import { JournalStream } from '../../src/journal/jetstream-stream.js';

interface StoredMessage {
  readonly msgID: string;
  readonly headers: Map<string, string>;
  readonly data: Uint8Array;
}

interface PublishCall {
  readonly msgID: string;
  readonly expect: number;
}

/**
 * What the fake server does with a publish: 'normal' (expectation, dedup, store, ack), or an
 * odd outcome: 'odd-ack-stored' (stores it, acks sequence 0 as a duplicate) or 'odd-ack-lost'
 * (stores nothing, acks sequence 0).
 */
type Behaviour = 'normal' | 'odd-ack-stored' | 'odd-ack-lost';

class FakeStream {
  readonly messages: StoredMessage[] = [];
  readonly calls: PublishCall[] = [];
  constructor(private readonly behave: (call: number) => Behaviour) {}

  publish(data: Uint8Array, msgID: string, headers: Map<string, string>, expect: number): PubAck {
    const call = this.calls.push({ msgID, expect }) - 1;
    const behaviour = this.behave(call);
    const ack = (seq: number, duplicate = false): PubAck => ({
      stream: 'S',
      seq,
      duplicate,
      domain: '',
    });
    if (behaviour === 'odd-ack-lost') return ack(0, true);
    if (behaviour === 'odd-ack-stored') {
      this.messages.push({ msgID, headers, data });
      return ack(0, true);
    }
    const at = this.messages.findIndex((message) => message.msgID === msgID);
    if (at !== -1) return ack(at + 1, true);
    if (expect !== this.messages.length) {
      throw Object.assign(new Error(`wrong last sequence: ${this.messages.length}`), {
        code: 10071,
        status: 400,
      });
    }
    this.messages.push({ msgID, headers, data });
    return ack(this.messages.length);
  }

  get(seq: number): unknown {
    const message = this.messages[seq - 1];
    if (message === undefined) return null;
    const all = new Map(message.headers);
    all.set('Nats-Msg-Id', message.msgID);
    return {
      seq,
      data: message.data,
      header: { get: (key: string) => all.get(key) ?? '', has: (key: string) => all.has(key) },
    };
  }

  /** Another writer's commit of `size` bytes at the end of the stream. */
  appendForeign(begin: number, size: number): void {
    const meta: PartMeta = {
      commit: 'other.1.1',
      begin,
      end: begin + size,
      index: 0,
      count: 1,
      offset: begin,
      registers: {},
    };
    this.messages.push({
      msgID: 'other.1.1.0',
      headers: new Map(partHeaders(meta)),
      data: new Uint8Array(size).fill(7),
    });
  }
}

function sessionOf(fake: FakeStream): NatsSession {
  let ids = 0;
  const session = {
    nc: { info: { max_payload: 1024 * 1024 } },
    js: {
      publish: async (
        _subject: string,
        data: Uint8Array,
        options: {
          msgID: string;
          headers: Map<string, string>;
          expect: { lastSubjectSequence: number };
        },
      ) => fake.publish(data, options.msgID, options.headers, options.expect.lastSubjectSequence),
    },
    jsm: {
      streams: {
        getMessage: async (_stream: string, query: { seq?: number; last_by_subj?: string }) =>
          fake.get(query.seq ?? fake.messages.length),
      },
    },
    modules: {
      transport: { headers: () => new Map<string, string>(), nuid: { next: () => `w${++ids}` } },
    },
    close: async () => undefined,
  };
  return session as unknown as NatsSession;
}

/** A committer over `fake` behind an append queue, as the journal wires them. */
function journalOver(fake: FakeStream, deadlineMs = 5000) {
  const stream = new JournalStream(
    'test/log',
    { stream: 'S', subject: 's' },
    sessionOf(fake),
    deadlineMs,
    () => undefined,
  );
  const queue: AppendQueue = new AppendQueue('test/log', (batch) => committer.commit(batch));
  const committer = new Committer(stream, (plan, synced) => queue.settle(plan, synced), {}, 'me');
  return { stream, queue };
}

describe('JetStream commits with ambiguous acknowledgements', function () {
  it('an odd ack (sequence 0) for a part that was stored commits it, found at expect+1', async function () {
    const fake = new FakeStream((call) => (call === 0 ? 'odd-ack-stored' : 'normal'));
    const { stream, queue } = journalOver(fake);
    const result = await queue.append(new Uint8Array([1, 2, 3]), undefined);
    assert.deepEqual(result, { begin: 0, end: 3 });
    assert.equal(stream.tip.seq, 1);
    assert.equal(fake.calls.length, 1, 'settled by reading sequence 1, not by publishing again');
    // The journal goes on appending after it.
    assert.deepEqual(await queue.append(new Uint8Array([4]), undefined), { begin: 3, end: 4 });
    assert.equal(fake.messages.length, 2);
  });

  it('an odd ack for a part not stored publishes it again with the same msg id and expectation', async function () {
    const fake = new FakeStream((call) => (call < 2 ? 'odd-ack-lost' : 'normal'));
    const { queue } = journalOver(fake);
    const result = await queue.append(new Uint8Array([9, 9]), undefined);
    assert.deepEqual(result, { begin: 0, end: 2 });
    assert.equal(fake.calls.length, 3);
    assert.equal(new Set(fake.calls.map((call) => call.msgID)).size, 1);
    assert.deepEqual(
      fake.calls.map((call) => call.expect),
      [0, 0, 0],
    );
    assert.equal(fake.messages.length, 1, 'stored once');
  });

  it("an odd ack while another writer's message holds expect+1 is a fence: re-planned after it", async function () {
    const fake = new FakeStream((call) => (call === 0 ? 'odd-ack-lost' : 'normal'));
    const { queue } = journalOver(fake);
    // Another writer appended 5 bytes, unknown to this one (its tip is still the empty stream).
    fake.appendForeign(0, 5);
    const result = await queue.append(new Uint8Array([1, 2]), undefined);
    assert.deepEqual(result, { begin: 5, end: 7 }, 'lands after the other writer');
    assert.deepEqual(
      fake.calls.map((call) => call.expect),
      [0, 1],
    );
    assert.notEqual(fake.calls[0]?.msgID, fake.calls[1]?.msgID, 'a new attempt, a new msg id');
  });

  it('odd acks until the deadline with nothing stored fail the append, never acknowledge it', async function () {
    const fake = new FakeStream(() => 'odd-ack-lost');
    const { queue } = journalOver(fake, 300);
    await assert.rejects(queue.append(new Uint8Array([1]), undefined), (error: unknown) => {
      assert.ok(error instanceof JournalWriteError);
      assert.match(error.message, /may or may not have committed/);
      assert.match(error.message, /naming sequence 0 \(duplicate\) while sequence 1 is empty/);
      return true;
    });
    assert.equal(fake.messages.length, 0);
    assert.ok(fake.calls.length > 1, 'published again meanwhile');
  });
});
