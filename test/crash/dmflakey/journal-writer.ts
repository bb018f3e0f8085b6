/**
 * The workload process of the power-cut test (spawned by journal-powercut.ts, killed by it at a
 * random moment). Opens (or creates) a journal on the flakey mount and appends records
 * firstIndex, firstIndex+1, ... as fast as it can, sometimes several at once (so group commit
 * is exercised). It reports on stdout, one line per event, and ONLY after the event happened:
 *
 *   loaded                                 modules loaded; waiting for its config on stdin
 *   ready                                  the journal is open
 *   ack <index> <begin> <end> <ns>         append of record <index> resolved with [begin, end),
 *                                          seen at <ns> on the monotonic clock (process.hrtime)
 *   fail <index> typed|untyped <ErrorName> <code> <message>
 *                                          append of record <index> rejected; "typed" when the
 *                                          error is one the contract promises (JournalWriteError...)
 *   stopped                                gave up after repeated failures; waits to be killed
 *
 * stdout is a pipe to the parent, i.e. OFF the flakey device: the parent keeps the ledger.
 * Starting node + tsx + the journal takes seconds under emulation, so the parent starts the
 * next writer while it checks the last cut, and hands it its config (one JSON line on stdin)
 * once the filesystem is mounted again.
 *
 * Usage: node --import tsx journal-writer.ts <workload>   (then a JSON WriterConfig on stdin)
 */
import { writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { journalTarget, type WorkloadName } from './journal-target.js';
import { recordBytes } from './records.js';

export interface WriterConfig {
  workload: WorkloadName;
  dir: string;
  journalName: string;
  seed: number;
  firstIndex: number;
  create: boolean;
}

// Appends that fail before the writer stops: more than one, to see that a journal whose sync
// failed keeps refusing appends instead of acknowledging them.
const FAILURES_BEFORE_STOP = 3;

function report(line: string): void {
  writeSync(1, line.replace(/\n/g, ' ') + '\n'); // synchronous: the line is in the pipe on return
}

async function main(workload: string): Promise<void> {
  const target = journalTarget(workload);
  report('loaded');
  const config = JSON.parse(await firstLine()) as WriterConfig;
  const journal = config.create
    ? await target.create(config.dir, config.journalName)
    : await target.open(config.dir);
  report('ready');

  let next = config.firstIndex;
  let failures = 0;
  let state = config.seed ^ 0x5bd1e995;
  const random = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
  while (failures < FAILURES_BEFORE_STOP) {
    const batch = random() < 0.8 ? 1 : 2 + Math.floor(random() * 3);
    const appends: Promise<void>[] = [];
    for (let k = 0; k < batch; k++) {
      const index = next++;
      appends.push(
        journal.append(recordBytes(config.seed, index)).then(
          ({ begin, end }) => report(`ack ${index} ${begin} ${end} ${process.hrtime.bigint()}`),
          (error: unknown) => {
            failures++;
            const e = error instanceof Error ? error : new Error(String(error));
            const code = (e as { code?: unknown }).code;
            const typed = target.isTypedWriteFailure(error) ? 'typed' : 'untyped';
            report(
              `fail ${index} ${typed} ${e.name} ${typeof code === 'string' ? code : '-'} ${e.message}`,
            );
          },
        ),
      );
    }
    await Promise.all(appends);
  }
  report('stopped');
  // Wait to be killed: closing the journal could still touch the device.
  setInterval(() => undefined, 1 << 30);
}

function firstLine(): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: process.stdin });
    lines.once('line', (line) => {
      resolve(line); // before close(): its 'close' event would otherwise reject first
      lines.close();
    });
    lines.once('close', () => reject(new Error('stdin closed before the config line')));
  });
}

main(process.argv[2] ?? 'file-journal').catch((error: unknown) => {
  console.error('journal-writer:', error);
  process.exit(1);
});
