import { NotSupportedError } from '../recorder-errors.js';

/**
 * Errors shaped as Node's own (same class, `code` and wording style), for the argument checks
 * RecordedFs makes before touching anything, so callers that switch on `err.code` see what the
 * base file system would have thrown.
 */

type NodeLikeError<E extends Error> = E & { code: string };

function withCode<E extends Error>(err: E, code: string): NodeLikeError<E> {
  Object.defineProperty(err, 'code', {
    value: code,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return err as NodeLikeError<E>;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `function ${value.name}`;
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: string } }).constructor?.name;
    return name ? `an instance of ${name}` : 'an object';
  }
  return `type ${typeof value} (${String(value).slice(0, 25)})`;
}

export function invalidArgType(name: string, expected: string, actual: unknown): TypeError {
  return withCode(
    new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(actual)}`),
    'ERR_INVALID_ARG_TYPE',
  );
}

export function invalidArgValue(name: string, value: unknown, reason: string): TypeError {
  return withCode(
    new TypeError(
      `The argument '${name}' ${reason}. Received ${JSON.stringify(value) ?? String(value)}`,
    ),
    'ERR_INVALID_ARG_VALUE',
  );
}

export function outOfRange(name: string, range: string, value: unknown): RangeError {
  return withCode(
    new RangeError(
      `The value of "${name}" is out of range. It must be ${range}. Received ${String(value)}`,
    ),
    'ERR_OUT_OF_RANGE',
  );
}

/** Node's AbortError (code ABORT_ERR), as thrown when an operation's signal is aborted. */
export function abortError(signal: AbortSignal): Error {
  const err = new Error('The operation was aborted', { cause: signal.reason });
  err.name = 'AbortError';
  return withCode(err, 'ABORT_ERR');
}

export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** A system-call error as Node reports it (errno names such as EBADF, EINVAL). */
export function systemError(code: string, syscall: string, message: string, path?: string): Error {
  const err = withCode(
    new Error(`${code}: ${message}, ${syscall}${path ? ` '${path}'` : ''}`),
    code,
  );
  Object.assign(err, { syscall, ...(path === undefined ? {} : { path }) });
  return err;
}

/** One of Node's fs.cp errors (ERR_FS_CP_EINVAL, ERR_FS_EISDIR, ...). */
export function cpError(code: string, message: string, path: string): Error {
  const err = withCode(
    new Error(`${message}: cp returned ${code.replace(/^ERR_FS_(CP_)?/, '')} (${message}) ${path}`),
    code,
  );
  Object.assign(err, { path, syscall: 'cp' });
  return err;
}

/** A rejected promise of NotSupportedError (nothing was touched). */
export function notSupported(operation: string, detail: string): Promise<never> {
  return Promise.reject(new NotSupportedError(operation, detail));
}
