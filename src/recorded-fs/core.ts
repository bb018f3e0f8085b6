/**
 * The state and the path-level recording steps RecordedFs and its handles share: the Recorder,
 * the base file system, the Recorder's FileRegistry, and open handles by descriptor.
 *
 * Order of every mutating call: validate (paths, expressibility, recorder state) and throw a typed
 * error before touching anything; perform the real call; record exactly what happened,
 * synchronously after it succeeded. A failed real call records nothing.
 */
import { promises as nodePromises } from 'node:fs';
import { NotSupportedError, UntrackedFileError } from '../recorder-errors.js';
import type { Recorder } from '../recorder.js';
import type { RerecordPolicy } from '../rerecord.js';
import type { Fnode } from '../wire/types.js';
import { mutationPath } from './args.js';
import {
  accessMode,
  changes,
  parseMode,
  processUmask,
  type AccessMode,
  type OpenFlags,
} from './flags.js';
import { RecordedFileHandle } from './handle.js';
import { noteCreatedMode, permissionsOf } from './metadata.js';
import { FileRegistry } from './registry.js';
import type { BaseFileHandle, BaseFs } from './types.js';

/** A validated path of a mutating call: absolute, and as the log names it. */
export interface RecordedPath {
  abs: string;
  rel: string;
}

export class FsCore {
  readonly registry: FileRegistry;
  /** Open handles by descriptor, for the callback-style adapter (asNodeFs). */
  readonly fds = new Map<number, RecordedFileHandle>();

  /**
   * The umask the base applies to created files: the process's for node:fs, none for any other
   * base (memfs applies none), unless RecordedFsOptions.umask says otherwise.
   */
  readonly umask: () => number;
  /**
   * Whether the base is node:fs, whose kernel checks every call atomically. Any other base (memfs)
   * gets the kernel's checks from RecordedFs where a deviation would change what was recorded
   * (memfs would link a directory, rename a directory into itself, or over a file).
   */
  readonly kernel: boolean;

  constructor(
    readonly recorder: Recorder,
    readonly base: BaseFs,
    readonly policy: Required<RerecordPolicy> | undefined,
    appliesUmask?: boolean,
  ) {
    this.registry = FileRegistry.of(recorder);
    // node:fs's promises (or its fs/promises module, or a proxy of either) has Node's open.
    this.kernel = (base.open as unknown) === nodePromises.open;
    this.umask = (appliesUmask ?? this.kernel) ? processUmask : () => 0;
  }

  /** Throws the recorder's failure, so nothing is changed that cannot be recorded. */
  assertUsable(): void {
    const failed = this.recorder.failed;
    if (failed) throw failed;
  }

  /** A mutating call's path: absolute and strictly under the recorded directory. */
  path(path: unknown, name = 'path'): RecordedPath {
    const abs = mutationPath(path, name);
    return { abs, rel: this.recorder.relativePath(abs) };
  }

  absolute(rel: string): string {
    return this.recorder.dir === '/' ? rel : this.recorder.dir + rel;
  }

  /** Whether the absolute `abs` is the recorded directory or one of its ancestors. */
  isDirOrAncestor(abs: string): boolean {
    const dir = this.recorder.dir;
    return abs === dir || abs === '/' || dir.startsWith(abs + '/');
  }

  recordRemoval(path: string): void {
    const fnode = this.recorder.fnodeAt(path);
    // An unrecorded file was never part of the recording: removing it changes nothing there.
    if (fnode === undefined) return;
    this.recorder.recordRemove(path);
    this.registry.dropIfDead(this.recorder, fnode);
  }

  /** Records bytes a handle wrote at `offset` (unless its file has no name left). */
  recordWrite(handle: RecordedFileHandle, bytes: Uint8Array, offset: number): void {
    const fnode = handle.fnode;
    if (fnode === undefined || this.recorder.linkCount(fnode) === 0) return;
    this.recorder.recordWriteAt(fnode, bytes, offset);
    this.registry.noteWrite(fnode, offset, bytes.length);
  }

  /**
   * Truncates the file `fnode` to `length` through `truncate` and records it: to 0, a file with
   * one link becomes a new, empty file at its path (as Gazette records O_TRUNC; open handles
   * follow the new identity, as they share the real file); otherwise a truncate op (extension)
   * keeps the identity, shared by all its hard links.
   */
  truncateFnode(fnode: Fnode, length: number, truncate: () => Promise<void>): Promise<void> {
    this.assertUsable();
    return this.registry.serialized(fnode, async () => {
      this.assertUsable();
      // Re-recorded while this waited: the same file, under its new identity.
      const latest = this.registry.latest(fnode);
      const links = this.recorder.fsm.liveNodes.get(latest)?.links;
      if (links === undefined) {
        await truncate(); // The file has no name left: nothing a playback could see.
        return;
      }
      if (length > 0 || links.size > 1) {
        await truncate();
        if (this.recorder.linkCount(latest) === 0) return; // Removed meanwhile: unobservable.
        this.recorder.recordTruncate(latest, length);
        this.registry.setSize(latest, length);
        return;
      }
      const [rel] = [...links];
      const path = this.absolute(rel!);
      await truncate();
      const current = this.recorder.fnodeAt(path);
      if (current === undefined) return; // Removed meanwhile: the truncation is unobservable.
      this.registry.renewIdentity(current, this.recorder.recordCreate(path));
    });
  }

  /**
   * Opens like fsPromises.open. Read-only opens record nothing; opens that can change the file
   * (write, create, truncate) must be under the directory, and a truncating open records a new,
   * empty file.
   */
  async open(path: unknown, flags: unknown, mode: unknown): Promise<RecordedFileHandle> {
    const access = accessMode(flags as OpenFlags | null | undefined);
    const perm = parseMode(mode);
    const flag = (flags ?? 'r') as OpenFlags;
    if (!changes(access)) {
      const base = await this.base.open(path as string, flag, perm);
      return this.#track(new RecordedFileHandle(this, base, access, undefined));
    }
    const target = this.path(path);
    return this.registry.gate.shared(() => this.#openForWriting(target, flag, perm, access));
  }

  #track(handle: RecordedFileHandle): RecordedFileHandle {
    this.fds.set(handle.fd, handle);
    this.registry.addHandle(handle);
    return handle;
  }

  async #openForWriting(
    { abs, rel }: RecordedPath,
    flags: OpenFlags,
    mode: number | undefined,
    access: AccessMode,
  ): Promise<RecordedFileHandle> {
    this.assertUsable();
    if (this.recorder.isPropertyPath(abs)) {
      throw new NotSupportedError(
        'open for writing',
        `${rel} is a property path: write a temporary file and rename it onto ${rel}`,
      );
    }
    const known = this.recorder.fnodeAt(abs);

    const openAndRecord = async () => {
      const opened = await this.base.open(abs, flags, mode);
      try {
        const fnode = await this.#recordOpen(abs, access, opened);
        // A mode given to a create: record the permission bits the file got (after the umask).
        if (mode !== undefined && access.create) {
          noteCreatedMode(this, fnode, permissionsOf(await opened.stat()));
        }
        return { opened, fnode };
      } catch (err) {
        await opened.close().catch(() => undefined);
        throw err;
      }
    };
    // A truncating open of a recorded file waits for writes still in flight on it, as truncate()
    // does: otherwise such a write, landing before the truncation but recorded after it, would
    // be recorded into the new, empty identity.
    const { opened: base, fnode } =
      access.truncate && known !== undefined
        ? await this.registry.serialized(known, openAndRecord)
        : await openAndRecord();
    return this.#track(new RecordedFileHandle(this, base, access, fnode));
  }

  async #recordOpen(path: string, access: AccessMode, base: BaseFileHandle): Promise<Fnode> {
    let known = this.recorder.fnodeAt(path);
    if (known === undefined && !access.truncate) {
      // Without truncation the file keeps its content: an unrecorded one could not be replayed.
      const size = Number((await base.stat()).size);
      known = this.recorder.fnodeAt(path);
      if (known === undefined && (size > 0 || !access.create)) {
        throw new UntrackedFileError(path, 'open for writing');
      }
    }
    if (access.truncate && known !== undefined && this.recorder.linkCount(known) > 1) {
      // O_TRUNC empties the file under every one of its hard links: a truncate op of the one
      // identity (a new identity, as Gazette records O_TRUNC, would leave the other links full).
      this.recorder.recordTruncate(known, 0);
      this.registry.setSize(known, 0);
      return known;
    }
    const fnode = this.recorder.recordOpenFile(path, {
      create: access.create,
      exclusive: access.exclusive,
      truncate: access.truncate,
    });
    if (known === undefined) {
      this.registry.setSize(fnode, 0);
    } else if (fnode !== known) {
      this.registry.renewIdentity(known, fnode);
    }
    return fnode;
  }

  /** A handle was closed. */
  forget(handle: RecordedFileHandle, fd: number): void {
    if (this.fds.get(fd) === handle) this.fds.delete(fd);
    this.registry.forget(handle);
  }
}
