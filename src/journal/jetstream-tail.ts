/**
 * Tailing a JetStream journal for blocked readers: while any read waits for bytes beyond the
 * head, an ordered consumer delivers new messages from the known tip on (about 2 ms after they
 * are stored) into the part cache and moves the tip, which wakes the readers. A poll of the
 * leader's last message keeps readers going while the consumer is down (an election, a lost
 * connection). The tail lingers a little after the last waiter left: a reader that waits again
 * soon (a Player tailing) keeps its consumer.
 */
import type { ConsumerMessages } from '@nats-io/jetstream';
import { backoffMs, sleep } from './jetstream-errors.js';
import { tipOf } from './jetstream-parts.js';
import { partOfMessage } from './jetstream-read-ahead.js';
import type { JournalStream } from './jetstream-stream.js';

const TAIL_LINGER_MS = 2000;
const TAIL_POLL_MS = 1000;

export class JournalTail {
  private running = false;
  private messages: ConsumerMessages | undefined;
  private poll: NodeJS.Timeout | undefined;
  private lingering: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: JournalStream,
    /** Whether any reader still waits (checked when the linger ends). */
    private readonly waiting: () => boolean,
  ) {}

  /** A reader started waiting: tail (again), or keep tailing. */
  start(): void {
    if (this.lingering !== undefined) {
      clearTimeout(this.lingering);
      this.lingering = undefined;
    }
    if (this.running || this.stream.closed) return;
    this.running = true;
    this.poll = setInterval(() => {
      this.stream.refreshTip(true).catch(() => undefined);
    }, TAIL_POLL_MS);
    void this.loop();
  }

  /** The last reader stopped waiting: stop after a while unless one waits again. */
  linger(): void {
    if (this.lingering !== undefined) return;
    this.lingering = setTimeout(() => {
      this.lingering = undefined;
      if (!this.waiting()) this.stop();
    }, TAIL_LINGER_MS);
    this.lingering.unref();
  }

  stop(): void {
    if (this.lingering !== undefined) clearTimeout(this.lingering);
    this.lingering = undefined;
    if (this.poll !== undefined) clearInterval(this.poll);
    this.poll = undefined;
    this.running = false;
    this.messages?.stop();
    this.messages = undefined;
  }

  /** An ordered consumer from the known tip on: parts land in the cache, commits wake readers. */
  private async loop(): Promise<void> {
    const { session, location } = this.stream;
    const { DeliverPolicy } = session.modules.jetstream;
    let attempt = 0;
    while (this.running && !this.stream.closed) {
      try {
        const consumer = await session.js.consumers.get(location.stream, {
          filter_subjects: location.subject,
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: this.stream.tip.seq + 1,
        });
        if (!this.running) break;
        const messages = await consumer.consume({ max_messages: 256 });
        this.messages = messages;
        if (!this.running) messages.stop();
        for await (const message of messages) {
          attempt = 0;
          const part = partOfMessage(message.seq, message.headers, message.data);
          if (typeof part === 'string') continue; // reads report it with its sequence
          this.stream.remember(part);
          this.stream.advanceTip(tipOf(part));
        }
      } catch {
        // An election or a lost connection; the poll keeps readers going meanwhile.
      }
      if (!this.running || this.stream.closed) break;
      await sleep(backoffMs(attempt));
      attempt += 1;
    }
  }
}
