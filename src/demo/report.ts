/** Rendering the demo's story: wrapped lines, counts, authors, skips, and the failure verdict. */
import type { PlayStats } from '../player.js';
import type { DemoResult } from './options.js';

/** Greedy word wrap, keeping a line's leading indentation on its continuation lines. */
export function wrap(text: string, width: number): string[] {
  const indent = /^ */.exec(text)![0];
  const hanging = /^ *(\d+\. )?/.exec(text)![0].replace(/./g, ' ');
  const words = text.slice(indent.length).split(' ');
  const lines: string[] = [];
  let line = indent;
  for (const word of words) {
    const candidate = line.trim() === '' ? line + word : `${line} ${word}`;
    if (candidate.length > width && line.trim() !== '') {
      lines.push(line);
      line = hanging + word;
    } else {
      line = candidate;
    }
  }
  lines.push(line);
  return lines;
}

/** Records `problem` as the reason verification failed, and says so. */
export function fail(
  result: DemoResult,
  print: (line: string) => void,
  problem: string,
): DemoResult {
  result.problem = problem;
  print('');
  print(`FAILED: ${problem}`);
  return result;
}

export function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function hexAuthor(author: number): string {
  return `0x${author.toString(16).padStart(8, '0')}`;
}

export function describeSkips(stats: PlayStats): string {
  const parts = Object.entries(stats.opsSkipped)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([reason, n]) => `${n} ${reason}`);
  return parts.length === 0 ? 'none skipped' : `skipped ${parts.join(', ')}`;
}
