/**
 * Test helper for the end-to-end scenarios: one file system used both as the recorded store's
 * base (RecordedFs) and as the Player's target (node:fs under a temporary directory, or a memfs
 * Volume), journal kinds to run a scenario over, and a byte-and-inode snapshot of a directory
 * tree for comparing a recovered directory with the one it was recorded from.
 */
import { promises as nodeFs } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Volume } from 'memfs';
import { newRandomAuthor } from '../../src/fsm.js';
import { FileJournal } from '../../src/journal/file.js';
import type { Journal } from '../../src/journal/journal.js';
import { MemoryJournal } from '../../src/journal/memory.js';
import type { TargetFs } from '../../src/player/target-fs.js';
import type { BaseFs, BaseStats } from '../../src/recorded-fs.js';
import type { Author } from '../../src/wire/types.js';

/** One file of a snapshot: its bytes and its inode (hard links share one). */
export interface TreeFile {
  bytes: Buffer;
  ino: number;
}

/** A file system a store records on and a Player recovers into. */
export interface ScenarioFs {
  readonly name: string;
  /** RecordedFs's base file system. */
  readonly base: BaseFs;
  /** The Player's target: the same file system. */
  readonly target: TargetFs;
  /** A new, existing, empty directory (a store to record). */
  newDir(label: string): Promise<string>;
  /** A path nothing exists at yet (a Player's target directory). */
  freshPath(label: string): string;
  exists(p: string): Promise<boolean>;
  /** Every regular file under `dir`, by recorded path ('/rel/path'), sorted. */
  tree(dir: string): Promise<Map<string, TreeFile>>;
  readText(p: string): Promise<string>;
  cleanup(): Promise<void>;
}

function makeScenarioFs(
  name: string,
  base: BaseFs,
  target: TargetFs,
  root: string,
  done: () => Promise<void>,
): ScenarioFs {
  let counter = 0;
  const freshPath = (label: string): string => path.posix.join(root, `${label}-${++counter}`);
  const tree = async (dir: string, rel = ''): Promise<Map<string, TreeFile>> => {
    const out = new Map<string, TreeFile>();
    const names = (await base.readdir(dir + rel)).map(String).sort();
    for (const entry of names) {
      const child = `${rel}/${entry}`;
      const stats = (await base.lstat(dir + child)) as BaseStats & { ino: number | bigint };
      if (stats.isDirectory()) {
        for (const [p, f] of await tree(dir, child)) out.set(p, f);
      } else {
        out.set(child, {
          bytes: Buffer.from(await base.readFile(dir + child)),
          ino: Number(stats.ino),
        });
      }
    }
    return out;
  };
  return {
    name,
    base,
    target,
    freshPath,
    newDir: async (label) => {
      const dir = freshPath(label);
      await base.mkdir(dir, { recursive: true });
      return dir;
    },
    exists: async (p) => {
      try {
        await base.lstat(p);
        return true;
      } catch {
        return false;
      }
    },
    tree: (dir) => tree(dir),
    readText: async (p) => Buffer.from(await base.readFile(p)).toString('utf8'),
    cleanup: done,
  };
}

/** Both file systems, for `for (const fsKind of SCENARIO_FS) describe(...)`. */
export const SCENARIO_FS: readonly { name: string; make: () => Promise<ScenarioFs> }[] = [
  {
    name: 'node:fs',
    make: async () => {
      const root = await mkdtemp(path.join(tmpdir(), 'recoverylog-scenario-'));
      return makeScenarioFs('node:fs', nodeFs, nodeFs, root, () =>
        nodeFs.rm(root, { recursive: true, force: true }),
      );
    },
  },
  {
    name: 'memfs',
    make: async () => {
      const vol = new Volume();
      const base: BaseFs = vol.promises;
      // memfs's promise API is wider (and typed loosely) than TargetFs; it implements all of it.
      const target = vol.promises as unknown as TargetFs;
      return makeScenarioFs('memfs', base, target, '/scenario', async () => vol.reset());
    },
  },
];

/** Creates journals of one kind; `restart` models a process stopping and starting again. */
export interface JournalKind {
  readonly name: string;
  create(journalName: string): Promise<Journal>;
  /** The same log, as a process starting afresh sees it (closes `journal` when that matters). */
  restart(journal: Journal): Promise<Journal>;
  cleanup(): Promise<void>;
}

export function memoryJournals(): JournalKind {
  const open: Journal[] = [];
  return {
    name: 'MemoryJournal',
    create: async (journalName) => {
      const journal = new MemoryJournal(journalName);
      open.push(journal);
      return journal;
    },
    // The memory journal lives in this process: a restarted process keeps using it.
    restart: async (journal) => journal,
    cleanup: async () => {
      for (const j of open) await j.close();
    },
  };
}

export async function fileJournals(): Promise<JournalKind> {
  const root = await mkdtemp(path.join(tmpdir(), 'recoverylog-scenario-journals-'));
  const open = new Set<FileJournal>();
  const dirs = new Map<Journal, string>();
  let counter = 0;
  return {
    name: 'FileJournal',
    create: async (journalName) => {
      const dir = path.join(root, `journal-${++counter}`);
      const journal = await FileJournal.create(dir, journalName);
      open.add(journal);
      dirs.set(journal, dir);
      return journal;
    },
    restart: async (journal) => {
      const dir = dirs.get(journal);
      if (dir === undefined || !(journal instanceof FileJournal)) {
        throw new Error(`test journals: ${journal.name} was not created here`);
      }
      await journal.close();
      open.delete(journal);
      const reopened = await FileJournal.open(dir);
      open.add(reopened);
      dirs.set(reopened, dir);
      return reopened;
    },
    cleanup: async () => {
      for (const j of open) await j.close();
      await nodeFs.rm(root, { recursive: true, force: true });
    },
  };
}

/** `count` distinct random authors. */
export function distinctAuthors(count: number): Author[] {
  const authors = new Set<Author>();
  while (authors.size < count) authors.add(newRandomAuthor());
  return [...authors];
}

/** Resolves or rejects like `promise`, or rejects if it has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts-friendly view of a snapshot: path -> content as text (binary as hex). */
export function contentsOf(tree: Map<string, TreeFile>): Map<string, string> {
  return new Map([...tree].map(([p, f]) => [p, f.bytes.toString('hex')]));
}

/** Groups a snapshot's paths by inode: each group is one file (hard links together). */
export function linkGroups(tree: Map<string, TreeFile>): string[][] {
  const byIno = new Map<number, string[]>();
  for (const [p, f] of tree) {
    const group = byIno.get(f.ino) ?? [];
    group.push(p);
    byIno.set(f.ino, group);
  }
  return [...byIno.values()].map((g) => g.sort()).sort((a, b) => a[0]!.localeCompare(b[0]!));
}
