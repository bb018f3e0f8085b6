/**
 * Records an existing directory tree into a new file journal, as if an application had written
 * it through RecordedFs: one create and chunked writes per file, a link op per extra hard link,
 * and the top-level IDENTITY as a property (renamed from a temp name). RecordedFs runs over a
 * ShadowFs, so the tree is read once, from the source, and written only to the log.
 */
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { addAbortSignal } from 'node:stream';
import { FSM, newRandomAuthor } from '../fsm.js';
import { RecordedFs } from '../recorded-fs.js';
import { DEFAULT_PROPERTY_PATHS, Recorder } from '../recorder.js';
import type { FSMHints } from '../wire/types.js';
import { asFileError, onFile } from './file-errors.js';
import { withNewJournal } from './import-export.js';
import { ShadowFs, UnsupportedSourceError } from './shadow-fs.js';
import { interruption, throwIfInterrupted } from './signals.js';

/** Bytes per recorded write. */
const WRITE_CHUNK = 4 * 1024 * 1024;
/** Wait for durability after this many recorded bytes, so queued appends stay bounded. */
const BACKPRESSURE_BYTES = 64 * 1024 * 1024;

export interface SnapshotResult {
  hints: FSMHints;
  /** Distinct files recorded (a file with several hard links counts once). */
  files: number;
  /** Extra hard links recorded as link ops. */
  links: number;
  /** Files recorded as properties (IDENTITY). */
  properties: number;
  /** File content bytes recorded. */
  bytes: number;
  /** Directories with no files, which a recovery log cannot express. */
  emptyDirs: string[];
  /** The journal's write head after the snapshot. */
  head: number;
}

export interface SnapshotOptions {
  onProgress?: (bytes: number) => void;
  /** Aborting stops the snapshot; the half-built journal is removed. */
  signal?: AbortSignal;
}

/** Reads a source file (or directory) step, naming it in an operating-system error. */
function fromSource<T>(action: string, path: string, step: () => Promise<T>): Promise<T> {
  return onFile(action, path, step, '--from');
}

/**
 * Records the tree at `source` into a new FileJournal at `logDir` named `name` and returns the
 * hints that recover it. The source must not change meanwhile. Symbolic links and special files
 * cannot be expressed in a recovery log and fail the snapshot; the journal appears at `logDir`
 * only when the snapshot succeeded.
 */
export async function snapshotTree(
  source: string,
  logDir: string,
  name: string,
  options: SnapshotOptions = {},
): Promise<SnapshotResult> {
  const root = resolve(source);
  const rootStats = await fromSource('read', root, () => lstat(root));
  if (!rootStats.isDirectory()) throw new UnsupportedSourceError(root, 'not a directory');

  return withNewJournal(
    logDir,
    name,
    async (journal) => {
      const recorder = await Recorder.open({
        journal,
        fsm: new FSM({ log: name, liveNodes: [], properties: [] }),
        author: newRandomAuthor(),
        dir: root,
      });
      const recording = new TreeRecording(root, recorder, options);
      await recording.walk(root);
      throwIfInterrupted(options.signal);
      const hints = await recorder.buildHints();
      const head = (await recorder.barrier()).end;
      return { ...recording.result, hints, head };
    },
    { signal: options.signal },
  );
}

/** One snapshot's walk of the source tree, recording each entry as it goes. */
class TreeRecording {
  readonly result: Omit<SnapshotResult, 'hints' | 'head'> = {
    files: 0,
    links: 0,
    properties: 0,
    bytes: 0,
    emptyDirs: [],
  };
  readonly #root: string;
  readonly #recorder: Recorder;
  readonly #options: SnapshotOptions;
  readonly #shadow = new ShadowFs();
  readonly #fs: RecordedFs;
  readonly #properties = new Set(DEFAULT_PROPERTY_PATHS);
  /** First path seen of each multiply-linked file, by device and inode. */
  readonly #firstLink = new Map<string, string>();
  #sinceBarrier = 0;

  constructor(root: string, recorder: Recorder, options: SnapshotOptions) {
    this.#root = root;
    this.#recorder = recorder;
    this.#options = options;
    this.#fs = new RecordedFs(recorder, this.#shadow);
  }

  /** Records the files under `dir`; returns how many there are (properties included). */
  async walk(dir: string): Promise<number> {
    this.#shadow.addDirectory(dir);
    const names = (await fromSource('read the directory', dir, () => readdir(dir))).sort();
    let files = 0;
    for (const entry of names) {
      throwIfInterrupted(this.#options.signal);
      const path = join(dir, entry);
      const st = await fromSource('read', path, () => lstat(path));
      if (st.isDirectory()) {
        files += await this.walk(path);
      } else if (st.isFile()) {
        files += 1;
        await this.#recordRegularFile(path, st);
      } else {
        throw new UnsupportedSourceError(
          path,
          `it is a ${st.isSymbolicLink() ? 'symbolic link' : 'special file'}; a recovery log ` +
            'holds regular files and hard links only',
        );
      }
    }
    if (files === 0 && dir !== this.#root) this.result.emptyDirs.push(dir.slice(this.#root.length));
    return files;
  }

  /** A property, an extra hard link of a file already recorded, or a new file. */
  async #recordRegularFile(path: string, st: Stats): Promise<void> {
    if (this.#properties.has(path.slice(this.#root.length))) {
      await this.#recordProperty(path);
      return;
    }
    const key = `${st.dev}:${st.ino}`;
    const first = st.nlink > 1 ? this.#firstLink.get(key) : undefined;
    if (first !== undefined) {
      await this.#fs.link(first, path);
      this.result.links += 1;
      return;
    }
    if (st.nlink > 1) this.#firstLink.set(key, path);
    await this.#recordFile(path, st.size);
    this.result.files += 1;
  }

  async #recordFile(path: string, size: number): Promise<void> {
    const handle = await this.#fs.open(path, 'wx');
    try {
      let written = 0;
      for await (const chunk of this.#readSource(path, WRITE_CHUNK)) {
        const bytes = chunk as Buffer;
        await handle.write(bytes);
        written += bytes.length;
        this.result.bytes += bytes.length;
        this.#sinceBarrier += bytes.length;
        this.#options.onProgress?.(this.result.bytes);
        throwIfInterrupted(this.#options.signal);
        if (this.#sinceBarrier >= BACKPRESSURE_BYTES) {
          this.#sinceBarrier = 0;
          await this.#recorder.barrier();
        }
      }
      if (written !== size) {
        throw new UnsupportedSourceError(
          path,
          `its size changed while it was read (${size} -> ${written} bytes); snapshot a ` +
            'directory that is not being written',
        );
      }
    } finally {
      await handle.close();
    }
  }

  async #recordProperty(path: string): Promise<void> {
    // A property is recorded by renaming a file onto its path, as RocksDB does with IDENTITY.
    const temp = `${path}.snapshot-tmp`;
    this.#shadow.retain(temp);
    const size = (await fromSource('read', path, () => lstat(path))).size;
    const handle = await this.#fs.open(temp, 'wx');
    try {
      for await (const chunk of this.#readSource(path)) await handle.write(chunk as Buffer);
    } finally {
      await handle.close();
    }
    if ((await this.#shadow.lstat(temp)).size !== size) {
      throw new UnsupportedSourceError(path, 'its size changed while it was read');
    }
    await this.#fs.rename(temp, path);
    this.result.properties += 1;
  }

  /** The chunks of a source file; aborting the snapshot ends the read. */
  async *#readSource(path: string, highWaterMark?: number): AsyncGenerator<unknown> {
    const { signal } = this.#options;
    const stream = createReadStream(path, { highWaterMark });
    if (signal !== undefined) addAbortSignal(signal, stream);
    try {
      yield* stream;
    } catch (err) {
      if (signal?.aborted === true) throw interruption(signal);
      throw asFileError(err, 'read', path, '--from');
    }
  }
}
