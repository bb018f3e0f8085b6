#!/usr/bin/env node
import { UsageError, type Verb } from './args.js';
import { hintsVerb } from './hints.js';
import { fragmentsVerb } from './fragments.js';
import { exportVerb, importVerb } from './import-export.js';
import { inspectWithLogVerb } from './inspect-log.js';
import { playVerb } from './play.js';
import { pruneVerb } from './prune.js';
import { snapshotVerb } from './snapshot.js';
import { isEntryPoint } from '../entry-point.js';

/** Every verb of the command; a new verb is one module plus one entry here. */
export const verbs: Readonly<Record<string, Verb>> = {
  inspect: inspectWithLogVerb,
  hints: hintsVerb,
  play: playVerb,
  import: importVerb,
  export: exportVerb,
  snapshot: snapshotVerb,
  fragments: fragmentsVerb,
  prune: pruneVerb,
};

const PROGRAM = 'recoverylog';

function topLevelUsage(): string {
  const width = Math.max(...Object.keys(verbs).map((name) => name.length));
  const lines = Object.entries(verbs).map(
    ([name, verb]) => `  ${name.padEnd(width)}  ${verb.summary}`,
  );
  return [
    `Usage: ${PROGRAM} VERB [options]`,
    '',
    'Verbs:',
    ...lines,
    '',
    `Run "${PROGRAM} VERB --help" for a verb's options.`,
  ].join('\n');
}

const isHelp = (arg: string | undefined): boolean => arg === '--help' || arg === '-h';

/** Flags before a `--` separator: only those can ask for help. */
function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).some(isHelp);
}

export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processOutput: Output = {
  stdout: (text) => void process.stdout.write(`${text}\n`),
  stderr: (text) => void process.stderr.write(`${text}\n`),
};

/**
 * Runs the command line (without node and script) and resolves to the exit status:
 * 0 success, 1 failure (message on stderr), 2 usage error.
 */
export async function main(
  argv: readonly string[],
  output: Output = processOutput,
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    output.stderr(topLevelUsage());
    return 2;
  }
  if (isHelp(name) || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    if (topic !== undefined && Object.hasOwn(verbs, topic)) {
      output.stdout(verbs[topic].usage);
      return 0;
    }
    if (topic !== undefined) {
      output.stderr(`${PROGRAM}: unknown verb "${topic}"\n\n${topLevelUsage()}`);
      return 2;
    }
    output.stdout(topLevelUsage());
    return 0;
  }
  if (!Object.hasOwn(verbs, name)) {
    output.stderr(`${PROGRAM}: unknown verb "${name}"\n\n${topLevelUsage()}`);
    return 2;
  }
  const verb = verbs[name];
  if (wantsHelp(rest)) {
    output.stdout(verb.usage);
    return 0;
  }
  try {
    return await verb.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      output.stderr(
        `${PROGRAM} ${name}: ${err.message}\nRun "${PROGRAM} ${name} --help" for usage.`,
      );
      return 2;
    }
    const message = err instanceof Error ? err.message : String(err);
    output.stderr(`${PROGRAM} ${name}: ${message}`);
    return 1;
  }
}

if (isEntryPoint(import.meta.url)) {
  // A closed pipe (e.g. `| head`) is not a failure of ours: stop quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  main(process.argv.slice(2)).then(
    (status) => {
      // exitCode (not exit()) lets buffered stdout drain first.
      process.exitCode = status;
    },
    (err: unknown) => {
      process.stderr.write(`${PROGRAM}: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
