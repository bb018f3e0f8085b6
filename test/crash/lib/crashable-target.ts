/**
 * A Player target file system (memfs) that can lose power at an exact step, and that records
 * every write the Player issues (so I4 can check no unrecorded byte ever reached a file).
 *
 * Every call the Player makes (rm, mkdir, open, link, unlink, rmdir, writeFile, and each write
 * and close on a handle) is one step. With `crashAtStep = k`, step k throws SimulatedCrash and
 * the wrapper freezes: later calls throw too (the process is gone; the Player's own clean-up
 * does not run). The memfs volume keeps whatever steps 0..k-1 did, which is all a power cut can
 * leave (the Player does not fsync its target; any subset would be as valid, and recovery must
 * cope with any leftovers since it starts by deleting the directory).
 */
import { Volume } from 'memfs';
import type { TargetFileHandle, TargetFs } from '../../../src/player/target-fs.js';
import type { ObservedFile } from './tree-model.js';
import type { StagedWrite } from './invariants.js';

export class SimulatedCrash extends Error {
  constructor(readonly step: number) {
    super(`simulated crash at player I/O step ${step}`);
  }
}

/** The read side of memfs `vol.promises` the harness uses to observe a recovered directory. */
interface InspectFs {
  readdir(path: string): Promise<unknown[]>;
  stat(path: string): Promise<{ ino: number | bigint; isDirectory(): boolean }>;
  readFile(path: string): Promise<Uint8Array | string>;
}

export class CrashableTarget {
  readonly volume: InstanceType<typeof Volume>;
  readonly fs: TargetFs;
  readonly writes: StagedWrite[] = [];
  steps = 0;
  crashAtStep: number | undefined;
  #frozen = false;

  constructor(volume: InstanceType<typeof Volume> = new Volume(), crashAtStep?: number) {
    this.volume = volume;
    this.crashAtStep = crashAtStep;
    const inner = volume.promises as unknown as TargetFs;
    const step = <T>(run: () => Promise<T>): Promise<T> => {
      if (this.#frozen) return Promise.reject(new SimulatedCrash(this.steps));
      const index = this.steps++;
      if (index === this.crashAtStep) {
        this.#frozen = true;
        return Promise.reject(new SimulatedCrash(index));
      }
      return run();
    };
    this.fs = {
      rm: (p, o) => step(() => inner.rm(p, o)),
      mkdir: (p, o) => step(() => inner.mkdir(p, o)),
      link: (a, b) => step(() => inner.link(a, b)),
      unlink: (p) => step(() => inner.unlink(p)),
      rmdir: (p) => step(() => inner.rmdir(p)),
      writeFile: (p, d, o) => step(() => inner.writeFile(p, d, o)),
      open: (p, flags, mode) =>
        step(async () => {
          const handle = await inner.open(p, flags, mode);
          const wrapped: TargetFileHandle = {
            write: (buffer, offset, length, position) =>
              step(() => {
                this.writes.push({
                  path: p,
                  position,
                  // A copy, as write(2) takes one (Buffer#slice is a view): the Player reuses
                  // its write buffers.
                  bytes: Uint8Array.from(buffer.subarray(offset, offset + length)),
                });
                return handle.write(buffer, offset, length, position);
              }),
            close: () => step(() => handle.close()),
          };
          return wrapped;
        }),
    };
  }

  /** Whether the simulated crash fired. */
  get crashed(): boolean {
    return this.#frozen;
  }

  /** A fresh wrapper over the same volume (the machine after the reboot), optionally crashing. */
  reboot(crashAtStep?: number): CrashableTarget {
    return new CrashableTarget(this.volume, crashAtStep);
  }

  /** Every file under `dir` with its inode and bytes (what a user of the directory sees). */
  async observe(dir: string): Promise<ObservedFile[]> {
    return observeDir(this.volume.promises as unknown as InspectFs, dir);
  }
}

/** Reads every regular file under `dir` of any fs/promises-shaped file system. */
export async function observeDir(fs: InspectFs, dir: string): Promise<ObservedFile[]> {
  const out: ObservedFile[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names = (await fs.readdir(dir + rel)).map(String).sort();
    for (const name of names) {
      const path = `${rel}/${name}`;
      const info = await fs.stat(dir + path);
      if (info.isDirectory()) {
        await walk(path);
        continue;
      }
      const content = await fs.readFile(dir + path);
      out.push({
        path,
        ino: Number(info.ino),
        bytes:
          typeof content === 'string' ? new TextEncoder().encode(content) : new Uint8Array(content),
      });
    }
  };
  await walk('');
  return out;
}
