/**
 * Summary statistics for repeated measurements. Pure: no I/O, no clocks.
 *
 * The bench reports medians because shared machines produce occasional huge outliers (another
 * tenant's fsync storm); a mean would let one of those move the figure, a median does not.
 */

export interface Summary {
  median: number;
  min: number;
  max: number;
  /** Number of samples summarised. */
  n: number;
}

export class EmptySampleError extends Error {
  constructor(what: string) {
    super(`cannot summarise ${what}: no samples (did every run fail or was runs set to 0?)`);
    this.name = 'EmptySampleError';
  }
}

/** Median of finite numbers; the mean of the two middle values for an even count. */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) throw new EmptySampleError('a median');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new EmptySampleError('a sample');
  for (const s of samples) {
    if (!Number.isFinite(s)) throw new RangeError(`sample ${s} is not a finite number`);
  }
  return {
    median: median(samples),
    min: Math.min(...samples),
    max: Math.max(...samples),
    n: samples.length,
  };
}

/**
 * Least-squares slope of ys against xs. Used by the scaling scenario: cost per byte plotted
 * against log size should have a slope near zero.
 */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length) {
    throw new RangeError(`slope needs as many xs (${xs.length}) as ys (${ys.length})`);
  }
  if (xs.length < 2) throw new RangeError('slope needs at least two points');
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  if (den === 0) throw new RangeError('slope needs at least two distinct xs');
  return num / den;
}

/** Rate (per second) of `amount` units done in `seconds`. */
export function perSecond(amount: number, seconds: number): number {
  if (!(seconds > 0)) throw new RangeError(`elapsed time must be positive, got ${seconds}`);
  return amount / seconds;
}

/** Decimal megabytes, the unit disks are sold and `dd` reports in. */
export const MB = 1e6;
export const MiB = 1024 * 1024;
export const KiB = 1024;
