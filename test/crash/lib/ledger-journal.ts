/**
 * A Journal wrapper that tells the ledger when each recorded op's append was acknowledged.
 *
 * The harness labels every Recorder call with the SeqNos it produced (the FSM's nextSeqNo
 * before and after the call). Appends are matched to labels by what they CARRY, not by how many
 * there were: the Recorder may put the frames of several record calls into one append (all
 * calls of one synchronous run), so this wrapper decodes every non-empty append it is handed and
 * reads the SeqNos of its frames. An append that resolved is durable by the Journal contract
 * (that, not a later barrier, is the acknowledgement I2 holds the recovery to), and so is every
 * label it carried; an append that failed fails the labels it carried.
 *
 * The mapping stays strict, so a Recorder that behaves differently from what the harness assumes
 * shows up as a `problems` entry instead of a wrong acknowledgement: a frame that no label
 * claims, a label whose ops are split over two appends, a frame of another author, bytes that do
 * not decode as whole frames (each Write followed by its payload).
 */
import type {
  AppendOptions,
  AppendResult,
  Journal,
  ReadOptions,
  ReadResult,
  Registers,
} from '../../../src/journal/journal.js';
import { decodeRecordedOp } from '../../../src/wire/codec.js';
import { FrameDecoder } from '../../../src/wire/framing.js';
import type { Author } from '../../../src/wire/types.js';

export interface AppendLabel {
  /** History index, or rejected-list index for a zombie's op. */
  readonly index: number;
  readonly kind: 'history' | 'zombie';
}

export interface LedgerJournalEvents {
  /** Clock reading (e.g. storage events so far). */
  clock(): number;
  acked(label: AppendLabel, at: number, result: AppendResult): void;
  failed(label: AppendLabel, error: unknown): void;
}

/** A label and the SeqNos [first, end) of the ops its record call produced. */
interface Expected {
  readonly label: AppendLabel;
  readonly first: number;
  readonly end: number;
}

/** The SeqNos an append carries, in order, or why its bytes are not what the Recorder makes. */
type Carried = { ok: true; seqNos: number[] } | { ok: false; why: string };

export class LedgerJournal implements Journal {
  readonly #inner: Journal;
  readonly #events: LedgerJournalEvents;
  readonly #author: Author;
  /** Labels (in SeqNo order) whose ops have not been seen in an append yet. */
  readonly #expected: Expected[] = [];
  /**
   * Where the ledger and the appends disagree (empty while the harness' model of the Recorder
   * holds). Callers turn an entry into a harness error: acknowledgements are off from there on.
   */
  readonly problems: string[] = [];

  /** `author`: the writer whose Recorder appends through this wrapper (every frame carries it). */
  constructor(inner: Journal, author: Author, events: LedgerJournalEvents) {
    this.#inner = inner;
    this.#author = author;
    this.#events = events;
  }

  get name(): string {
    return this.#inner.name;
  }

  /**
   * Labels the record call that produced SeqNos [first, end) (`first` = the FSM's nextSeqNo
   * before the call, `end` = after it). Call it once the call returned, before its append is
   * issued (the Recorder issues appends at the end of the synchronous run, or at a barrier).
   */
  expect(label: AppendLabel, first: number, end: number): void {
    const last = this.#expected.at(-1);
    if (end < first || (last !== undefined && first < last.end)) {
      this.problems.push(
        `label ${describeLabel(label)} claims SeqNos [${first}, ${end}), out of order with the labels before it`,
      );
      return;
    }
    this.#expected.push({ label, first, end });
  }

  append(data: Uint8Array | readonly Uint8Array[], options?: AppendOptions): Promise<AppendResult> {
    const chunks = data instanceof Uint8Array ? [data] : data;
    const size = chunks.reduce((n, c) => n + c.length, 0);
    const carried = size > 0 ? this.#labelsOf(chunks) : [];
    const appended = this.#inner.append(data, options);
    if (carried.length > 0) {
      appended.then(
        (result) => {
          const at = this.#events.clock();
          for (const label of carried) this.#events.acked(label, at, result);
        },
        (error: unknown) => {
          for (const label of carried) this.#events.failed(label, error);
        },
      );
    }
    return appended;
  }

  read(offset: number, options: ReadOptions): Promise<ReadResult> {
    return this.#inner.read(offset, options);
  }

  head(): Promise<number> {
    return this.#inner.head();
  }

  registers(): Promise<Registers> {
    return this.#inner.registers();
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  /**
   * The labels a non-empty append carries: every pending label up to the highest SeqNo in it
   * (a label whose call produced no op rides along with the next append). Records a problem
   * when the append's ops and the labels do not line up one to one.
   */
  #labelsOf(chunks: readonly Uint8Array[]): AppendLabel[] {
    const carried = carriedSeqNos(chunks, this.#author);
    if (!carried.ok) {
      this.problems.push(`an append the harness cannot read: ${carried.why}`);
      return [];
    }
    const { seqNos } = carried;
    const highest = Math.max(...seqNos);
    let n = 0;
    while (n < this.#expected.length && this.#expected[n]!.first <= highest) n++;
    const labels = this.#expected.splice(0, n);
    const claimed = new Set<number>();
    for (const { label, first, end } of labels) {
      for (let seqNo = first; seqNo < end; seqNo++) claimed.add(seqNo);
      if (end - 1 > highest) {
        this.problems.push(
          `the ops of ${describeLabel(label)} (SeqNos [${first}, ${end})) were split over appends`,
        );
      }
    }
    const unclaimed = seqNos.filter((seqNo) => !claimed.delete(seqNo));
    if (unclaimed.length > 0) {
      this.problems.push(
        `an append carried SeqNos ${unclaimed.join(', ')}, which no pending label claims`,
      );
    }
    const missing = [...claimed].filter((seqNo) => seqNo <= highest);
    if (missing.length > 0) {
      this.problems.push(`labelled SeqNos ${missing.join(', ')} never reached the journal`);
    }
    return labels.map((expected) => expected.label);
  }
}

/** Decodes an append the Recorder made: whole frames, each Write followed by its payload. */
function carriedSeqNos(chunks: readonly Uint8Array[], author: Author): Carried {
  const decoder = new FrameDecoder();
  for (const chunk of chunks) decoder.push(chunk);
  decoder.end();
  const seqNos: number[] = [];
  try {
    for (;;) {
      const event = decoder.next();
      if (event === undefined || event.type === 'eof') break;
      if (event.type === 'garbage') {
        return { ok: false, why: `${event.bytes.length} bytes of garbage at ${event.offset}` };
      }
      const op = decodeRecordedOp(event.payload);
      if (op.author !== author) {
        return { ok: false, why: `SeqNo ${op.seqNo} is by author ${op.author}, not ${author}` };
      }
      seqNos.push(op.seqNo);
      if (op.write !== undefined) decoder.takeRaw(op.write.length);
    }
  } catch (error) {
    return { ok: false, why: error instanceof Error ? error.message : String(error) };
  }
  if (decoder.buffered() > 0) {
    return { ok: false, why: `${decoder.buffered()} trailing bytes after the last frame` };
  }
  if (seqNos.length === 0) return { ok: false, why: 'no frames' };
  return { ok: true, seqNos };
}

function describeLabel(label: AppendLabel): string {
  return `${label.kind} op ${label.index}`;
}
