/**
 * SIGINT and SIGTERM for the `recoverylog` command. The first signal aborts the running verb
 * through an AbortSignal: every verb passes it down (Player, journal reads and appends, source
 * streams), so the verb stops at its next step, its own clean-up removes what it had half written,
 * and the command exits 130 (SIGINT) or 143 (SIGTERM). A second signal, or a verb that has not
 * stopped within the grace period, ends the process at once after removing every partial output
 * still registered (partial.ts), synchronously.
 */
import { RecoveryLogError } from '../errors.js';

/** The signals the command handles, and the exit status each one gives (128 + its number). */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

export type HandledSignal = keyof typeof SIGNAL_EXIT_CODES;

/** How long a verb may take to stop after the first signal before the process is ended. */
export const STOP_GRACE_MS = 10_000;

/** The command was interrupted by a signal: the reason of the verb's aborted signal. */
export class InterruptedError extends RecoveryLogError {
  readonly signal: HandledSignal;
  readonly exitCode: number;
  constructor(signal: HandledSignal) {
    super(
      `interrupted by ${signal}; partial outputs were removed and nothing was left half ` +
        'written: run the command again to redo it',
    );
    this.signal = signal;
    this.exitCode = SIGNAL_EXIT_CODES[signal];
  }
}

/** What a verb gets besides its arguments. */
export interface VerbContext {
  /** Aborted (with an InterruptedError as its reason) when the command is interrupted. */
  signal: AbortSignal;
}

/** A context that is never interrupted (the default for in-process callers). */
export function quietContext(): VerbContext {
  return { signal: new AbortController().signal };
}

/** Throws the abort reason once `signal` is aborted. */
export function throwIfInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw interruption(signal);
}

/** The error to throw for an aborted `signal`: its reason when that is an Error. */
export function interruption(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new InterruptedError('SIGINT');
}

/** The InterruptedError behind an aborted signal, if that is why it was aborted. */
export function interruptedBy(signal: AbortSignal | undefined): InterruptedError | undefined {
  if (signal?.aborted !== true) return undefined;
  const reason: unknown = signal.reason;
  return reason instanceof InterruptedError ? reason : undefined;
}

export interface SignalHandlingOptions {
  /**
   * Called when the process must end now (second signal, or the grace period ran out): remove
   * what is left and exit with `exitCode`. Must not return.
   */
  forceExit(first: InterruptedError): void;
  graceMs?: number;
  /** Where the signals are listened for (tests pass an EventEmitter); default: process. */
  target?: Pick<NodeJS.EventEmitter, 'on' | 'off'>;
}

/**
 * Installs SIGINT and SIGTERM handlers that abort `controller` on the first signal (see the
 * module comment). Returns a function that removes them again.
 */
export function handleSignals(
  controller: AbortController,
  options: SignalHandlingOptions,
): () => void {
  let first: InterruptedError | undefined;
  let forced = false;
  const force = (reason: InterruptedError): void => {
    if (forced) return;
    forced = true;
    options.forceExit(reason);
  };
  const handler = (signal: NodeJS.Signals): void => {
    if (first !== undefined) {
      force(first);
      return;
    }
    const reason = new InterruptedError(signal as HandledSignal);
    first = reason;
    controller.abort(reason);
    setTimeout(() => force(reason), options.graceMs ?? STOP_GRACE_MS).unref();
  };
  const target = options.target ?? process;
  const signals = Object.keys(SIGNAL_EXIT_CODES) as HandledSignal[];
  for (const signal of signals) target.on(signal, handler);
  return () => {
    for (const signal of signals) target.off(signal, handler);
  };
}
