/**
 * Summarises V8 .cpuprofile files (from `node --cpu-prof`): the functions with the most self
 * time and the most total (inclusive) time, with file:line, so a missed bench target leads
 * straight to the hot path. Line numbers are exact for built JS with source maps (they are
 * mapped back to the .ts sources); under tsx V8 only sees transformed code. So, to profile:
 *
 *   npx tsc -p tsconfig.test.json --noEmit false --outDir node_modules/.bench-build --sourceMap
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof node_modules/.bench-build/bench/main.js \
 *     --quick --only record-small-ops --out /tmp/prof/results
 *   node --import tsx bench/profile-summary.ts /tmp/prof/*.cpuprofile [--top 25] [--filter src/]
 */
import { readFileSync } from 'node:fs';
import { hotSpots, type CpuProfile } from './lib/profile.js';

function main(): void {
  const args = process.argv.slice(2);
  let top = 25;
  let filter = '';
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--top') top = Number(args[++i]);
    else if (args[i] === '--filter') filter = args[++i] ?? '';
    else files.push(args[i]!);
  }
  for (const file of files) {
    const spots = hotSpots(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
    const all = spots.reduce((a, s) => a + s.selfMs, 0);
    const shown = spots.filter((s) => s.where.includes(filter));
    process.stdout.write(`\n${file}: ${all.toFixed(0)} ms sampled\n`);
    process.stdout.write(`-- self time --\n`);
    for (const s of [...shown].sort((a, b) => b.selfMs - a.selfMs).slice(0, top)) {
      process.stdout.write(`${s.selfMs.toFixed(1).padStart(9)} ms  ${s.where}\n`);
    }
    process.stdout.write(`-- total time --\n`);
    for (const s of [...shown].sort((a, b) => b.totalMs - a.totalMs).slice(0, top)) {
      process.stdout.write(`${s.totalMs.toFixed(1).padStart(9)} ms  ${s.where}\n`);
    }
  }
}

main();
