/**
 * The I/O steps of a RecordedFileHandle under its public signatures: one write and its
 * recording, a whole buffer written through short writes, and a read at the handle's position.
 *
 * The handle keeps its own position and always passes explicit positions to the base, so the
 * recorded offset of every write is exactly where its bytes landed, even with concurrent calls.
 */
import type { RecordedFileHandle } from './handle.js';
import { systemError } from './node-errors.js';

/** Writes all of `bytes` at the handle's position (short writes continue). */
export async function writeAll(handle: RecordedFileHandle, bytes: Uint8Array): Promise<void> {
  let rest = bytes;
  while (rest.length > 0) {
    const n = await writeBytes(handle, rest, null);
    if (n === 0)
      throw new Error(`write made no progress with ${rest.length} bytes left (fd ${handle.fd})`);
    rest = rest.subarray(n);
  }
}

/** Reads at `position` (null: the handle's position, which then advances). */
export async function readInto(
  handle: RecordedFileHandle,
  view: Uint8Array,
  offset: number,
  length: number,
  position: number | null,
): Promise<number> {
  // Checked here, as the kernel does (memfs would read a write-only descriptor).
  if (!handle._access.read) throw systemError('EBADF', 'read', 'bad file descriptor');
  const at = position ?? handle._position;
  const { bytesRead } = await handle._base.read(view, offset, length, at);
  if (position === null) handle._position = at + bytesRead;
  return bytesRead;
}

/** One write (which may be short) and its recording; returns the bytes written. */
export async function writeBytes(
  handle: RecordedFileHandle,
  bytes: Uint8Array,
  position: number | null,
): Promise<number> {
  const core = handle._core;
  core.assertUsable();
  // Checked here, as the kernel does (memfs would write through a read-only descriptor).
  if (!handle._access.write) throw systemError('EBADF', 'write', 'bad file descriptor');
  if (bytes.length === 0) return 0; // Nothing to write, nor to record.
  const append = handle._access.append;
  // Reserve the range now, in call order, so concurrent writes get distinct positions.
  const reserved = position ?? handle._position;
  if (!append && position === null) handle._position = reserved + bytes.length;
  const fnode = handle.fnode;
  if (fnode === undefined) {
    // Read-only handle: the base refuses the write; nothing to record either way.
    const { bytesWritten } = await handle._base.write(bytes, 0, bytes.length, reserved);
    return bytesWritten;
  }
  // Writes to one file are serialised with their recording (in the Recorder's registry, shared
  // by every wrapper), so the log orders them exactly as the file system applied them.
  return core.registry.serialized(fnode, async () => {
    core.assertUsable();
    const current = handle.fnode!;
    // O_APPEND: the base appends whatever the position says; we record at the known end.
    const at = append
      ? await core.registry.size(current, async () => Number((await handle._base.stat()).size))
      : reserved;
    const { bytesWritten } = await handle._base.write(bytes, 0, bytes.length, append ? null : at);
    if (append) {
      // write(2) moves the offset to the end; pwrite(2) (an explicit position) leaves it.
      if (position === null) handle._position = at + bytesWritten;
    } else if (position === null && bytesWritten < bytes.length) {
      // A short write: continue right after what was written (unless another write followed).
      if (handle._position === at + bytes.length) handle._position = at + bytesWritten;
    }
    core.recordWrite(handle, bytes.subarray(0, bytesWritten), at);
    return bytesWritten;
  });
}
