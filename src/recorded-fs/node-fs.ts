/**
 * asNodeFs(): RecordedFs as a callback-style `fs` module object, for libraries that take one
 * (isomorphic-git's `fs`, webpack's outputFileSystem, fs streams' `fs` option). Every function
 * calls the RecordedFs method of the same name, so what is recorded and what is refused are the
 * same; descriptors are the descriptors of RecordedFileHandles. `promises` is the RecordedFs.
 * Synchronous functions (`writeFileSync`, ...) are not provided: recording is asynchronous.
 */
import * as nodeFs from 'node:fs';
import type { RecordedFs } from '../recorded-fs.js';
import type { FsCore } from './core.js';
import { RecordedFileHandle } from './handle.js';
import { invalidArgType, systemError } from './node-errors.js';

type Callback = (err: Error | null, ...results: unknown[]) => void;
type AnyAsync = (...args: never[]) => Promise<unknown>;

/** The callback functions of node:fs that asNodeFs() provides. */
export type NodeFsCallbackName =
  | 'access'
  | 'appendFile'
  | 'chmod'
  | 'chown'
  | 'close'
  | 'copyFile'
  | 'cp'
  | 'createReadStream'
  | 'createWriteStream'
  | 'exists'
  | 'fchmod'
  | 'fchown'
  | 'fdatasync'
  | 'fstat'
  | 'fsync'
  | 'ftruncate'
  | 'futimes'
  | 'lchown'
  | 'link'
  | 'lstat'
  | 'lutimes'
  | 'mkdir'
  | 'mkdtemp'
  | 'open'
  | 'opendir'
  | 'read'
  | 'readdir'
  | 'readFile'
  | 'readlink'
  | 'readv'
  | 'realpath'
  | 'rename'
  | 'rm'
  | 'rmdir'
  | 'stat'
  | 'statfs'
  | 'symlink'
  | 'truncate'
  | 'unlink'
  | 'utimes'
  | 'write'
  | 'writeFile'
  | 'writev';

/** A callback-style `fs` object over a RecordedFs (see RecordedFs.asNodeFs). */
export type RecordedNodeFs = Pick<typeof nodeFs, NodeFsCallbackName> & {
  readonly promises: RecordedFs;
  readonly constants: typeof nodeFs.constants;
  readonly F_OK: number;
  readonly R_OK: number;
  readonly W_OK: number;
  readonly X_OK: number;
  readonly Stats: typeof nodeFs.Stats;
  readonly Dirent: typeof nodeFs.Dirent;
  readonly ReadStream: typeof nodeFs.ReadStream;
  readonly WriteStream: typeof nodeFs.WriteStream;
};

/** Calls `fn` with the arguments before the callback; the callback gets `results(value)`. */
function callbackify(
  fn: (...args: unknown[]) => Promise<unknown>,
  results: (value: unknown) => unknown[] = (value) => [value],
  optionalCallback = false,
): (...args: unknown[]) => void {
  return (...args: unknown[]) => {
    let cb = args.at(-1);
    if (typeof cb === 'function') {
      args.pop();
    } else if (optionalCallback) {
      cb = () => undefined;
    } else {
      throw invalidArgType('cb', 'of type function', cb);
    }
    let work: Promise<unknown>;
    try {
      work = fn(...args);
    } catch (err) {
      work = Promise.reject(err);
    }
    work.then(
      (value) => (cb as Callback)(null, ...results(value)),
      (err: Error) => (cb as Callback)(err),
    );
  };
}

export function createNodeFs(rfs: RecordedFs, core: FsCore): RecordedNodeFs {
  const handleOf = (fd: unknown, syscall: string): RecordedFileHandle => {
    const handle = typeof fd === 'number' ? core.fds.get(fd) : undefined;
    if (handle === undefined) {
      throw systemError(
        'EBADF',
        syscall,
        'bad file descriptor (not opened through this RecordedFs)',
      );
    }
    return handle;
  };
  const call = (method: keyof RecordedFs) => {
    const fn = rfs[method] as unknown as AnyAsync;
    return (...args: unknown[]) => (fn as (...a: unknown[]) => Promise<unknown>)(...args);
  };
  const onHandle =
    (syscall: string, use: (h: RecordedFileHandle, ...rest: unknown[]) => Promise<unknown>) =>
    (fd: unknown, ...rest: unknown[]) =>
      use(handleOf(fd, syscall), ...rest);
  /** Calls taking a path or a descriptor (readFile, writeFile, appendFile). */
  const pathOrFd =
    (method: 'readFile' | 'writeFile' | 'appendFile') =>
    (target: unknown, ...rest: unknown[]) =>
      call(method)(typeof target === 'number' ? handleOf(target, method) : target, ...rest);

  const bytesAnd =
    (key: 'bytesRead' | 'bytesWritten', buf: 'buffer' | 'buffers') => (r: unknown) => {
      const result = r as Record<string, unknown>;
      return [result[key], result[buf]];
    };
  const noResult = () => [];

  const withFs = <T extends { fd?: unknown }>(options: unknown): T & { fs: unknown } => {
    const opts = (
      typeof options === 'string' ? { encoding: options } : { ...(options as object) }
    ) as T;
    if (opts.fd instanceof RecordedFileHandle) opts.fd = opts.fd.fd;
    return { ...opts, fs: adapter };
  };

  const adapter: Record<string, unknown> = {
    access: callbackify(call('access'), noResult),
    appendFile: callbackify(pathOrFd('appendFile'), noResult),
    chmod: callbackify(call('chmod'), noResult),
    chown: callbackify(call('chown'), noResult),
    close: callbackify(
      onHandle('close', (h) => h.close()),
      noResult,
      true,
    ),
    copyFile: callbackify(call('copyFile'), noResult),
    cp: callbackify(call('cp'), noResult),
    createReadStream: (path: nodeFs.PathLike, options?: unknown) =>
      nodeFs.createReadStream(
        path,
        withFs(options) as Parameters<typeof nodeFs.createReadStream>[1],
      ),
    createWriteStream: (path: nodeFs.PathLike, options?: unknown) =>
      nodeFs.createWriteStream(
        path,
        withFs(options) as Parameters<typeof nodeFs.createWriteStream>[1],
      ),
    exists: (path: unknown, cb: (exists: boolean) => void) => {
      if (typeof cb !== 'function') throw invalidArgType('cb', 'of type function', cb);
      (rfs.access as (p: unknown) => Promise<void>)(path).then(
        () => cb(true),
        () => cb(false),
      );
    },
    fchmod: callbackify(
      onHandle('fchmod', (h, mode) => h.chmod(mode as number)),
      noResult,
    ),
    fchown: callbackify(
      onHandle('fchown', (h) => h.chown()),
      noResult,
    ),
    fdatasync: callbackify(
      onHandle('fdatasync', (h) => h.datasync()),
      noResult,
    ),
    fstat: callbackify(onHandle('fstat', (h, options) => h.stat(options as { bigint?: boolean }))),
    fsync: callbackify(
      onHandle('fsync', (h) => h.sync()),
      noResult,
    ),
    ftruncate: callbackify(
      onHandle('ftruncate', (h, len) => h.truncate(len as number | undefined)),
      noResult,
    ),
    futimes: callbackify(
      onHandle('futimes', (h) => h.utimes()),
      noResult,
    ),
    lchown: callbackify(call('lchown'), noResult),
    link: callbackify(call('link'), noResult),
    lstat: callbackify(call('lstat')),
    lutimes: callbackify(call('lutimes'), noResult),
    mkdir: callbackify(call('mkdir')),
    mkdtemp: callbackify(call('mkdtemp')),
    open: callbackify(call('open'), (h) => [(h as RecordedFileHandle).fd]),
    opendir: callbackify(call('opendir')),
    read: callbackify(
      onHandle('read', (h, ...rest) => (h.read as (...a: unknown[]) => Promise<unknown>)(...rest)),
      bytesAnd('bytesRead', 'buffer'),
    ),
    readdir: callbackify(call('readdir')),
    readFile: callbackify(pathOrFd('readFile')),
    readlink: callbackify(call('readlink')),
    readv: callbackify(
      onHandle('readv', (h, buffers, position) =>
        h.readv(buffers as Buffer[], position as number | null),
      ),
      bytesAnd('bytesRead', 'buffers'),
    ),
    realpath: Object.assign(callbackify(call('realpath')), {
      native: callbackify(call('realpath')),
    }),
    rename: callbackify(call('rename'), noResult),
    rm: callbackify(call('rm'), noResult),
    rmdir: callbackify(call('rmdir'), noResult),
    stat: callbackify(call('stat')),
    statfs: callbackify(call('statfs')),
    symlink: callbackify(call('symlink'), noResult),
    truncate: callbackify(
      (target: unknown, len?: unknown) =>
        typeof target === 'number'
          ? handleOf(target, 'ftruncate').truncate(len as number | undefined)
          : (rfs.truncate as (p: unknown, l?: unknown) => Promise<void>)(target, len),
      noResult,
    ),
    unlink: callbackify(call('unlink'), noResult),
    utimes: callbackify(call('utimes'), noResult),
    write: callbackify(
      onHandle('write', (h, ...rest) =>
        (h.write as (...a: unknown[]) => Promise<unknown>)(...rest),
      ),
      bytesAnd('bytesWritten', 'buffer'),
    ),
    writeFile: callbackify(pathOrFd('writeFile'), noResult),
    writev: callbackify(
      onHandle('writev', (h, buffers, position) =>
        h.writev(buffers as Buffer[], position as number | null),
      ),
      bytesAnd('bytesWritten', 'buffers'),
    ),
    constants: nodeFs.constants,
    F_OK: nodeFs.constants.F_OK,
    R_OK: nodeFs.constants.R_OK,
    W_OK: nodeFs.constants.W_OK,
    X_OK: nodeFs.constants.X_OK,
    Stats: nodeFs.Stats,
    Dirent: nodeFs.Dirent,
    ReadStream: nodeFs.ReadStream,
    WriteStream: nodeFs.WriteStream,
  };
  Object.defineProperty(adapter, 'promises', { value: rfs, enumerable: true });
  return adapter as unknown as RecordedNodeFs;
}
