/**
 * Run-wide counters of the crash layers: crash states checked, sequences run, recoveries
 * actually executed, violations, documented gaps, and per-class coverage counters (etcd-style
 * `note()`s) so a run can fail when a crash class was never exercised.
 */
import type { Violation } from './invariants.js';

export class CrashStats {
  states = 0;
  sequences = 0;
  /** Recoveries actually run (crash states with the same disk image share one). */
  recoveries = 0;
  readonly violations: (Violation & { where: string })[] = [];
  readonly gaps = new Map<string, number>();
  readonly coverage = new Map<string, number>();
  readonly started = performance.now();
  /** Wall time spent inside measured sections, by name (ms). */
  readonly timings = new Map<string, number>();

  note(what: string, n = 1): void {
    this.coverage.set(what, (this.coverage.get(what) ?? 0) + n);
  }

  gap(what: string): void {
    this.gaps.set(what, (this.gaps.get(what) ?? 0) + 1);
  }

  violation(where: string, violations: readonly Violation[]): void {
    for (const v of violations) this.violations.push({ ...v, where });
  }

  async time<T>(section: string, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await run();
    } finally {
      this.timings.set(section, (this.timings.get(section) ?? 0) + performance.now() - started);
    }
  }

  /** Adds another run's counters (the seeded-bug suite keeps its runs out of the totals). */
  absorb(other: CrashStats): void {
    this.states += other.states;
    this.sequences += other.sequences;
    this.recoveries += other.recoveries;
    this.violations.push(...other.violations);
    for (const [k, v] of other.gaps) this.gaps.set(k, (this.gaps.get(k) ?? 0) + v);
    for (const [k, v] of other.coverage) this.coverage.set(k, (this.coverage.get(k) ?? 0) + v);
  }

  /** The run's report lines; the last is the summary line CI greps for. */
  report(label: string): string[] {
    const seconds = (performance.now() - this.started) / 1000;
    const lines: string[] = [];
    const sections = [...this.timings]
      .map(([k, ms]) => `${k} ${(ms / 1000).toFixed(1)} s`)
      .join(', ');
    lines.push(
      `${label}: ${this.states} crash states checked (${Math.round(this.states / Math.max(seconds, 1e-9))} states/s over ${seconds.toFixed(1)} s), ${this.recoveries} recoveries run${sections ? `; ${sections}` : ''}`,
    );
    if (this.coverage.size > 0) {
      lines.push(
        `${label} coverage: ${[...this.coverage]
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`,
      );
    }
    for (const [gap, n] of this.gaps)
      lines.push(`${label} known gap (not counted as a violation): ${gap} x${n}`);
    for (const v of this.violations.slice(0, 20))
      lines.push(`${label} VIOLATION ${v.invariant} [${v.where}]: ${v.message}`);
    lines.push(
      `${label}: ${this.states} crash states, ${this.sequences} sequences, ${this.violations.length} violations`,
    );
    return lines;
  }
}
