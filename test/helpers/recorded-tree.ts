/**
 * Test helper for RecordedFs tests: a recorded directory on node:fs or memfs (a Recorder over a
 * MemoryJournal or FileJournal), recovery of it with the Player into a fresh directory, and a
 * snapshot of a tree (files with bytes and modes, hard-link groups, directories) to compare the
 * recovered tree with the live one.
 */
import assert from 'node:assert/strict';
import { promises as nodeFs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Volume } from 'memfs';
import { FSM, newRandomAuthor } from '../../src/fsm.js';
import { FileJournal } from '../../src/journal/file.js';
import type { Journal } from '../../src/journal/journal.js';
import { MemoryJournal } from '../../src/journal/memory.js';
import { Player } from '../../src/player.js';
import type { TargetFs } from '../../src/player/target-fs.js';
import { RecordedFs, type BaseFs } from '../../src/recorded-fs.js';
import { Recorder } from '../../src/recorder.js';

/** The slice of a file system a snapshot needs (node:fs promises and memfs promises fit). */
export interface TreeFs {
  readdir(path: string): Promise<unknown[]>;
  lstat(path: string): Promise<{
    isDirectory(): boolean;
    isFile(): boolean;
    ino: number | bigint;
    mode: number | bigint;
  }>;
  readFile(path: string): Promise<Uint8Array>;
}

export interface TreeSnapshot {
  /** Regular files: path -> hex bytes. */
  files: Map<string, string>;
  /** Permission bits of each file. */
  modes: Map<string, number>;
  /** Directories, relative ('/a', '/a/b'). */
  dirs: string[];
  /** Permission bits of each directory. */
  dirModes: Map<string, number>;
  /** Hard-link groups (paths sharing an inode), each sorted, as sorted lists of paths. */
  links: string[][];
  /** Anything else (symlinks, FIFOs...). */
  other: string[];
}

/** Snapshot of the tree under `dir`, ignoring names in `skip` at its top level. */
export async function snapshot(
  fs: TreeFs,
  dir: string,
  skip: string[] = [],
): Promise<TreeSnapshot> {
  const out: TreeSnapshot = {
    files: new Map(),
    modes: new Map(),
    dirs: [],
    dirModes: new Map(),
    links: [],
    other: [],
  };
  const inodes = new Map<string, string[]>();
  const walk = async (rel: string): Promise<void> => {
    for (const entry of (await fs.readdir(dir + rel)).map(String).sort()) {
      if (rel === '' && skip.includes(entry)) continue;
      const p = `${rel}/${entry}`;
      const st = await fs.lstat(dir + p);
      if (st.isDirectory()) {
        out.dirs.push(p);
        out.dirModes.set(p, Number(st.mode) & 0o7777);
        await walk(p);
      } else if (st.isFile()) {
        out.files.set(p, Buffer.from(await fs.readFile(dir + p)).toString('hex'));
        out.modes.set(p, Number(st.mode) & 0o7777);
        const key = String(st.ino);
        inodes.set(key, [...(inodes.get(key) ?? []), p]);
      } else {
        out.other.push(p);
      }
    }
  };
  await walk('');
  out.links = [...inodes.values()].map((g) => g.sort()).sort((a, b) => a[0]!.localeCompare(b[0]!));
  return out;
}

/** Directories implied by the files of a snapshot (what a recovery recreates). */
export function impliedDirs(files: Iterable<string>): string[] {
  const dirs = new Set<string>();
  for (const file of files) {
    for (let d = path.posix.dirname(file); d !== '/'; d = path.posix.dirname(d)) dirs.add(d);
  }
  return [...dirs].sort();
}

/**
 * The recovered tree equals the live one: same files and bytes, same hard-link groups, same
 * directories (empty ones too: mkdir is recorded). With `modes`, the same permission bits of
 * files and directories too.
 */
export function assertRecovered(live: TreeSnapshot, recovered: TreeSnapshot, modes = true): void {
  assert.deepEqual(recovered.files, live.files, 'recovered files and bytes equal the live ones');
  assert.deepEqual(recovered.links, live.links, 'hard-link groups are the same');
  assert.deepEqual(recovered.dirs, live.dirs, 'directories (empty ones too) are the same');
  assert.deepEqual(recovered.other, []);
  if (modes) {
    assert.deepEqual(recovered.modes, live.modes, 'permission bits of files are the same');
    assert.deepEqual(recovered.dirModes, live.dirModes, 'permission bits of directories too');
  }
}

export interface RecordedEnv {
  readonly kind: 'node:fs' | 'memfs';
  /** The base file system. */
  readonly base: BaseFs & TreeFs;
  readonly target: TargetFs;
  /** The recorded directory (exists, empty at start). */
  readonly dir: string;
  readonly journal: Journal;
  readonly recorder: Recorder;
  readonly rfs: RecordedFs;
  /** A path nothing exists at yet. */
  fresh(label: string): string;
  /**
   * Plays the recorder's hints (or, with `full`, the whole log from offset 0) into a fresh
   * directory (read-only finish) and returns it.
   */
  recover(options?: { full?: boolean }): Promise<string>;
  /** Snapshot of a directory on this file system. */
  snapshot(dir: string): Promise<TreeSnapshot>;
  /** Recovers and asserts the recovered tree equals the live one. */
  assertRecoversLive(options?: { modes?: boolean }): Promise<void>;
  cleanup(): Promise<void>;
}

export async function recordedEnv(
  kind: 'node:fs' | 'memfs',
  options: { fileJournal?: boolean } = {},
): Promise<RecordedEnv> {
  const root =
    kind === 'node:fs' ? await nodeFs.mkdtemp(path.join(tmpdir(), 'recorded-fs-')) : '/srv';
  const vol = kind === 'memfs' ? new Volume() : undefined;
  const base = (vol ? vol.promises : nodeFs) as unknown as BaseFs & TreeFs;
  const target = (vol ? vol.promises : nodeFs) as unknown as TargetFs;
  const dir = path.posix.join(root, 'data');
  await base.mkdir(dir, { recursive: true });
  const name = 'tests/recorded-fs/log';
  const journal: Journal = options.fileJournal
    ? await FileJournal.create(path.join(root, 'journal'), name)
    : new MemoryJournal(name);
  const fsm = new FSM({ log: name, liveNodes: [], properties: [] });
  const recorder = await Recorder.open({ journal, fsm, author: newRandomAuthor(), dir });
  const rfs = new RecordedFs(recorder, base);
  let counter = 0;
  const env: RecordedEnv = {
    kind,
    base,
    target,
    dir,
    journal,
    recorder,
    rfs,
    fresh: (label) => path.posix.join(root, `${label}-${++counter}`),
    recover: async (opts = {}) => {
      const built = await recorder.buildHints();
      const hints = opts.full === true ? { log: name, liveNodes: [], properties: [] } : built;
      const player = new Player({ fs: target });
      player.finishAtWriteHead();
      const out = env.fresh('recovered');
      await player.play({ hints, dir: out, journals: () => journal });
      return out;
    },
    snapshot: (d) => snapshot(base, d),
    assertRecoversLive: async (opts = {}) => {
      assert.equal(recorder.failed, undefined, 'the recorder did not fail');
      const live = await snapshot(base, dir);
      for (const full of [false, true]) {
        const out = await env.recover({ full });
        assertRecovered(live, await snapshot(base, out), opts.modes ?? true);
      }
    },
    cleanup: async () => {
      await journal.close();
      if (kind === 'node:fs') await nodeFs.rm(root, { recursive: true, force: true });
    },
  };
  return env;
}

export const KINDS = ['node:fs', 'memfs'] as const;
