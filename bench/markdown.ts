/**
 * Prints a bench report (default bench/results/latest.json) as markdown: the command, the
 * machine, its physical limits and the results table, ready to paste into a README.
 *
 *   node --import tsx bench/markdown.ts [path/to/latest.json]
 */
import { readFileSync } from 'node:fs';
import {
  formatMarkdownTable,
  formatNumber,
  reportShapeProblems,
  type BenchReport,
} from './lib/report.js';

const path = process.argv[2] ?? new URL('./results/latest.json', import.meta.url);
const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
const problems = reportShapeProblems(parsed);
if (problems.length > 0) {
  process.stderr.write(`not a bench report:\n  ${problems.join('\n  ')}\n`);
  process.exit(1);
}
const report = parsed as BenchReport;
const e = report.env;
const p = e.physical;
process.stdout.write(
  [
    `Command: \`${e.command}\` (${e.startedAt}, ${formatNumber(e.durationSeconds)} s)`,
    '',
    `Machine: node ${e.node}, ${e.cpus} x ${e.cpu}, ${formatNumber(e.memoryMiB / 1024)} GiB RAM, ` +
      `${e.disk.fsType} on ${e.disk.device} (${e.disk.tmpdir}).`,
    '',
    `Physical limits measured in the same run: 100-byte write + fdatasync ` +
      `${formatNumber(p.fdatasyncLatencyMs)} ms (${formatNumber(1000 / p.fdatasyncLatencyMs)} syncs/s), ` +
      `sequential write + fdatasync ${formatNumber(p.seqWriteMBps)} MB/s, ` +
      `sequential read (page cache warm) ${formatNumber(p.seqReadMBps)} MB/s.`,
    '',
    formatMarkdownTable(report.results),
    '',
    ...(report.failures.length > 0
      ? [`Failed scenarios: ${report.failures.map((f) => f.scenario).join(', ')}`, '']
      : []),
  ].join('\n'),
);
