/**
 * Repetition discipline: warm-up runs first (JIT, page cache, file-system allocation), then
 * several measured runs. Ours and the baseline run back to back inside each repetition, in
 * alternating order, so that a noisy neighbour or a slow drift hits both sides of a ratio.
 */
import { summarize, type Summary } from './stats.js';

export interface RunPlan {
  warmup: number;
  runs: number;
}

/** Seconds taken by `fn` (monotonic clock). */
export async function timed(fn: () => Promise<void> | void): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Runs `fn` plan.warmup + plan.runs times; summarises the figures of the measured runs. */
export async function measure(
  plan: RunPlan,
  fn: (run: number) => Promise<number>,
): Promise<Summary> {
  for (let i = 0; i < plan.warmup; i++) await fn(-1 - i);
  const samples: number[] = [];
  for (let i = 0; i < plan.runs; i++) samples.push(await fn(i));
  return summarize(samples);
}

export interface PairedSummary {
  ours: Summary;
  baseline: Summary;
  /** Summary of the per-repetition ratios (ratioOf(ours, baseline) of each repetition). */
  ratio: Summary;
}

/**
 * Measures ours and a baseline side by side. Each callback returns its figure for one run (a
 * rate, a duration, ...); `ratioOf` turns one repetition's pair into the reported ratio.
 */
export async function measurePaired(
  plan: RunPlan,
  ours: (run: number) => Promise<number>,
  baseline: (run: number) => Promise<number>,
  ratioOf: (ours: number, baseline: number) => number,
): Promise<PairedSummary> {
  const o: number[] = [];
  const b: number[] = [];
  const r: number[] = [];
  for (let i = -plan.warmup; i < plan.runs; i++) {
    let x: number;
    let y: number;
    // Alternate who goes first: the second side of a pair inherits the first one's dirty pages
    // and writeback, which would otherwise always tax the same side.
    if ((i & 1) === 0) {
      x = await ours(i);
      y = await baseline(i);
    } else {
      y = await baseline(i);
      x = await ours(i);
    }
    if (i < 0) continue;
    o.push(x);
    b.push(y);
    r.push(ratioOf(x, y));
  }
  return { ours: summarize(o), baseline: summarize(b), ratio: summarize(r) };
}

/** Gives the collector a chance between runs when node runs with --expose-gc. */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
}
