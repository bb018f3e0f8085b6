/**
 * Streams over RecordedFileHandles: Node's own fs.ReadStream and fs.WriteStream, driven through
 * their `fs` option by the handle's methods, so a WriteStream's writes are recorded exactly as
 * the handle's writes are, and the streams behave as Node's (events, options, backpressure).
 */
import { createReadStream, createWriteStream, type ReadStream, type WriteStream } from 'node:fs';
import type { CreateReadStreamOptions, CreateWriteStreamOptions } from 'node:fs/promises';
import { createInterface, type Interface } from 'node:readline';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import type { RecordedFileHandle } from './handle.js';

type Callback = (err: Error | null, ...results: unknown[]) => void;

function settle<T>(work: Promise<T>, cb: Callback, results: (value: T) => unknown[]): void {
  work.then(
    (value) => cb(null, ...results(value)),
    (err: Error) => cb(err),
  );
}

/** Callback-style file operations on one handle, in the shape fs streams call them. */
function handleOps(handle: RecordedFileHandle): Record<string, unknown> {
  const position = (p: unknown): number | null => (typeof p === 'number' ? p : null);
  return {
    open: (_path: unknown, _flags: unknown, _mode: unknown, cb: Callback) => cb(null, handle.fd),
    read: (
      _fd: number,
      buffer: Buffer,
      offset: number,
      length: number,
      at: unknown,
      cb: Callback,
    ) =>
      settle(handle.read(buffer, offset, length, position(at)), cb, (r) => [r.bytesRead, r.buffer]),
    write: (
      _fd: number,
      buffer: Buffer,
      offset: number,
      length: number,
      at: unknown,
      cb: Callback,
    ) =>
      settle(handle.write(buffer, offset, length, position(at)), cb, (r) => [
        r.bytesWritten,
        r.buffer,
      ]),
    writev: (_fd: number, buffers: Buffer[], at: unknown, cb: Callback) =>
      settle(handle.writev(buffers, position(at)), cb, (r) => [r.bytesWritten, r.buffers]),
    fsync: (_fd: number, cb: Callback) => settle(handle.sync(), cb, () => []),
    close: (_fd: number, cb: Callback) => settle(handle.close(), cb, () => []),
  };
}

const NO_PATH = undefined as unknown as string;

export function handleReadStream(
  handle: RecordedFileHandle,
  options?: CreateReadStreamOptions,
): ReadStream {
  return createReadStream(NO_PATH, {
    ...options,
    fd: handle.fd,
    fs: handleOps(handle),
  } as unknown as Parameters<typeof createReadStream>[1]);
}

export function handleWriteStream(
  handle: RecordedFileHandle,
  options?: CreateWriteStreamOptions,
): WriteStream {
  return createWriteStream(NO_PATH, {
    ...options,
    fd: handle.fd,
    fs: handleOps(handle),
  } as unknown as Parameters<typeof createWriteStream>[1]);
}

export function handleReadLines(
  handle: RecordedFileHandle,
  options?: CreateReadStreamOptions,
): Interface {
  return createInterface({ input: handleReadStream(handle, options), crlfDelay: Infinity });
}

/** The file from the handle's position, as a web stream; the handle stays open. */
export function handleReadableWebStream(handle: RecordedFileHandle): ReadableStream {
  return Readable.toWeb(handleReadStream(handle, { autoClose: false })) as ReadableStream;
}
