/**
 * Creating a file journal's directory: journal.json written and the directory (and its parent)
 * fsynced, so the empty journal survives a crash once this resolves. Fragment files appear with
 * the first append.
 */
import { join, resolve } from 'node:path';
import { JournalExistsError } from './errors.js';
import { LEGACY_COMMITS_FILE, LEGACY_DATA_FILE } from './fragment-layout.js';
import { META_FILE, writeMeta } from './journal-meta.js';
import type { JournalStorage } from './storage.js';
import { fsyncDirectory } from './takeover.js';

/** Creates `root` (if missing) holding an empty journal named `name`. */
export async function createJournalDirectory(
  storage: JournalStorage,
  root: string,
  name: string,
): Promise<void> {
  await storage.mkdir(root, { recursive: true });
  await clearUnfinishedCreate(storage, root);
  await writeMeta(storage, root, name);
  await fsyncDirectory(storage, root);
  await fsyncDirectory(storage, resolve(root, '..'));
}

/**
 * Refuses to create over an existing journal. An interrupted create can only leave journal.json
 * temp files (or, from version 1, empty data/commits files): those are cleared; anything else is
 * someone's data and is left alone.
 */
async function clearUnfinishedCreate(storage: JournalStorage, root: string): Promise<void> {
  const entries = await storage.readdir(root);
  if (entries.includes(META_FILE))
    throw new JournalExistsError(root, `${META_FILE} already exists`);
  const leftovers: string[] = [];
  for (const entry of entries) {
    if (entry.startsWith(`${META_FILE}.tmp-`)) {
      leftovers.push(entry);
    } else if (entry === LEGACY_DATA_FILE || entry === LEGACY_COMMITS_FILE) {
      const size = (await storage.stat(join(root, entry))).size;
      if (size > 0) {
        throw new JournalExistsError(
          root,
          `${entry} holds ${size} bytes but ${META_FILE} is missing; this is not an unfinished ` +
            'create, so it is left alone: move it away or choose another directory',
        );
      }
      leftovers.push(entry);
    } else if (/^\d{10}\.(index|data)$/.test(entry)) {
      throw new JournalExistsError(
        root,
        `fragment file ${entry} exists but ${META_FILE} is missing; move it away or choose ` +
          'another directory',
      );
    }
  }
  for (const file of leftovers) await storage.unlink(join(root, file));
}
