/**
 * A dm-flakey device over a scratch disk, driven through `dmsetup` the way go-dmflakey (and
 * bbolt's copy of it) does: every mode switch is `dmsetup suspend --nolockfs`, `load`, `resume`
 * (here `load` ahead of time, then `resume --nolockfs`, which suspends the same way).
 * `--nolockfs` skips freeze_fs and its flush, which is what makes a switch to drop_writes a power
 * cut rather than a clean shutdown.
 *
 * Runs where device-mapper exists (inside the test VM, see vm.sh) and needs root. Built to be
 * reused for many cuts: mkfs once, then mount / cut / remount. Several devices can share one
 * backing disk (each maps its own sectors of it) and be cut together (powerCutAll).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecoveryLogError } from '../../../src/errors.js';
import { parseFreeBlocks, segmentsFor, type SectorRange, type TableSegment } from './extents.js';

/** A command (dmsetup, mount, mkfs...) failed; the message carries its stderr. */
export class FlakeyCommandError extends RecoveryLogError {
  readonly command: readonly string[];
  readonly exitCode: number | null;
  readonly stderr: string;
  constructor(
    command: readonly string[],
    exitCode: number | null,
    stderr: string,
    cause?: unknown,
  ) {
    super(
      `\`${command.join(' ')}\` failed (exit ${exitCode ?? 'none'}): ${stderr.trim() || '(no stderr)'}. ` +
        'The dm-flakey harness needs root and a kernel with dm-mod + dm-flakey (run it through test/crash/dmflakey/vm.sh).',
      { cause },
    );
    this.command = command;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/** The running kernel's dm-flakey target does not know a feature (e.g. random_write_corrupt < Linux 6.6). */
export class FlakeyFeatureUnsupportedError extends RecoveryLogError {
  readonly feature: string;
  constructor(feature: string, kernel: string, targetVersion: string) {
    super(
      `dm-flakey feature "${feature}" is not supported by kernel ${kernel} (flakey target ${targetVersion}); ` +
        'it needs a newer kernel (random_read_corrupt/random_write_corrupt arrived in Linux 6.6-era dm-flakey).',
    );
    this.feature = feature;
  }
}

/** What the device does with I/O right now. */
export type FlakeyMode =
  | { kind: 'allow' }
  | { kind: 'drop' }
  | { kind: 'error' }
  | { kind: 'random-write-corrupt'; probability: number };

/** The file systems the harness puts on a device. */
export type FsType = 'ext4' | 'xfs';

export interface FsckResult {
  /** The checker's exit status (`e2fsck -fn`: 0 clean, 4 errors left; `xfs_repair -n`: 0 or 1). */
  exitCode: number;
  clean: boolean;
  output: string;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/** Runs a command with DM_DISABLE_UDEV=1 (the VM has no udev); rejects with FlakeyCommandError. */
export function runCommand(argv: readonly string[], timeoutMs = 120_000): Promise<CommandResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('runCommand: empty command');
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { env: { ...process.env, DM_DISABLE_UDEV: '1' }, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ stdout, stderr });
          return;
        }
        const code = typeof error.code === 'number' ? error.code : null;
        reject(new FlakeyCommandError(argv, code, stderr || error.message, error));
      },
    );
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** umount and `dmsetup remove` can fail with EBUSY while a killed process is still being reaped. */
async function retryWhileBusy<T>(what: () => Promise<T>, attempts = 50, delayMs = 200): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await what();
    } catch (error) {
      const busy = error instanceof FlakeyCommandError && /busy/i.test(error.stderr);
      if (!busy || attempt >= attempts) throw error;
      await sleep(delayMs);
    }
  }
}

// Seconds dm-flakey stays in one state before its up/down cycle repeats: far longer than a test.
const INTERVAL_S = 3600;
const CORRUPT_SCALE = 1_000_000_000; // dm-flakey's random_*_corrupt probability unit (100%)

/** The part of a flakey target line after `<dev> <offset>`: intervals and features. */
function modeArguments(mode: FlakeyMode): string {
  switch (mode.kind) {
    case 'allow':
      return `${INTERVAL_S} 0`;
    case 'drop':
      return `0 ${INTERVAL_S} 1 drop_writes`;
    case 'error':
      return `0 ${INTERVAL_S} 1 error_writes`;
    case 'random-write-corrupt':
      return `0 ${INTERVAL_S} 2 random_write_corrupt ${Math.round(mode.probability * CORRUPT_SCALE)}`;
  }
}

/**
 * A dm-flakey table line (`<start> <sectors> flakey <dev> <offset> <up s> <down s> [<#args> <args>]`),
 * in go-dmflakey's formats: allow = always up; drop/error/corrupt = always down with that feature.
 * `offset`: where the device starts on `device`, in sectors.
 */
export function flakeyTable(device: string, sectors: number, mode: FlakeyMode, offset = 0): string {
  return flakeyTableLines(device, [{ start: 0, length: sectors, mode }], offset);
}

/**
 * A multi-target table: each segment maps its own sectors of `device` (the same sectors, moved
 * by `offset`) in its own mode. Lets a corruption hit some blocks only (see extents.ts).
 */
export function flakeyTableLines(
  device: string,
  segments: readonly TableSegment<FlakeyMode>[],
  offset = 0,
): string {
  let at = 0;
  const lines: string[] = [];
  for (const s of segments) {
    if (s.start !== at || s.length <= 0) {
      throw new RangeError(
        `table segments must be contiguous from sector 0 (got ${s.start}+${s.length} at ${at})`,
      );
    }
    lines.push(
      `${s.start} ${s.length} flakey ${device} ${offset + s.start} ${modeArguments(s.mode)}`,
    );
    at += s.length;
  }
  return lines.join('\n');
}

export interface FlakeyDeviceOptions {
  /** device-mapper name; the device appears as /dev/mapper/<name>. */
  name: string;
  /** The block device to wrap (its content will be destroyed by mkfs). */
  backingDevice: string;
  mountPoint: string;
  /** First sector of the backing device this device maps (0). */
  offset?: number;
  /** How many sectors it maps (the rest of the backing device). */
  sectors?: number;
}

export class FlakeyDevice {
  readonly name: string;
  readonly backingDevice: string;
  readonly mountPoint: string;
  readonly devicePath: string;
  /** Size of the device in 512-byte sectors. */
  readonly sectors: number;
  /** Where it starts on the backing device, in sectors. */
  readonly offset: number;
  /** The file system the last mkfs made. */
  fsType: FsType = 'ext4';
  private currentMode: FlakeyMode = { kind: 'allow' };
  /** The table loaded into the inactive slot, if any. */
  private inactive: string | undefined;
  private queue: Promise<void> = Promise.resolve();
  private mountedWith: string | undefined;

  private constructor(options: FlakeyDeviceOptions, sectors: number, offset: number) {
    this.name = options.name;
    this.backingDevice = options.backingDevice;
    this.mountPoint = options.mountPoint;
    this.devicePath = `/dev/mapper/${options.name}`;
    this.sectors = sectors;
    this.offset = offset;
  }

  /** `dmsetup create` over (part of) the backing device, writes allowed. */
  static async create(options: FlakeyDeviceOptions): Promise<FlakeyDevice> {
    const { stdout } = await runCommand(['blockdev', '--getsz', options.backingDevice]);
    const total = Number.parseInt(stdout.trim(), 10);
    if (!Number.isSafeInteger(total) || total <= 0) {
      throw new Error(`blockdev --getsz ${options.backingDevice} printed "${stdout.trim()}"`);
    }
    const offset = options.offset ?? 0;
    const sectors = options.sectors ?? total - offset;
    if (offset < 0 || sectors <= 0 || offset + sectors > total) {
      throw new RangeError(
        `sectors [${offset}, ${offset + sectors}) do not fit ${options.backingDevice} (${total} sectors)`,
      );
    }
    const device = new FlakeyDevice(options, sectors, offset);
    await runCommand([
      'dmsetup',
      'create',
      options.name,
      '--table',
      device.table({ kind: 'allow' }),
    ]);
    return device;
  }

  get mode(): FlakeyMode {
    return this.currentMode;
  }

  get mounted(): boolean {
    return this.mountedWith !== undefined;
  }

  /** The dm table line for a mode. */
  table(mode: FlakeyMode): string {
    return flakeyTable(this.backingDevice, this.sectors, mode, this.offset);
  }

  /**
   * Creates a fresh file system (once per kind; reuse it across cuts, mkfs is the slow part
   * elsewhere). ext4 gets 4 KiB blocks whatever the size (one block per page).
   */
  async mkfs(fsType: FsType = 'ext4'): Promise<void> {
    if (this.mounted) throw new Error(`mkfs: ${this.devicePath} is mounted`);
    await runCommand(
      fsType === 'ext4'
        ? ['mkfs.ext4', '-q', '-F', '-b', '4096', this.devicePath]
        : ['mkfs.xfs', '-q', '-f', this.devicePath],
    );
    this.fsType = fsType;
  }

  /**
   * Mounts the file system, ext4 e.g. with "commit=1000" (a missing fsync shows) or "commit=5"
   * (partial writeback); XFS with "defaults".
   */
  async mount(options: string): Promise<void> {
    await mkdir(this.mountPoint, { recursive: true });
    await runCommand(['mount', '-t', this.fsType, '-o', options, this.devicePath, this.mountPoint]);
    this.mountedWith = options;
  }

  /**
   * The sectors an UNMOUNTED ext4 has free (`dumpe2fs`, whose view is current only then): where
   * files written from now on land, away from ext4's metadata, its journal and existing files.
   */
  async freeSectors(): Promise<SectorRange[]> {
    if (this.mounted) throw new Error(`freeSectors: unmount ${this.mountPoint} first`);
    if (this.fsType !== 'ext4') throw new Error(`freeSectors needs ext4, not ${this.fsType}`);
    return parseFreeBlocks((await runCommand(['dumpe2fs', this.devicePath])).stdout);
  }

  async unmount(): Promise<void> {
    await retryWhileBusy(() => runCommand(['umount', this.mountPoint]));
    this.mountedWith = undefined;
  }

  allowWrites(): Promise<void> {
    return this.switchTo({ kind: 'allow' });
  }

  /** From now on every write bio is silently dropped (reads still work). */
  dropWrites(): Promise<void> {
    return this.switchTo({ kind: 'drop' });
  }

  /** From now on every write bio fails with EIO; call allowWrites() to end the window. */
  errorWrites(): Promise<void> {
    return this.switchTo({ kind: 'error' });
  }

  /**
   * From now on a random byte of a write bio is replaced with probability `probability` (0..1).
   * Throws FlakeyFeatureUnsupportedError on kernels whose dm-flakey lacks random_write_corrupt.
   */
  async randomWriteCorrupt(probability: number): Promise<void> {
    if (!(probability >= 0 && probability <= 1))
      throw new RangeError(`probability ${probability} is not in [0, 1]`);
    if (!(await this.supportsFeature('random_write_corrupt'))) {
      throw new FlakeyFeatureUnsupportedError(
        'random_write_corrupt',
        await kernelRelease(),
        await flakeyTargetVersion(),
      );
    }
    await this.switchTo({ kind: 'random-write-corrupt', probability });
  }

  /**
   * Corrupts writes (one random byte of a write bio, with `probability` per bio) that land in
   * `ranges` only; every other sector works normally. dm-flakey corrupts a copy of the pages
   * (Linux 6.6+), so the page cache keeps the right bytes: the damage shows only once the data
   * is read from the disk again (after the next power cut).
   */
  async corruptWritesIn(ranges: readonly SectorRange[], probability: number): Promise<void> {
    if (!(probability >= 0 && probability <= 1))
      throw new RangeError(`probability ${probability} is not in [0, 1]`);
    if (!(await this.supportsFeature('random_write_corrupt'))) {
      throw new FlakeyFeatureUnsupportedError(
        'random_write_corrupt',
        await kernelRelease(),
        await flakeyTargetVersion(),
      );
    }
    const segments = segmentsFor<FlakeyMode>(
      this.sectors,
      ranges,
      { kind: 'random-write-corrupt', probability },
      { kind: 'allow' },
    );
    await this.switchToSegments(segments, { kind: 'random-write-corrupt', probability });
  }

  /**
   * Whether the kernel's dm-flakey accepts a feature: loads a table using it into the INACTIVE
   * slot (the live table is untouched) and clears it again. An unknown feature fails the load.
   */
  async supportsFeature(
    feature: 'random_write_corrupt' | 'random_read_corrupt' | 'error_reads',
  ): Promise<boolean> {
    const args = feature === 'error_reads' ? '1 error_reads' : `2 ${feature} 0`;
    const probe = `0 ${this.sectors} flakey ${this.backingDevice} ${this.offset} 0 ${INTERVAL_S} ${args}`;
    return this.exclusive(async () => {
      this.inactive = undefined;
      try {
        await runCommand(['dmsetup', 'load', this.name, '--table', probe]);
      } catch (error) {
        if (error instanceof FlakeyCommandError) return false;
        throw error;
      }
      await runCommand(['dmsetup', 'clear', this.name]);
      return true;
    });
  }

  /**
   * Loads a mode's table into the inactive slot now (it does not touch any I/O), so that the
   * later switch to it is just `resume --nolockfs` (see switchToSegments): each dmsetup call costs
   * 0.3-0.7 s under emulation, and a power cut should land when it is called.
   */
  preload(mode: FlakeyMode): Promise<void> {
    const table = this.table(mode);
    return this.exclusive(() => this.loadInactive(table));
  }

  /**
   * A power cut, the go-dmflakey way: drop writes (without freezing the fs), run `whileDropping`
   * (e.g. kill the workload and wait for it), unmount (its write-back is dropped too), allow writes
   * again and mount (ext4 replays its journal). Afterwards the disk holds exactly what reached it
   * before the cut.
   */
  powerCut(options: { mountOptions: string; whileDropping?: () => Promise<void> }): Promise<void> {
    return powerCutAll(
      [{ device: this, mountOptions: options.mountOptions }],
      options.whileDropping,
    );
  }

  /** `e2fsck -fn` (forced, read-only) or `xfs_repair -n` on the unmounted device. */
  async fsck(): Promise<FsckResult> {
    if (this.mounted) throw new Error(`fsck: unmount ${this.mountPoint} first`);
    const command =
      this.fsType === 'ext4'
        ? ['e2fsck', '-fn', this.devicePath]
        : ['xfs_repair', '-n', this.devicePath];
    try {
      const { stdout, stderr } = await runCommand(command);
      return { exitCode: 0, clean: true, output: stdout + stderr };
    } catch (error) {
      if (!(error instanceof FlakeyCommandError) || error.exitCode === null) throw error;
      return { exitCode: error.exitCode, clean: false, output: error.stderr };
    }
  }

  /** Unmounts if needed and removes the device (retrying while busy). */
  async teardown(): Promise<void> {
    if (this.mounted) await this.unmount();
    if (this.currentMode.kind !== 'allow') await this.allowWrites();
    await retryWhileBusy(() => runCommand(['dmsetup', 'remove', this.name]));
  }

  private switchTo(mode: FlakeyMode): Promise<void> {
    return this.switchToSegments([{ start: 0, length: this.sectors, mode }], mode);
  }

  /**
   * go-dmflakey's switch (suspend --nolockfs, load, resume), with the load done first (a table
   * loaded into the inactive slot changes nothing until a resume swaps it in) and the suspend
   * left to the resume: `dmsetup resume --nolockfs` of a device with an inactive table suspends
   * it first, without freezing the file system, exactly as `suspend --nolockfs` does (the
   * kernel's do_resume), then swaps the tables and resumes. One dmsetup call instead of two:
   * each costs 0.3-0.7 s under emulation.
   */
  private async switchToSegments(
    segments: readonly TableSegment<FlakeyMode>[],
    mode: FlakeyMode,
  ): Promise<void> {
    const table = flakeyTableLines(this.backingDevice, segments, this.offset);
    await this.exclusive(async () => {
      await this.loadInactive(table);
      this.inactive = undefined;
      await runCommand(['dmsetup', 'resume', '--nolockfs', this.name]);
    });
    this.currentMode = mode;
  }

  /** `dmsetup load` (from a file: a table may have several lines) unless already loaded. */
  private async loadInactive(table: string): Promise<void> {
    if (this.inactive === table) return;
    const dir = await mkdtemp(join(tmpdir(), 'dm-table-'));
    const file = join(dir, 'table');
    try {
      await writeFile(file, table + '\n');
      this.inactive = undefined;
      await runCommand(['dmsetup', 'load', this.name, file]);
      this.inactive = table;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** dmsetup calls on this device, one at a time (a preload may run while the driver works). */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

/**
 * A power cut of several devices (e.g. two file systems of one machine): drop the writes of each
 * (one after the other: a caller that wants them cut at one instant freezes its writers first),
 * run `whileDropping`, unmount them all (their write-back is dropped), allow writes again and
 * mount each with its options. Afterwards each disk holds exactly what reached it before its cut.
 */
export async function powerCutAll(
  cuts: readonly { device: FlakeyDevice; mountOptions: string }[],
  whileDropping?: () => Promise<void>,
): Promise<void> {
  for (const { device } of cuts) await device.dropWrites();
  const allowing = cuts.map(({ device }) => device.preload({ kind: 'allow' }));
  for (const a of allowing) a.catch(() => undefined);
  try {
    await whileDropping?.();
  } finally {
    for (const { device } of cuts) if (device.mounted) await device.unmount();
    for (const [i, { device }] of cuts.entries()) {
      await allowing[i]!.catch(() => undefined);
      await device.allowWrites();
    }
  }
  for (const { device, mountOptions } of cuts) await device.mount(mountOptions);
}

/** Whether the running kernel mounts `fsType` and its mkfs is installed. */
export async function filesystemAvailable(fsType: FsType): Promise<boolean> {
  const known = (await readFile('/proc/filesystems', 'utf8'))
    .split('\n')
    .some((line) => line.trim().split(/\s+/).at(-1) === fsType);
  if (!known) return false;
  try {
    await runCommand(['sh', '-c', `command -v mkfs.${fsType}`]);
    return true;
  } catch {
    return false;
  }
}

export async function kernelRelease(): Promise<string> {
  return (await runCommand(['uname', '-r'])).stdout.trim();
}

/** e.g. "v1.5.0" (from `dmsetup targets`). */
export async function flakeyTargetVersion(): Promise<string> {
  const { stdout } = await runCommand(['dmsetup', 'targets']);
  const line = stdout.split('\n').find((l) => l.startsWith('flakey'));
  return line?.trim().split(/\s+/)[1] ?? 'absent';
}
