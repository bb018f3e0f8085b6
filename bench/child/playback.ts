/**
 * Child process for the playback scenarios: plays one log (or runs the raw baseline) and prints
 * one JSON line with its time and its peak RSS. A separate process gives an honest peak RSS:
 * nothing the parent allocated is counted.
 *
 * Usage: node --import tsx bench/child/playback.ts '<PlaybackJob JSON>'
 */
import { readFileSync } from 'node:fs';
import { openJournal, playInto, readHintsFile } from '../lib/library.js';
import { replayRaw } from '../lib/raw.js';

export interface PlaybackJob {
  mode: 'ours' | 'raw';
  /** ours: the FileJournal's directory and the hints file. */
  journalDir?: string;
  hintsPath?: string;
  /** raw: the exported log file. */
  logPath?: string;
  /** Directory to rebuild (must not exist). */
  outDir: string;
}

export interface PlaybackReport {
  seconds: number;
  /** ours: bytes the Player read; raw: bytes of the log file. */
  bytesRead: number;
  payloadBytes: number;
  /** Peak resident set size of this process, bytes. */
  maxRssBytes: number;
}

/**
 * Peak resident set size of THIS process image. Not getrusage's ru_maxrss (process.resourceUsage
 * ().maxRSS): Linux carries it across fork + exec, so a child would report at least the RSS its
 * (large) parent had when it forked. /proc/self/status VmHWM belongs to the current address
 * space; elsewhere fall back to maxRSS (KiB).
 */
function peakRss(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '') as PlaybackJob;
  let report: Omit<PlaybackReport, 'maxRssBytes'>;
  if (job.mode === 'ours') {
    const journal = await openJournal(job.journalDir!);
    const hints = await readHintsFile(job.hintsPath!);
    const t0 = performance.now();
    const outcome = await playInto(journal, hints, job.outDir);
    const seconds = (performance.now() - t0) / 1000;
    await journal.close();
    report = { seconds, bytesRead: outcome.bytesRead, payloadBytes: outcome.payloadBytesWritten };
  } else {
    const t0 = performance.now();
    const payloadBytes = replayRaw(job.logPath!, job.outDir);
    const seconds = (performance.now() - t0) / 1000;
    report = { seconds, bytesRead: 0, payloadBytes };
  }
  const full: PlaybackReport = { ...report, maxRssBytes: peakRss() };
  process.stdout.write(JSON.stringify(full) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
