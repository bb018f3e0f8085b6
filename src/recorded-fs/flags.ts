/**
 * Open flags and permission modes as RecordedFs understands them: what an open may change
 * (decoded from string or numeric flags, exactly as Node and the kernel read them), and whether a
 * `mode` asked of a create gives the permissions a recovered file gets anyway.
 */
import { constants } from 'node:fs';
import { NotSupportedError } from '../recorder-errors.js';
import { invalidArgType, invalidArgValue } from './node-errors.js';

export type OpenFlags = string | number;

/** What an open is allowed to do, decoded from string or numeric flags. */
export interface AccessMode {
  /** Opened for reading (O_RDONLY or O_RDWR). */
  read: boolean;
  /** Opened for writing (O_WRONLY or O_RDWR). */
  write: boolean;
  create: boolean;
  exclusive: boolean;
  truncate: boolean;
  append: boolean;
}

const STRING_FLAGS: Readonly<Record<string, AccessMode>> = (() => {
  const mode = (m: Partial<AccessMode>): AccessMode => ({
    read: false,
    write: false,
    create: false,
    exclusive: false,
    truncate: false,
    append: false,
    ...m,
  });
  const read = mode({ read: true });
  const rw = mode({ read: true, write: true });
  const w = mode({ write: true, create: true, truncate: true });
  const wx = mode({ write: true, create: true, truncate: true, exclusive: true });
  const a = mode({ write: true, create: true, append: true });
  const ax = mode({ write: true, create: true, append: true, exclusive: true });
  const plus = (m: AccessMode): AccessMode => ({ ...m, read: true });
  return {
    r: read,
    rs: read,
    sr: read,
    'r+': rw,
    'rs+': rw,
    'sr+': rw,
    w,
    'w+': plus(w),
    wx,
    xw: wx,
    'wx+': plus(wx),
    'xw+': plus(wx),
    a,
    as: a,
    sa: a,
    'a+': plus(a),
    'as+': plus(a),
    'sa+': plus(a),
    ax,
    xa: ax,
    'ax+': plus(ax),
    'xa+': plus(ax),
  };
})();

/** Decodes open flags; null and undefined mean 'r', as in Node. */
export function accessMode(flags: OpenFlags | null | undefined): AccessMode {
  if (flags === null || flags === undefined) return STRING_FLAGS.r!;
  if (typeof flags === 'string') {
    const mode = STRING_FLAGS[flags];
    if (mode === undefined) {
      throw new NotSupportedError(`open flags ${JSON.stringify(flags)}`, 'unknown flag string');
    }
    return mode;
  }
  if (typeof flags !== 'number') throw invalidArgType('flags', 'a string or an integer', flags);
  if (!Number.isInteger(flags)) {
    throw new NotSupportedError(`open flags ${flags}`, 'flags must be a string or an integer');
  }
  const access = flags & (constants.O_RDONLY | constants.O_WRONLY | constants.O_RDWR);
  return {
    read: access !== constants.O_WRONLY,
    write: access !== constants.O_RDONLY,
    create: (flags & constants.O_CREAT) !== 0,
    exclusive: (flags & constants.O_EXCL) !== 0,
    truncate: (flags & constants.O_TRUNC) !== 0,
    append: (flags & constants.O_APPEND) !== 0,
  };
}

/**
 * An open that can change the file system: for writing, or creating, or truncating (O_TRUNC
 * truncates even a file opened read-only, on Linux).
 */
export function changes(access: AccessMode): boolean {
  return access.write || access.create || access.truncate;
}

/** A mode argument as Node reads it: an integer, or a string of octal digits. */
export function parseMode(mode: unknown, name = 'mode'): number | undefined {
  if (mode === undefined || mode === null) return undefined;
  if (typeof mode === 'string') {
    if (!/^[0-7]+$/.test(mode))
      throw invalidArgValue(name, mode, 'must be a 32-bit unsigned integer or an octal string');
    return parseInt(mode, 8);
  }
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0xffffffff) {
    throw invalidArgType(name, 'a 32-bit unsigned integer or an octal string', mode);
  }
  return mode;
}

/** Permission bits Node uses when no mode is given. */
export const DEFAULT_FILE_MODE = 0o666;
export const DEFAULT_DIR_MODE = 0o777;

let umaskCache: { value: number; at: number } | undefined;

/** The process umask (read at most every 100 ms: reading it means setting it back). */
export function processUmask(): number {
  const now = Date.now();
  if (umaskCache === undefined || now - umaskCache.at > 100) {
    const value = process.umask(0o022);
    process.umask(value);
    umaskCache = { value, at: now };
  }
  return umaskCache.value;
}
