/**
 * The journals a playback reads, opened once each, and their write heads observed at start:
 * playback reads history below those heads before it believes it is at the head.
 */
import type { Journal, JournalResolver } from '../journal/journal.js';
import type { Segment } from '../wire/types.js';
import { PlayerInvariantError } from './errors.js';
import { checkSegmentsBelowHeads } from './hinted-segments.js';

export class PlaybackLogs {
  readonly #resolve: JournalResolver;
  readonly #journals = new Map<string, Journal>();
  /** Write head of each involved log when playback started (a zero-byte barrier's end). */
  readonly #heads = new Map<string, number>();

  constructor(resolve: JournalResolver) {
    this.#resolve = resolve;
  }

  async journal(name: string): Promise<Journal> {
    let journal = this.#journals.get(name);
    if (journal === undefined) {
      journal = await this.#resolve(name);
      this.#journals.set(name, journal);
    }
    return journal;
  }

  /**
   * Zero-byte barrier appends to the hints' log and every log a hinted segment names: their ends
   * are the transactional write heads at start. Hinted segments must lie below them.
   */
  async observeHeads(
    hintsLog: string,
    segments: readonly Readonly<Segment>[],
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const logs = new Set<string>([hintsLog]);
    for (const segment of segments) logs.add(segment.log);
    await Promise.all(
      [...logs].map(async (log) => {
        const journal = await this.journal(log);
        const { end } = await journal.append(new Uint8Array(0), { signal });
        this.#heads.set(log, end);
      }),
    );
    checkSegmentsBelowHeads(segments, (log) => this.head(log));
  }

  /** The write head of `log` observed at start. */
  head(log: string): number {
    const head = this.#heads.get(log);
    if (head === undefined) throw new PlayerInvariantError(`no write head observed for ${log}`);
    return head;
  }
}
