/**
 * `recoverylog snapshot`: record an existing directory tree into a new file journal, as if an
 * application had written it through RecordedFs (see snapshot-tree.ts).
 */
import { resolve } from 'node:path';
import { encodeHints } from '../hints.js';
import { parseFlags, required, type Verb } from './args.js';
import { assertReplaceableOutput, STDOUT, writeAll, writeOutputFile } from './output.js';
import { createProgress, formatBytes } from './progress.js';
import { quietContext } from './signals.js';
import { snapshotTree, type SnapshotResult } from './snapshot-tree.js';

const FLAGS = {
  from: { type: 'string' },
  log: { type: 'string' },
  name: { type: 'string' },
  'hints-out': { type: 'string' },
} as const;

export const snapshotVerb: Verb = {
  summary: 'record an existing directory tree into a new file journal',
  usage: [
    'Usage: recoverylog snapshot --from SRC --log DIR --name NAME [--hints-out FILE|-]',
    '',
    'Records every regular file under SRC into a new file journal (DIR, named NAME) as an',
    'application writing it through RecordedFs would: a create and chunked writes per file,',
    'a link op for each extra hard link, and a top-level IDENTITY file as a property. SRC',
    'must not change meanwhile. Symbolic links and special files fail the snapshot; empty',
    'directories are reported and not recorded (a recovery log holds files only). The journal',
    'is built in a hidden partial directory next to DIR and renamed to DIR once complete.',
    '',
    'Options:',
    '  --from SRC           the directory tree to record',
    '  --log DIR            the journal directory to create (must not exist, or be empty)',
    '  --name NAME          the journal name (Gazette journal-name rules)',
    '  --hints-out FILE|-   also write the hints that recover the snapshot (Gazette JSON) to',
    '                       FILE, atomically (a regular file there is replaced; anything else',
    '                       is refused), or to standard output with "-" (the summary then goes',
    '                       to standard error)',
    '',
    'Exit status: 0 recorded; 1 on failure; 2 on a usage error; 130/143 when interrupted by',
    'SIGINT/SIGTERM (the half-built journal is removed).',
  ].join('\n'),
  async run(argv: string[], context = quietContext()): Promise<number> {
    const flags = parseFlags(argv, FLAGS);
    const from = required(flags.from, '--from SRC');
    const log = required(flags.log, '--log DIR');
    const name = required(flags.name, '--name NAME');
    const hintsOut = flags['hints-out'];
    const hintsToStdout = hintsOut === STDOUT;
    if (hintsOut !== undefined && !hintsToStdout) {
      await assertReplaceableOutput(hintsOut, '--hints-out');
    }
    const progress = createProgress({ label: `recording ${from}` });
    let result: SnapshotResult;
    try {
      result = await snapshotTree(from, log, name, {
        onProgress: (b) => progress.update(b),
        signal: context.signal,
      });
    } finally {
      progress.finish();
    }
    const json = encodeHints(result.hints, 'json');
    if (hintsToStdout) {
      process.stdout.write(`${new TextDecoder().decode(json)}\n`);
    } else if (hintsOut !== undefined) {
      await writeOutputFile(hintsOut, { flag: '--hints-out', signal: context.signal }, (file) =>
        writeAll(file, json),
      );
    }
    for (const dir of result.emptyDirs) {
      process.stderr.write(`note: empty directory ${dir} is not recorded\n`);
    }
    const summary =
      `recorded ${resolve(from)} into journal ${name} at ${resolve(log)}: ${result.files} files, ` +
      `${result.links} extra hard links, ${result.properties} properties, ` +
      `${result.bytes} bytes (${formatBytes(result.bytes)}) of content, journal head ` +
      `${result.head}` +
      (hintsOut !== undefined
        ? `; hints written to ${hintsToStdout ? 'standard output' : resolve(hintsOut)}`
        : '') +
      '\n';
    (hintsToStdout ? process.stderr : process.stdout).write(summary);
    return 0;
  },
};
