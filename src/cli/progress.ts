/**
 * A one-line progress bar for long CLI operations. It draws only on a TTY (so piped or captured
 * stderr stays clean, and tests see exactly the summary lines) and only once an operation has
 * run long enough to be worth watching.
 */

/** Where the bar is drawn: a writable stream that may be a terminal. */
export interface ProgressStream {
  write(text: string): boolean;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface ProgressOptions {
  /** Words before the bar, e.g. "playing app/log". */
  label: string;
  /** The amount that means 100 %, e.g. bytes to read; 0 or undefined draws a counter only. */
  total?: number;
  /** Default: process.stderr. */
  stream?: ProgressStream;
  /** Draw nothing until this many ms have passed (short runs stay silent). Default 500. */
  delayMs?: number;
  /** Minimum ms between redraws. Default 100. */
  intervalMs?: number;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
  /** Draw even when the stream is not a TTY (tests). Default false. */
  force?: boolean;
}

export interface Progress {
  /** Reports `done` units of `total` (monotonic; larger totals may be set later). */
  update(done: number, total?: number): void;
  /** Erases the bar, leaving the line free for a summary. Idempotent. */
  finish(): void;
}

const BAR_WIDTH_MAX = 40;

export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const enabled = options.force === true || stream.isTTY === true;
  if (!enabled) return { update() {}, finish() {} };

  const now = options.now ?? Date.now;
  const started = now();
  const delayMs = options.delayMs ?? 500;
  const intervalMs = options.intervalMs ?? 100;
  let total = options.total ?? 0;
  let lastDraw = -Infinity;
  let drawn = false;
  let finished = false;

  return {
    update(done: number, newTotal?: number): void {
      if (finished) return;
      if (newTotal !== undefined) total = newTotal;
      const t = now();
      if (t - started < delayMs || t - lastDraw < intervalMs) return;
      lastDraw = t;
      drawn = true;
      const line = renderProgressLine(options.label, done, total, (t - started) / 1000);
      const width = stream.columns ?? 80;
      stream.write(`\r${line.slice(0, Math.max(10, width - 1))}\x1b[K`);
    },
    finish(): void {
      if (finished) return;
      finished = true;
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}

/** The text of one progress line (pure, so it can be tested without a terminal). */
export function renderProgressLine(
  label: string,
  done: number,
  total: number,
  seconds: number,
): string {
  const rate = seconds > 0 ? done / seconds : 0;
  if (total > 0) {
    const fraction = Math.min(1, Math.max(0, done / total));
    const filled = Math.round(fraction * BAR_WIDTH_MAX);
    const bar = '#'.repeat(filled) + '-'.repeat(BAR_WIDTH_MAX - filled);
    const percent = (fraction * 100).toFixed(1).padStart(5);
    return `${label} [${bar}] ${percent}% ${formatBytes(done)}/${formatBytes(total)} ${formatBytes(rate)}/s`;
  }
  return `${label} ${formatBytes(done)} ${formatBytes(rate)}/s`;
}

/** Human-readable byte count: 1536 -> "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${Math.round(value)} ${units[0]}` : `${value.toFixed(1)} ${units[unit]}`;
}
