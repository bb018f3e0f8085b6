/** What `play` prints about a playback: warnings (capped) while it runs, one summary line after. */
import type { PlaybackWarning, PlayResult, PlayStats } from '../player.js';
import type { Author } from '../wire/types.js';

const MAX_WARNINGS_SHOWN = 20;

/**
 * Prints the first warnings of a playback to stderr (`beforeEach` clears the progress bar so a
 * warning gets a line of its own) and, at `finish`, how many more there were.
 */
export class WarningPrinter {
  #count = 0;
  readonly #beforeEach: () => void;

  constructor(beforeEach: () => void) {
    this.#beforeEach = beforeEach;
  }

  print(w: PlaybackWarning): void {
    this.#count += 1;
    if (this.#count <= MAX_WARNINGS_SHOWN) {
      this.#beforeEach();
      process.stderr.write(`warning: ${w.log} at offset ${w.offset}: ${w.message}\n`);
    }
  }

  finish(): void {
    if (this.#count > MAX_WARNINGS_SHOWN) {
      process.stderr.write(`(${this.#count - MAX_WARNINGS_SHOWN} more warnings not shown)\n`);
    }
  }
}

/** The one-line summary printed after a successful play. */
export function playSummary(
  result: PlayResult,
  journalBytes: number,
  handoff: Author | undefined,
): string {
  const s: PlayStats = result.stats;
  const skipped = Object.entries(s.opsSkipped)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([reason, n]) => `${reason} ${n}`);
  const skippedTotal = Object.values(s.opsSkipped).reduce<number>((a, n) => a + (n ?? 0), 0);
  return (
    `played ${result.log} into ${result.dir}: ${s.opsApplied} ops applied, ` +
    `${skippedTotal} skipped${skipped.length > 0 ? ` (${skipped.join(', ')})` : ''}, ` +
    `${s.bytesRead} of ${journalBytes} journal bytes read, ${s.files} files, ` +
    `${s.seconds.toFixed(3)} s` +
    (handoff !== undefined ? `, hand-off by author ${handoff}` : '')
  );
}
