/**
 * A dm-flakey device over a scratch disk, driven through `dmsetup` the way go-dmflakey (and
 * bbolt's copy of it) does: every mode switch is `dmsetup suspend --nolockfs`, `load`, `resume`.
 * `--nolockfs` skips freeze_fs and its flush, which is what makes a switch to drop_writes a power
 * cut rather than a clean shutdown.
 *
 * Runs where device-mapper exists (inside the test VM, see vm.sh) and needs root. Built to be
 * reused for many cuts: mkfs once, then mount / cut / remount.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecoveryLogError } from '../../../src/errors.js';
import { segmentsFor, type SectorRange, type TableSegment } from './extents.js';

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
      'DMFLAKEY_COMMAND_FAILED',
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
      'DMFLAKEY_FEATURE_UNSUPPORTED',
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

export interface FsckResult {
  /** e2fsck exit status: 0 clean; 4 (and others) means errors left uncorrected (-n). */
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
 */
export function flakeyTable(device: string, sectors: number, mode: FlakeyMode): string {
  return flakeyTableLines(device, [{ start: 0, length: sectors, mode }]);
}

/**
 * A multi-target table: each segment maps its own sectors of `device` (same offsets) in its
 * own mode. Lets a corruption hit one file's blocks only (see extents.ts).
 */
export function flakeyTableLines(
  device: string,
  segments: readonly TableSegment<FlakeyMode>[],
): string {
  let at = 0;
  const lines: string[] = [];
  for (const s of segments) {
    if (s.start !== at || s.length <= 0) {
      throw new RangeError(
        `table segments must be contiguous from sector 0 (got ${s.start}+${s.length} at ${at})`,
      );
    }
    lines.push(`${s.start} ${s.length} flakey ${device} ${s.start} ${modeArguments(s.mode)}`);
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
}

export class FlakeyDevice {
  readonly name: string;
  readonly backingDevice: string;
  readonly mountPoint: string;
  readonly devicePath: string;
  /** Size of the device in 512-byte sectors. */
  readonly sectors: number;
  private currentMode: FlakeyMode = { kind: 'allow' };
  /** The table loaded into the inactive slot, if any. */
  private inactive: string | undefined;
  private queue: Promise<void> = Promise.resolve();
  private mountedWith: string | undefined;

  private constructor(options: FlakeyDeviceOptions, sectors: number) {
    this.name = options.name;
    this.backingDevice = options.backingDevice;
    this.mountPoint = options.mountPoint;
    this.devicePath = `/dev/mapper/${options.name}`;
    this.sectors = sectors;
  }

  /** `dmsetup create` over the backing device, writes allowed. */
  static async create(options: FlakeyDeviceOptions): Promise<FlakeyDevice> {
    const { stdout } = await runCommand(['blockdev', '--getsz', options.backingDevice]);
    const sectors = Number.parseInt(stdout.trim(), 10);
    if (!Number.isSafeInteger(sectors) || sectors <= 0) {
      throw new Error(`blockdev --getsz ${options.backingDevice} printed "${stdout.trim()}"`);
    }
    const device = new FlakeyDevice(options, sectors);
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
    return flakeyTable(this.backingDevice, this.sectors, mode);
  }

  /** Creates a fresh ext4 filesystem (once; reuse it across cuts, mkfs is the slow part elsewhere). */
  async mkfs(): Promise<void> {
    if (this.mounted) throw new Error(`mkfs: ${this.devicePath} is mounted`);
    await runCommand(['mkfs.ext4', '-q', '-F', this.devicePath]);
  }

  /** Mounts ext4 with e.g. "commit=1000" (a missing fsync shows) or "commit=5" (partial writeback). */
  async mount(options: string): Promise<void> {
    await mkdir(this.mountPoint, { recursive: true });
    await runCommand(['mount', '-t', 'ext4', '-o', options, this.devicePath, this.mountPoint]);
    this.mountedWith = options;
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
    const probe = `0 ${this.sectors} flakey ${this.backingDevice} 0 0 ${INTERVAL_S} ${args}`;
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
   * later switch to it is just `suspend --nolockfs` + `resume`: each dmsetup call costs
   * 0.3-0.7 s under emulation, and a power cut should land when it is called.
   */
  preload(mode: FlakeyMode): Promise<void> {
    const table = flakeyTable(this.backingDevice, this.sectors, mode);
    return this.exclusive(() => this.loadInactive(table));
  }

  /**
   * A power cut, the go-dmflakey way: drop writes (without freezing the fs), run `whileDropping`
   * (e.g. kill the workload and wait for it), unmount (its write-back is dropped too), allow writes
   * again and mount (ext4 replays its journal). Afterwards the disk holds exactly what reached it
   * before the cut.
   */
  async powerCut(options: {
    mountOptions: string;
    whileDropping?: () => Promise<void>;
  }): Promise<void> {
    await this.dropWrites();
    const allowing = this.preload({ kind: 'allow' }); // meanwhile: nothing is written now
    allowing.catch(() => undefined);
    try {
      await options.whileDropping?.();
    } finally {
      if (this.mounted) await this.unmount();
      await allowing.catch(() => undefined);
      await this.allowWrites();
    }
    await this.mount(options.mountOptions);
  }

  /** `e2fsck -fn` (forced, read-only) on the unmounted device. */
  async fsck(): Promise<FsckResult> {
    if (this.mounted) throw new Error(`fsck: unmount ${this.mountPoint} first`);
    try {
      const { stdout, stderr } = await runCommand(['e2fsck', '-fn', this.devicePath]);
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
   * go-dmflakey's switch (suspend --nolockfs, load, resume), with the load done first: a table
   * loaded into the inactive slot changes nothing until the resume swaps it in.
   */
  private async switchToSegments(
    segments: readonly TableSegment<FlakeyMode>[],
    mode: FlakeyMode,
  ): Promise<void> {
    const table = flakeyTableLines(this.backingDevice, segments);
    await this.exclusive(async () => {
      await this.loadInactive(table);
      await runCommand(['dmsetup', 'suspend', '--nolockfs', this.name]);
      this.inactive = undefined;
      // Resume even if something went wrong, or the device would stay suspended and hang all I/O.
      await runCommand(['dmsetup', 'resume', this.name]);
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

export async function kernelRelease(): Promise<string> {
  return (await runCommand(['uname', '-r'])).stdout.trim();
}

/** e.g. "v1.5.0" (from `dmsetup targets`). */
export async function flakeyTargetVersion(): Promise<string> {
  const { stdout } = await runCommand(['dmsetup', 'targets']);
  const line = stdout.split('\n').find((l) => l.startsWith('flakey'));
  return line?.trim().split(/\s+/)[1] ?? 'absent';
}
