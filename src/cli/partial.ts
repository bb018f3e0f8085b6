/**
 * Partial outputs: what a verb builds under a temporary name next to its output and renames into
 * place only when complete (a journal being imported or snapshotted, a directory being played,
 * an export or hints file being written). Their names say who made them:
 *
 *     .<output name>.recoverylog-partial.<pid>.<host>.<random>
 *
 * A run removes its own partial output when it fails or is interrupted (SIGINT, SIGTERM). One
 * killed outright (SIGKILL, a crash, a power cut) cannot, so every run that writes into a
 * directory first removes the stale partial outputs it finds there: those made on this host by a
 * process that no longer exists, and not touched for STALE_AFTER_MS (or not since this machine
 * booted). A live run touches its partial output every HEARTBEAT_MS, so one that is still being
 * built is never taken for stale, even by a run in another PID namespace that cannot see its
 * process; partial outputs of other hosts (a shared file system) are never removed.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { lstat, mkdir, readdir, rm, utimes } from 'node:fs/promises';
import { hostname, uptime } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { errorCode } from '../errors.js';

const MARKER = '.recoverylog-partial.';

/** A partial output not touched for this long, whose process is gone, is stale. */
export const STALE_AFTER_MS = 10 * 60 * 1000;

/** How often a run touches (sets the mtime of) each partial output it is building. */
export const HEARTBEAT_MS = 30 * 1000;

/** This host's name as it appears in partial-output names (file-name safe). */
export const HOST = safeHost(hostname());

function safeHost(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64);
  return /^[A-Za-z0-9_-]/.test(safe) ? safe : `h${safe}`;
}

/** A fresh partial-output path for `target`, in the same directory (so rename is atomic). */
export function partialPathFor(target: string): string {
  const base = basename(target).slice(0, 80);
  const random = randomBytes(4).toString('hex');
  return join(dirname(target), `.${base}${MARKER}${process.pid}.${HOST}.${random}`);
}

/** Who made a partial output, from its name; undefined for any other name. */
export function parsePartialName(name: string): { pid: number; host: string } | undefined {
  if (!name.startsWith('.')) return undefined;
  const match =
    /\.recoverylog-partial\.(\d{1,10})\.([A-Za-z0-9_-][A-Za-z0-9._-]*)\.[0-9a-f]{8}$/.exec(name);
  if (match === null) return undefined;
  return { pid: Number(match[1]), host: match[2] };
}

/** Partial outputs this process is building, with their heartbeat timers. */
const building = new Map<string, NodeJS.Timeout>();

/** Registers `path` as a partial output of this process (see the module comment). */
export function trackPartial(path: string): void {
  if (building.has(path)) return;
  const timer = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, HEARTBEAT_MS);
  timer.unref();
  building.set(path, timer);
}

/** `path` is no longer a partial output (renamed into place, or removed). */
export function untrackPartial(path: string): void {
  const timer = building.get(path);
  if (timer !== undefined) clearInterval(timer);
  building.delete(path);
}

/** The partial outputs this process is building. */
export function trackedPartials(): string[] {
  return [...building.keys()];
}

/** Removes a partial output of this process (whatever it holds) and forgets it. */
export async function removePartial(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
  untrackPartial(path);
}

/** Removes every partial output still registered; returns those removed. */
export async function removeTrackedPartials(): Promise<string[]> {
  const paths = trackedPartials();
  for (const path of paths) await removePartial(path).catch(() => undefined);
  return paths;
}

/**
 * Removes every partial output still registered, synchronously (for a process about to exit at
 * once); returns those removed.
 */
export function removeTrackedPartialsSync(): string[] {
  const paths = trackedPartials();
  for (const path of paths) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      // Best effort: the process is ending; the next run cleans what is left.
    }
    untrackPartial(path);
  }
  return paths;
}

/** Creates an empty partial directory for `target` and registers it. */
export async function createPartialDir(target: string, mode?: number): Promise<string> {
  const path = partialPathFor(target);
  await mkdir(path, { mode });
  trackPartial(path);
  return path;
}

export interface StaleCheckOptions {
  /** Default Date.now(). */
  now?: number;
  /** Default STALE_AFTER_MS. */
  staleAfterMs?: number;
  /** When this machine booted (ms since the epoch); default from os.uptime(). */
  bootedAt?: number;
  /** Whether a process exists on this host; default: signal 0. */
  isAlive?: (pid: number) => boolean;
}

/** A partial output found by removeStalePartials, removed or kept. */
export interface StalePartial {
  path: string;
  pid: number;
  /** Milliseconds since it was last touched. */
  ageMs: number;
  /** Removed; false when it is too young to be removed yet (its process is gone). */
  removed: boolean;
}

/** Whether process `pid` exists (on this host, in this PID namespace). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, as another user's.
    return errorCode(err) !== 'ESRCH';
  }
}

/**
 * Removes the stale partial outputs in `dir` (see the module comment) and reports them, with
 * those left only because they are too recent. Never fails: a directory it cannot read is the
 * verb's own error to report.
 */
export async function removeStalePartials(
  dir: string,
  options: StaleCheckOptions = {},
): Promise<StalePartial[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const now = options.now ?? Date.now();
  const staleAfter = options.staleAfterMs ?? STALE_AFTER_MS;
  const bootedAt = options.bootedAt ?? now - uptime() * 1000;
  const isAlive = options.isAlive ?? processExists;
  const found: StalePartial[] = [];
  for (const name of names) {
    const owner = parsePartialName(name);
    if (owner === undefined || owner.host !== HOST) continue;
    const path = join(dir, name);
    if (building.has(path)) continue;
    // Our own pid on a partial we are not building: a previous process that had our pid.
    if (owner.pid !== process.pid && isAlive(owner.pid)) continue;
    let mtimeMs: number;
    try {
      mtimeMs = (await lstat(path)).mtimeMs;
    } catch {
      continue;
    }
    const ageMs = Math.max(0, now - mtimeMs);
    const removable = ageMs >= staleAfter || mtimeMs < bootedAt;
    if (removable) {
      try {
        await rm(path, { recursive: true, force: true });
      } catch {
        continue;
      }
    }
    found.push({ path, pid: owner.pid, ageMs, removed: removable });
  }
  return found;
}

/** One stderr line per stale partial output found. */
export function describeStale(partial: StalePartial): string {
  const age = `${Math.round(partial.ageMs / 1000)} s`;
  return partial.removed
    ? `note: removed ${partial.path}, a partial output left by process ${partial.pid} ` +
        `(no longer running; untouched for ${age})`
    : `note: ${partial.path} is a partial output left by process ${partial.pid} (no longer ` +
        `running) ${age} ago; a run after it has been untouched for ` +
        `${STALE_AFTER_MS / 60_000} minutes removes it, or remove it yourself`;
}

/** removeStalePartials, reporting on stderr. */
export async function cleanStalePartials(dir: string): Promise<StalePartial[]> {
  const found = await removeStalePartials(dir);
  for (const partial of found) process.stderr.write(`${describeStale(partial)}\n`);
  return found;
}
