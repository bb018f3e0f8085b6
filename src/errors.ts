/**
 * Base class of every error this library throws on purpose. `code` is stable and meant for
 * programs (switch on it); `message` is meant for people and says what to do.
 */
export class RecoveryLogError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The message of a caught value, for wrapping it in a message of ours (it may not be an Error). */
export function errorMessage(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/** The `code` of a caught value (an fs error's errno name, e.g. "ENOENT"), if it has one. */
export function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String((error as { code: unknown }).code)
    : undefined;
}
