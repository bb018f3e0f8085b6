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
