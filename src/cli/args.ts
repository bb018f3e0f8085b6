import { RecoveryLogError } from '../errors.js';
import type { VerbContext } from './signals.js';

/**
 * The command line was wrong (unknown verb or flag, missing value): exit status 2. Its code is
 * `Usage`; a subclass for a specific mistake gets a code of its own from its name.
 */
export class UsageError extends RecoveryLogError {
  constructor(message: string) {
    super(message);
  }
}

/**
 * One verb of the `recoverylog` command. Each lives in its own module under src/cli/, declaring
 * a FLAGS table and a Verb literal (usage lines, a run that starts with parseFlags): that shared
 * shape is declared boilerplate, not logic to factor out.
 */
export interface Verb {
  /** One line for the top-level help. */
  summary: string;
  /** Full help text for `recoverylog VERB --help`. */
  usage: string;
  /**
   * Runs the verb on the arguments after its name and resolves to the exit status (0 success,
   * 1 failure). Throw UsageError for a bad command line (the dispatcher prints it, exits 2);
   * other errors are printed and exit 1. `context.signal` is aborted on SIGINT/SIGTERM: the verb
   * must then stop, removing whatever it had half written (the dispatcher exits 130/143).
   */
  run(argv: string[], context?: VerbContext): Promise<number>;
}

/** How a flag takes values. `multiple` string flags collect every occurrence. */
export interface FlagSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** The parsed value of one flag, typed from its spec. */
export type FlagValue<F extends FlagSpec> = F['type'] extends 'boolean'
  ? boolean
  : F['multiple'] extends true
    ? string[]
    : string | undefined;

export type FlagValues<S extends FlagSpecs> = { [K in keyof S]: FlagValue<S[K]> };

export interface ParsedArgs<S extends FlagSpecs> {
  flags: FlagValues<S>;
  positionals: string[];
}

/**
 * Parses `--name value`, `--name=value`, boolean `--name` (or `--name=true|false`), repeated
 * `multiple` flags (collected in order) and positionals; `--` ends flag parsing. A value may not
 * itself start with `--` (so `--raw --json` is a missing value, not a file named "--json").
 * Unknown flags, missing values and a non-multiple flag given twice throw UsageError.
 */
export function parseArgs<S extends FlagSpecs>(argv: readonly string[], specs: S): ParsedArgs<S> {
  const values = new Map<string, string[] | string | boolean>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (spec === undefined) throw new UsageError(`unknown flag --${name}`);

    if (spec.type === 'boolean') {
      const text = eq === -1 ? 'true' : arg.slice(eq + 1);
      if (text !== 'true' && text !== 'false') {
        throw new UsageError(`--${name} is a switch; it takes no value (got "${text}")`);
      }
      values.set(name, text === 'true');
      continue;
    }

    let value: string;
    if (eq !== -1) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) {
        throw new UsageError(`--${name} needs a value`);
      }
      value = next;
      i += 1;
    }
    if (spec.multiple === true) {
      const list = values.get(name);
      values.set(name, Array.isArray(list) ? [...list, value] : [value]);
    } else {
      if (values.has(name)) throw new UsageError(`--${name} given more than once`);
      values.set(name, value);
    }
  }

  const flags: Record<string, string[] | string | boolean | undefined> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const value = values.get(name);
    if (spec.type === 'boolean') flags[name] = value === true;
    else if (spec.multiple === true) flags[name] = Array.isArray(value) ? value : [];
    else flags[name] = value;
  }
  return { flags: flags as FlagValues<S>, positionals };
}

/** parseArgs for a verb that takes flags only: a positional argument is a UsageError. */
export function parseFlags<S extends FlagSpecs>(argv: readonly string[], specs: S): FlagValues<S> {
  const { flags, positionals } = parseArgs(argv, specs);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  return flags;
}

/** The value of a flag the verb cannot do without (UsageError `missing FLAG` when absent). */
export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing ${flag}`);
  return value;
}
