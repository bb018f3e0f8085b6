/**
 * Durable replacement of small files (hints), through the same storage port as the file journal
 * (journal/storage.ts): production passes node:fs, the simulated crash layer a disk that loses
 * power between any two of these steps.
 */
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { errorCode } from './journal/errors.js';
import { writeFully } from './journal/fragment-io.js';
import { nodeStorage, type JournalStorage } from './journal/storage.js';

/** fsync of a directory makes the names created or renamed in it durable. */
export async function syncDir(dir: string, storage: JournalStorage = nodeStorage): Promise<void> {
  const handle = await storage.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * mkdir -p whose result survives a crash: each directory it creates is a new entry in its
 * parent, so every such parent is fsynced (from the top down). Nothing is synced when `dir`
 * already existed.
 */
export async function makeDirectoryDurable(
  dir: string,
  storage: JournalStorage = nodeStorage,
): Promise<void> {
  const target = resolve(dir);
  const first = await storage.mkdir(target, { recursive: true });
  if (typeof first !== 'string') return;
  const top = resolve(first);
  const created: string[] = [];
  for (let at = target; ; at = dirname(at)) {
    created.unshift(at);
    if (at === top || at === dirname(at)) break;
  }
  for (const made of created) await syncDir(dirname(made), storage);
}

/**
 * Writes `bytes` to `file` atomically: temp file in the same directory, fsync, rename, fsync of
 * the directory. A crash leaves the old file or the new one, never a torn one.
 */
export async function writeFileAtomically(
  file: string,
  bytes: Uint8Array,
  storage: JournalStorage = nodeStorage,
): Promise<void> {
  const target = resolve(file);
  const temp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
  const handle = await storage.open(temp, 'wx');
  let renamed = false;
  try {
    try {
      await writeFully(handle, [bytes], 0);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await storage.rename(temp, target);
    renamed = true;
    await syncDir(dirname(target), storage);
  } finally {
    if (!renamed) await removeIfPresent(storage, temp);
  }
}

async function removeIfPresent(storage: JournalStorage, path: string): Promise<void> {
  try {
    await storage.unlink(path);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
  }
}
