/**
 * `recoverylog snapshot`: record an existing directory tree into a new file journal, as if an
 * application had written it through RecordedFs: one create and chunked writes per file, a link
 * op per extra hard link, and the top-level IDENTITY as a property (renamed from a temp name).
 *
 * RecordedFs runs over a base file system that keeps names and sizes but discards file
 * contents (`ShadowFs`): the tree is read once, from the source, and written only to the log.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { addAbortSignal } from 'node:stream';
import { RecoveryLogError } from '../errors.js';
import { FSM, newRandomAuthor } from '../fsm.js';
import { encodeHints } from '../hints.js';
import { RecordedFs, type BaseFileHandle, type BaseFs, type BaseStats } from '../recorded-fs.js';
import { DEFAULT_PROPERTY_PATHS, Recorder } from '../recorder.js';
import type { FSMHints } from '../wire/types.js';
import { parseArgs, UsageError, type Verb } from './args.js';
import { asFileError, onFile } from './file-errors.js';
import { required, withNewJournal } from './import-export.js';
import { assertReplaceableOutput, STDOUT, writeAll, writeOutputFile } from './output.js';
import { createProgress, formatBytes } from './progress.js';
import { interruption, quietContext, throwIfInterrupted } from './signals.js';

/** Something in the source tree cannot be expressed in a recovery log. */
export class UnsupportedSourceError extends RecoveryLogError {
  readonly path: string;
  constructor(path: string, detail: string) {
    super(`cannot snapshot ${path}: ${detail}`);
    this.path = path;
  }
}

/** Bytes per recorded write. */
const WRITE_CHUNK = 4 * 1024 * 1024;
/** Wait for durability after this many recorded bytes, so queued appends stay bounded. */
const BACKPRESSURE_BYTES = 64 * 1024 * 1024;

function enoent(path: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`ENOENT: no such file or directory, '${path}'`);
  err.code = 'ENOENT';
  return err;
}

interface ShadowFile {
  size: number;
  /** Content kept only for files registered with retain() (property sources). */
  content?: Uint8Array;
}

/**
 * A BaseFs that tracks file names, hard links and sizes, and discards written bytes except for
 * files registered with `retain` (whose content RecordedFs reads back on a rename onto a
 * property path). Lets RecordedFs record a tree that already exists elsewhere.
 */
export class ShadowFs implements BaseFs {
  readonly #files = new Map<string, ShadowFile>();
  readonly #dirs = new Set<string>();
  readonly #retained = new Set<string>();
  #nextFd = 1000;

  /** Keep the bytes written to `path` (it will be renamed onto a property). */
  retain(path: string): void {
    this.#retained.add(path);
  }

  /**
   * Declares an existing directory of the source tree, so that `lstat` reports it as RecordedFs
   * checks a parent directory before a rename or link (on a base other than node:fs).
   */
  addDirectory(path: string): void {
    this.#dirs.add(path);
  }

  async open(path: string, flags: string | number): Promise<BaseFileHandle> {
    if (flags !== 'w' && flags !== 'wx') {
      throw new UnsupportedSourceError(path, `ShadowFs opens only with 'w' or 'wx' (got ${flags})`);
    }
    if (flags === 'wx' && this.#files.has(path)) {
      const err: NodeJS.ErrnoException = new Error(`EEXIST: file already exists, '${path}'`);
      err.code = 'EEXIST';
      throw err;
    }
    const file: ShadowFile = { size: 0 };
    if (this.#retained.has(path)) file.content = new Uint8Array(0);
    this.#files.set(path, file);
    const stats = (): BaseStats => fileStats(file.size);
    return {
      fd: this.#nextFd++,
      write: async (buffer, offset, length, position) => {
        const at = position ?? file.size;
        if (file.content !== undefined) {
          const next = new Uint8Array(Math.max(file.content.length, at + length));
          next.set(file.content);
          next.set(buffer.subarray(offset, offset + length), at);
          file.content = next;
        }
        file.size = Math.max(file.size, at + length);
        return { bytesWritten: length };
      },
      read: async () => ({ bytesRead: 0 }),
      stat: async () => stats(),
      truncate: async (len = 0) => {
        file.size = len;
        if (file.content !== undefined) file.content = file.content.subarray(0, len);
      },
      datasync: async () => undefined,
      close: async () => undefined,
    };
  }

  async rename(oldPath: string, newPath: string): Promise<void> {
    const file = this.#files.get(oldPath);
    if (file === undefined) throw enoent(oldPath);
    this.#files.delete(oldPath);
    this.#files.set(newPath, file);
  }

  async link(existingPath: string, newPath: string): Promise<void> {
    const file = this.#files.get(existingPath);
    if (file === undefined) throw enoent(existingPath);
    this.#files.set(newPath, file);
  }

  async unlink(path: string): Promise<void> {
    if (!this.#files.delete(path)) throw enoent(path);
  }

  async rm(path: string, options?: { force?: boolean }): Promise<void> {
    if (!this.#files.delete(path) && options?.force !== true) throw enoent(path);
  }

  async rmdir(path: string): Promise<void> {
    this.#dirs.delete(path);
  }

  async mkdir(path: string): Promise<unknown> {
    this.#dirs.add(path);
    return undefined;
  }

  async truncate(path: string, len = 0): Promise<void> {
    const file = this.#files.get(path);
    if (file === undefined) throw enoent(path);
    file.size = len;
  }

  async readFile(path: string): Promise<Uint8Array> {
    const file = this.#files.get(path);
    if (file === undefined) throw enoent(path);
    if (file.content === undefined) {
      throw new UnsupportedSourceError(path, 'ShadowFs keeps no content for this file');
    }
    return file.content;
  }

  async readdir(): Promise<unknown[]> {
    return [];
  }

  async stat(path: string): Promise<BaseStats> {
    return this.lstat(path);
  }

  async lstat(path: string): Promise<BaseStats> {
    const file = this.#files.get(path);
    if (file !== undefined) return fileStats(file.size);
    if (this.#dirs.has(path)) return { size: 0, isFile: () => false, isDirectory: () => true };
    throw enoent(path);
  }
}

function fileStats(size: number): BaseStats {
  return { size, isFile: () => true, isDirectory: () => false };
}

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
  const { signal } = options;
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
      const shadow = new ShadowFs();
      const fs = new RecordedFs(recorder, shadow);
      const result: Omit<SnapshotResult, 'hints' | 'head'> = {
        files: 0,
        links: 0,
        properties: 0,
        bytes: 0,
        emptyDirs: [],
      };
      let sinceBarrier = 0;
      const properties = new Set(DEFAULT_PROPERTY_PATHS);
      /** First path seen of each multiply-linked file, by device and inode. */
      const firstLink = new Map<string, string>();

      const recordFile = async (path: string, size: number): Promise<void> => {
        const handle = await fs.open(path, 'wx');
        try {
          let written = 0;
          for await (const chunk of readSource(path, WRITE_CHUNK)) {
            const bytes = chunk as Buffer;
            await handle.write(bytes);
            written += bytes.length;
            result.bytes += bytes.length;
            sinceBarrier += bytes.length;
            options.onProgress?.(result.bytes);
            throwIfInterrupted(signal);
            if (sinceBarrier >= BACKPRESSURE_BYTES) {
              sinceBarrier = 0;
              await recorder.barrier();
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
      };

      const recordProperty = async (path: string): Promise<void> => {
        // A property is recorded by renaming a file onto its path, as RocksDB does with IDENTITY.
        const temp = `${path}.snapshot-tmp`;
        shadow.retain(temp);
        const size = (await fromSource('read', path, () => lstat(path))).size;
        const handle = await fs.open(temp, 'wx');
        try {
          for await (const chunk of readSource(path)) await handle.write(chunk as Buffer);
        } finally {
          await handle.close();
        }
        if ((await shadow.lstat(temp)).size !== size) {
          throw new UnsupportedSourceError(path, 'its size changed while it was read');
        }
        await fs.rename(temp, path);
        result.properties += 1;
      };

      /** The chunks of a source file; aborting the snapshot ends the read. */
      async function* readSource(path: string, highWaterMark?: number): AsyncGenerator<unknown> {
        const stream = createReadStream(path, { highWaterMark });
        if (signal !== undefined) addAbortSignal(signal, stream);
        try {
          yield* stream;
        } catch (err) {
          if (signal?.aborted === true) throw interruption(signal);
          throw asFileError(err, 'read', path, '--from');
        }
      }

      const walk = async (dir: string): Promise<number> => {
        shadow.addDirectory(dir);
        const names = (await fromSource('read the directory', dir, () => readdir(dir))).sort();
        let files = 0;
        for (const entry of names) {
          throwIfInterrupted(signal);
          const path = join(dir, entry);
          const rel = path.slice(root.length);
          const st = await fromSource('read', path, () => lstat(path));
          if (st.isDirectory()) {
            files += await walk(path);
          } else if (st.isFile()) {
            files += 1;
            if (properties.has(rel)) {
              await recordProperty(path);
              continue;
            }
            const key = `${st.dev}:${st.ino}`;
            const first = st.nlink > 1 ? firstLink.get(key) : undefined;
            if (first !== undefined) {
              await fs.link(first, path);
              result.links += 1;
              continue;
            }
            if (st.nlink > 1) firstLink.set(key, path);
            await recordFile(path, st.size);
            result.files += 1;
          } else {
            throw new UnsupportedSourceError(
              path,
              `it is a ${st.isSymbolicLink() ? 'symbolic link' : 'special file'}; a recovery log ` +
                'holds regular files and hard links only',
            );
          }
        }
        if (files === 0 && dir !== root) result.emptyDirs.push(dir.slice(root.length));
        return files;
      };

      await walk(root);
      throwIfInterrupted(signal);
      const hints = await recorder.buildHints();
      const head = (await recorder.barrier()).end;
      return { ...result, hints, head };
    },
    { signal },
  );
}

const FLAGS = {
  from: { type: 'string' },
  log: { type: 'string' },
  name: { type: 'string' },
  'hints-out': { type: 'string' },
} as const;

export const snapshotVerb: Verb = {
  summary: 'record an existing directory tree into a new file journal',
  usage: [
    'Usage: recoverylog snapshot --from SRC --log DIR --name NAME [--hints-out FILE|-]',
    '',
    'Records every regular file under SRC into a new file journal (DIR, named NAME) as an',
    'application writing it through RecordedFs would: a create and chunked writes per file,',
    'a link op for each extra hard link, and a top-level IDENTITY file as a property. SRC',
    'must not change meanwhile. Symbolic links and special files fail the snapshot; empty',
    'directories are reported and not recorded (a recovery log holds files only). The journal',
    'is built in a hidden partial directory next to DIR and renamed to DIR once complete.',
    '',
    'Options:',
    '  --from SRC           the directory tree to record',
    '  --log DIR            the journal directory to create (must not exist, or be empty)',
    '  --name NAME          the journal name (Gazette journal-name rules)',
    '  --hints-out FILE|-   also write the hints that recover the snapshot (Gazette JSON) to',
    '                       FILE, atomically (a regular file there is replaced; anything else',
    '                       is refused), or to standard output with "-" (the summary then goes',
    '                       to standard error)',
    '',
    'Exit status: 0 recorded; 1 on failure; 2 on a usage error; 130/143 when interrupted by',
    'SIGINT/SIGTERM (the half-built journal is removed).',
  ].join('\n'),
  async run(argv: string[], context = quietContext()): Promise<number> {
    const { flags, positionals } = parseArgs(argv, FLAGS);
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const from = required(flags.from, '--from SRC');
    const log = required(flags.log, '--log DIR');
    const name = required(flags.name, '--name NAME');
    const hintsOut = flags['hints-out'];
    const hintsToStdout = hintsOut === STDOUT;
    if (hintsOut !== undefined && !hintsToStdout) {
      await assertReplaceableOutput(hintsOut, '--hints-out');
    }
    const progress = createProgress({ label: `recording ${from}` });
    let result: SnapshotResult;
    try {
      result = await snapshotTree(from, log, name, {
        onProgress: (b) => progress.update(b),
        signal: context.signal,
      });
    } finally {
      progress.finish();
    }
    const json = encodeHints(result.hints, 'json');
    if (hintsToStdout) {
      process.stdout.write(`${new TextDecoder().decode(json)}\n`);
    } else if (hintsOut !== undefined) {
      await writeOutputFile(hintsOut, { flag: '--hints-out', signal: context.signal }, (file) =>
        writeAll(file, json),
      );
    }
    for (const dir of result.emptyDirs) {
      process.stderr.write(`note: empty directory ${dir} is not recorded\n`);
    }
    const summary =
      `recorded ${resolve(from)} into journal ${name} at ${resolve(log)}: ${result.files} files, ` +
      `${result.links} extra hard links, ${result.properties} properties, ` +
      `${result.bytes} bytes (${formatBytes(result.bytes)}) of content, journal head ` +
      `${result.head}` +
      (hintsOut !== undefined
        ? `; hints written to ${hintsToStdout ? 'standard output' : resolve(hintsOut)}`
        : '') +
      '\n';
    (hintsToStdout ? process.stderr : process.stdout).write(summary);
    return 0;
  },
};
