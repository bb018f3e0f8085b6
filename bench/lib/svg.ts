/**
 * A hand-written SVG chart of a bench report (no dependencies). Pure: returns a string.
 *
 * One horizontal bar per result, all drawn against ONE vertical reference line: the row's target
 * threshold (or parity, 1.0, for a ratio without a target). A bar that ends right of the line is
 * above its threshold; whether that is good depends on the target's direction, so colour says
 * met (green) or missed (red), grey when there is no target. Values are labelled in the row's
 * own unit, so a reader needs no axis.
 */
import {
  formatNumber,
  formatParams,
  meets,
  targetedFigure,
  type BenchReport,
  type BenchResult,
  type Target,
} from './report.js';

const WIDTH = 1100;
const ROW = 28;
const TOP = 86;
const LABEL_X = 12;
const BAR_X0 = 330;
const BAR_X1 = 730;
/** The reference line sits in the middle: bars up to twice the threshold fit. */
const REF_X = (BAR_X0 + BAR_X1) / 2;
const MAX_SCALE = (BAR_X1 - BAR_X0) / (REF_X - BAR_X0);

export interface ChartRow {
  label: string;
  /** Figure plotted, in multiples of the reference (1 = on the line). */
  scaled: number;
  /** Text right of the bar. */
  valueText: string;
  state: 'met' | 'missed' | 'none';
  lowerIsBetter: boolean;
}

/**
 * Chooses what each result's bar shows. Charted: results with a target, and peer comparisons
 * (against parity). The other rows (intermediate sizes, the concurrency-1 point, ...) stay in
 * the table, so the chart stays readable at a glance.
 */
export function chartRows(results: readonly BenchResult[]): ChartRow[] {
  const rows: ChartRow[] = [];
  for (const r of results) {
    const target = pickTarget(r);
    if (!target && !r.name.startsWith('peer-')) continue;
    const figure = target ? targetedFigure(r, target) : r.ratio;
    if (figure === null || !Number.isFinite(figure)) continue;
    const reference = target ? target.threshold : 1;
    if (!(reference > 0)) continue;
    const params = r.label === undefined ? formatParams(r.params) : '';
    const plotted =
      target?.on === 'value' ? `${formatNumber(r.value)} ${r.unit}` : `${formatNumber(figure)}x`;
    const extra =
      target?.on === 'ratio' || (!target && r.ratio !== null)
        ? ` (${formatNumber(r.value)} ${r.unit})`
        : '';
    const aim = target
      ? `  aim ${target.op} ${formatNumber(target.threshold)}`
      : '  vs peer (>1: we are faster)';
    rows.push({
      label: r.label ?? (params ? `${r.name}  ${params}` : r.name),
      scaled: figure / reference,
      valueText: `${plotted}${extra}${aim}`,
      state: target ? (meets(target, figure) ? 'met' : 'missed') : 'none',
      lowerIsBetter: target?.op === '<=',
    });
  }
  return rows;
}

/** The target a bar shows: a ratio target when there is one (ratios are what to read). */
function pickTarget(r: BenchResult): Target | undefined {
  const ts = r.targets ?? [];
  return ts.find((t) => t.on === 'ratio') ?? ts[0];
}

const COLOURS = { met: '#2e7d32', missed: '#c62828', none: '#78909c' } as const;

export function renderSvg(report: BenchReport): string {
  const rows = chartRows(report.results);
  const height = TOP + rows.length * ROW + 48;
  const p = report.env.physical;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="ui-sans-serif, system-ui, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    text(LABEL_X, 22, `recoverylog bench${report.env.quick ? ' (--quick)' : ''}`, {
      size: 16,
      weight: 'bold',
    }),
    text(
      LABEL_X,
      42,
      `node ${report.env.node}, ${report.env.cpus} x ${report.env.cpu}, ${report.env.disk.fsType} on ${report.env.disk.device}; ${report.env.startedAt}`,
      { fill: '#555' },
    ),
    text(
      LABEL_X,
      60,
      `physical limits (same run): fdatasync ${formatNumber(p.fdatasyncLatencyMs)} ms, sequential write ${formatNumber(p.seqWriteMBps)} MB/s, read ${formatNumber(p.seqReadMBps)} MB/s`,
      { fill: '#555' },
    ),
    text(
      REF_X,
      TOP - 8,
      'line = target (or parity 1.0); green met, red missed, grey no target; ↓ lower is better',
      { anchor: 'middle', fill: '#555', size: 11 },
    ),
  );
  rows.forEach((row, i) => {
    const y = TOP + i * ROW;
    const clipped = row.scaled > MAX_SCALE;
    const len = Math.max(1, (Math.min(row.scaled, MAX_SCALE) / MAX_SCALE) * (BAR_X1 - BAR_X0));
    if (i % 2 === 0) {
      out.push(`<rect x="0" y="${y}" width="${WIDTH}" height="${ROW}" fill="#f5f7f8"/>`);
    }
    out.push(
      text(LABEL_X, y + 18, truncate(`${row.lowerIsBetter ? '↓ ' : ''}${row.label}`, 48)),
      `<rect x="${BAR_X0}" y="${y + 6}" width="${len.toFixed(1)}" height="${ROW - 12}" fill="${COLOURS[row.state]}" rx="2"/>`,
    );
    if (clipped) {
      out.push(text(BAR_X1 - 4, y + 18, '»', { anchor: 'end', fill: '#fff', weight: 'bold' }));
    }
    out.push(text(BAR_X1 + 8, y + 18, row.valueText, { size: 11 }));
  });
  const lineBottom = TOP + rows.length * ROW;
  out.push(
    `<line x1="${REF_X}" y1="${TOP - 2}" x2="${REF_X}" y2="${lineBottom + 2}" stroke="#111" stroke-width="1.5" stroke-dasharray="4 3"/>`,
    `<line x1="${BAR_X0}" y1="${TOP - 2}" x2="${BAR_X0}" y2="${lineBottom + 2}" stroke="#999"/>`,
    text(BAR_X0, lineBottom + 18, '0', { anchor: 'middle', fill: '#555', size: 11 }),
    text(REF_X, lineBottom + 18, '1x target', { anchor: 'middle', fill: '#555', size: 11 }),
    text(BAR_X1, lineBottom + 18, `${formatNumber(MAX_SCALE)}x`, {
      anchor: 'middle',
      fill: '#555',
      size: 11,
    }),
    text(LABEL_X, lineBottom + 38, `command: ${report.env.command}`, { fill: '#555', size: 11 }),
  );
  if (report.failures.length > 0) {
    out.push(
      text(
        WIDTH / 2,
        lineBottom + 38,
        `failed: ${report.failures.map((f) => f.scenario).join(', ')}`,
        { fill: COLOURS.missed, size: 11 },
      ),
    );
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

interface TextStyle {
  size?: number;
  weight?: string;
  fill?: string;
  anchor?: 'start' | 'middle' | 'end';
}

function text(x: number, y: number, s: string, style: TextStyle = {}): string {
  const attrs = [
    `x="${x}"`,
    `y="${y}"`,
    style.size ? `font-size="${style.size}"` : '',
    style.weight ? `font-weight="${style.weight}"` : '',
    style.fill ? `fill="${style.fill}"` : '',
    style.anchor ? `text-anchor="${style.anchor}"` : '',
  ].filter((a) => a !== '');
  return `<text ${attrs.join(' ')}>${escapeXml(s)}</text>`;
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

export function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
