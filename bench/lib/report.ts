/**
 * The result model shared by scenarios, the JSON file, the table and the chart. Pure.
 *
 * A result is one figure: `value` (median of several runs) in `unit`, the `baseline` it is
 * compared with (measured in the same run, interleaved with ours), and `ratio`. Ratios are what
 * to read: absolute figures drift on shared machines, ratios measured side by side hold.
 */

/** JSON-serialisable scenario parameters (sizes, concurrency, ...). */
export type ParamValue = string | number | boolean | readonly number[];
export type Params = Readonly<Record<string, ParamValue>>;

export type Comparison = '>=' | '<=';

/** An aim, not an assertion: the bench reports whether it is met and never fails on it. */
export interface Target {
  /** Which figure the threshold applies to. */
  /** `max`: the largest run's value, for a bound every run must keep (not just the median). */
  on: 'value' | 'ratio' | 'max';
  op: Comparison;
  threshold: number;
}

export interface BenchResult {
  name: string;
  /** Short human label for the chart (name plus the one parameter that tells rows apart). */
  label?: string;
  /** Median over runs. */
  value: number;
  unit: string;
  /** Median baseline figure in the same unit as `value`; null where the figure is absolute. */
  baseline: number | null;
  /** Median of the per-run ratios (ours / baseline, see `ratioMeaning`); null without baseline. */
  ratio: number | null;
  params: Params;
  /** Smallest and largest of the runs behind `value`. */
  min: number;
  max: number;
  runs: number;
  /** What the baseline is, in words (e.g. "raw fs writes of the same bytes + one fdatasync"). */
  baselineLabel?: string;
  /** Spread of the per-run ratios. */
  ratioMin?: number;
  ratioMax?: number;
  /** Aims for this figure (some scenarios have two, e.g. an absolute rate and a ratio). */
  targets?: readonly Target[];
  /** Whether every target is met; absent without targets. */
  met?: boolean;
}

export interface PhysicalLimits {
  /** Median latency of a 100-byte write followed by fdatasync, in milliseconds. */
  fdatasyncLatencyMs: number;
  /** Sequential write with fdatasync at the end, decimal MB/s. */
  seqWriteMBps: number;
  /** Sequential read of a just-written file (page cache warm, as playback of a fresh log). */
  seqReadMBps: number;
}

export interface BenchEnv {
  node: string;
  platform: string;
  arch: string;
  cpu: string;
  cpus: number;
  memoryMiB: number;
  disk: { tmpdir: string; device: string; fsType: string };
  physical: PhysicalLimits;
  quick: boolean;
  startedAt: string;
  durationSeconds: number;
  command: string;
}

export interface ScenarioFailure {
  scenario: string;
  message: string;
}

export interface BenchReport {
  env: BenchEnv;
  results: BenchResult[];
  /** Scenarios that threw; the rest of the report is still valid. */
  failures: ScenarioFailure[];
  /** Wall-clock seconds per scenario (setup, warm-up and baselines included). */
  scenarioSeconds?: Record<string, number>;
}

/** The figure a target applies to (null when the result has no ratio). */
export function targetedFigure(
  r: Pick<BenchResult, 'value' | 'ratio' | 'max'>,
  t: Target,
): number | null {
  return t.on === 'value' ? r.value : t.on === 'max' ? r.max : r.ratio;
}

/** Whether `x` meets `t`. */
export function meets(t: Target, x: number): boolean {
  return t.op === '>=' ? x >= t.threshold : x <= t.threshold;
}

/**
 * Whether `r` meets all its targets: undefined when it has none; false when a targeted figure
 * is missing (a ratio that could not be computed does not count as met).
 */
export function meetsTargets(
  r: Pick<BenchResult, 'value' | 'ratio' | 'max' | 'targets'>,
): boolean | undefined {
  if (!r.targets || r.targets.length === 0) return undefined;
  return r.targets.every((t) => {
    const x = targetedFigure(r, t);
    return x !== null && Number.isFinite(x) && meets(t, x);
  });
}

/** Fills in `met` from the targets. */
export function withVerdict(r: BenchResult): BenchResult {
  const met = meetsTargets(r);
  return met === undefined ? r : { ...r, met };
}

/**
 * Checks that a parsed JSON value has the report shape promised in bench/README.md. Returns a
 * list of problems (empty when valid), so a test or a CI step can print all of them at once.
 */
export function reportShapeProblems(x: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(x)) return ['report is not an object'];
  const env = x['env'];
  if (!isObject(env)) problems.push('env is missing or not an object');
  else {
    for (const k of ['node', 'cpu', 'platform'] as const) {
      if (typeof env[k] !== 'string') problems.push(`env.${k} is not a string`);
    }
    if (!isObject(env['disk'])) problems.push('env.disk is not an object');
    const phys = env['physical'];
    if (!isObject(phys)) problems.push('env.physical is not an object');
    else {
      for (const k of ['fdatasyncLatencyMs', 'seqWriteMBps', 'seqReadMBps'] as const) {
        if (!isFiniteNumber(phys[k])) problems.push(`env.physical.${k} is not a finite number`);
      }
    }
  }
  const results = x['results'];
  if (!Array.isArray(results)) {
    problems.push('results is not an array');
    return problems;
  }
  results.forEach((r: unknown, i) => {
    const at = `results[${i}]`;
    if (!isObject(r)) {
      problems.push(`${at} is not an object`);
      return;
    }
    if (typeof r['name'] !== 'string' || r['name'] === '') problems.push(`${at}.name is empty`);
    if (!isFiniteNumber(r['value'])) problems.push(`${at}.value is not a finite number`);
    if (typeof r['unit'] !== 'string') problems.push(`${at}.unit is not a string`);
    for (const k of ['baseline', 'ratio'] as const) {
      if (!(k in r)) problems.push(`${at}.${k} is missing (use null when there is none)`);
      else if (r[k] !== null && !isFiniteNumber(r[k])) {
        problems.push(`${at}.${k} is neither null nor a finite number`);
      }
    }
    if (r['baseline'] === null && r['ratio'] !== null && r['ratio'] !== undefined) {
      problems.push(`${at} has a ratio but no baseline`);
    }
    if (!isObject(r['params'])) problems.push(`${at}.params is not an object`);
    if (isFiniteNumber(r['min']) && isFiniteNumber(r['max']) && isFiniteNumber(r['value'])) {
      if (!(r['min'] <= r['value'] && r['value'] <= r['max'])) {
        problems.push(`${at}: value is not within [min, max]`);
      }
    } else problems.push(`${at}.min/max are not finite numbers`);
  });
  if (!Array.isArray(x['failures'])) problems.push('failures is not an array');
  return problems;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isFiniteNumber(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

/** Compact human rendering of a number: 3 significant digits, thousands grouped. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  if (abs >= 1000) return Math.round(x).toLocaleString('en-US');
  if (abs >= 100) return x.toFixed(0);
  if (abs >= 10) return x.toFixed(1);
  if (abs >= 1) return x.toFixed(2);
  if (abs === 0) return '0';
  return x.toPrecision(2);
}

export function formatParams(p: Params): string {
  return Object.entries(p)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('/') : String(v)}`)
    .join(' ');
}

export function formatTargets(ts: readonly Target[] | undefined): string {
  return (ts ?? []).map((t) => `${t.on} ${t.op} ${formatNumber(t.threshold)}`).join(', ');
}

/** A fixed-width text table of the results, one line per figure. */
export function formatTable(results: readonly BenchResult[]): string {
  const header = ['scenario', 'params', 'value', 'unit', 'baseline', 'ratio', 'target', 'met'];
  const rows = results.map((r) => [
    r.name,
    formatParams(r.params),
    formatNumber(r.value),
    r.unit,
    r.baseline === null ? '-' : formatNumber(r.baseline),
    r.ratio === null ? '-' : formatNumber(r.ratio),
    formatTargets(r.targets),
    r.met === undefined ? '' : r.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const numeric = new Set([2, 4, 5]);
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The same table as GitHub markdown, for bench/README.md. */
export function formatMarkdownTable(results: readonly BenchResult[]): string {
  const out = [
    '| scenario | params | value | unit | baseline | ratio | target | met |',
    '|---|---|--:|---|--:|--:|---|---|',
  ];
  for (const r of results) {
    out.push(
      `| ${r.name} | ${formatParams(r.params)} | ${formatNumber(r.value)} | ${r.unit} | ${
        r.baseline === null ? '-' : formatNumber(r.baseline)
      } | ${r.ratio === null ? '-' : formatNumber(r.ratio)} | ${formatTargets(r.targets)} | ${
        r.met === undefined ? '' : r.met ? 'yes' : '**no**'
      } |`,
    );
  }
  return out.join('\n');
}
