#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { UsageError, type Verb } from './args.js';
import { typedError } from './file-errors.js';
import { hintsVerb } from './hints.js';
import { fragmentsVerb } from './fragments.js';
import { exportVerb, importVerb } from './import-export.js';
import { inspectWithLogVerb } from './inspect-log.js';
import { playVerb } from './play.js';
import { pruneVerb } from './prune.js';
import { replicateVerb } from './replicate.js';
import { removeTrackedPartials, removeTrackedPartialsSync } from './partial.js';
import {
  handleSignals,
  interruptedBy,
  quietContext,
  type InterruptedError,
  type VerbContext,
} from './signals.js';
import { snapshotVerb } from './snapshot.js';
import { isEntryPoint } from '../entry-point.js';
import { errorMessage } from '../errors.js';

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
  replicate: replicateVerb,
};

const PROGRAM = 'recoverylog';

/** The package version, from package.json (two levels up from src/cli and from dist/cli). */
export function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  const version: unknown = (JSON.parse(text) as { version?: unknown }).version;
  if (typeof version !== 'string') throw new Error('package.json has no version');
  return version;
}

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
    `Run "${PROGRAM} VERB --help" for a verb's options; "${PROGRAM} --version" prints the version.`,
    '',
    'Exit status: 0 success; 1 failure (the message names the log, offset or file and what to',
    'do); 2 usage error; 130 interrupted by SIGINT, 143 by SIGTERM (partial outputs removed).',
  ].join('\n');
}

const isHelp = (arg: string | undefined): boolean => arg === '--help' || arg === '-h';
const isVersion = (arg: string | undefined): boolean => arg === '--version' || arg === '-V';

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
 * 0 success, 1 failure (message on stderr), 2 usage error, 130/143 interrupted (when
 * `context.signal` was aborted with an InterruptedError while the verb ran).
 */
export async function main(
  argv: readonly string[],
  output: Output = processOutput,
  context: VerbContext = quietContext(),
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    output.stderr(topLevelUsage());
    return 2;
  }
  if (isVersion(name)) {
    output.stdout(`${PROGRAM} ${packageVersion()}`);
    return 0;
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
    return await verb.run(rest, context);
  } catch (caught) {
    const interrupted = interruptedBy(context.signal);
    if (interrupted !== undefined) {
      // The verb removed its partial outputs on the way out; whatever it left is removed here.
      const left = await removeTrackedPartials();
      output.stderr(interruptedMessage(name, interrupted, left));
      return interrupted.exitCode;
    }
    const err = typedError(caught);
    if (err instanceof UsageError) {
      output.stderr(
        `${PROGRAM} ${name}: ${err.message}\nRun "${PROGRAM} ${name} --help" for usage.`,
      );
      return 2;
    }
    output.stderr(`${PROGRAM} ${name}: ${errorMessage(err)}`);
    return 1;
  }
}

function interruptedMessage(
  verb: string,
  interrupted: InterruptedError,
  removedHere: readonly string[],
): string {
  const removed = removedHere.length > 0 ? ` (removed ${removedHere.join(', ')})` : '';
  return `${PROGRAM} ${verb}: ${interrupted.message}${removed}`;
}

if (isEntryPoint(import.meta.url)) {
  // A closed pipe (e.g. `| head`) is not a failure of ours: stop quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  const argv = process.argv.slice(2);
  const controller = new AbortController();
  let settled: number | undefined;
  handleSignals(controller, {
    // A second signal, or a verb still running after the grace period: go now.
    forceExit(first) {
      // Done, but output still queued for a reader that does not read: that is not a success.
      if (settled !== undefined) {
        process.exit(process.stdout.writableLength > 0 ? first.exitCode : settled);
      }
      const removed = removeTrackedPartialsSync();
      process.stderr.write(`${interruptedMessage(argv[0] ?? '', first, removed)}\n`);
      process.exit(first.exitCode);
    },
  });
  main(argv, processOutput, { signal: controller.signal }).then(
    (status) => {
      settled = status;
      // exitCode (not exit()) lets buffered stdout drain first.
      process.exitCode = status;
      // Interrupted: stop now. A write or read still in flight (a pipe nobody reads) must not
      // keep the process alive, and what it would have written is unwanted anyway.
      const interrupted = interruptedBy(controller.signal);
      if (interrupted !== undefined && status === interrupted.exitCode) {
        setImmediate(() => process.exit(status));
      }
    },
    (err: unknown) => {
      settled = 1;
      process.stderr.write(`${PROGRAM}: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
