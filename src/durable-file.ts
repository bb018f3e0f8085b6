import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** fsync of a directory makes the names created or renamed in it durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `bytes` to `file` atomically: temp file in the same directory, fsync, rename, fsync of
 * the directory. A crash leaves the old file or the new one, never a torn one.
 */
export async function writeFileAtomically(file: string, bytes: Uint8Array): Promise<void> {
  const target = resolve(file);
  const temp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
  const handle = await open(temp, 'wx');
  let renamed = false;
  try {
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
    renamed = true;
    await syncDir(dirname(target));
  } finally {
    if (!renamed) await rm(temp, { force: true });
  }
}
