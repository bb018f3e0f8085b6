/**
 * Test-only fault switches compiled into the library so that crash tests exercise the real code:
 *
 * - Seeded bugs: deliberate, named mistakes (ack before sync, no torn-tail cut, ...) that the
 *   crash-test layers must catch. Off unless a test turns them on, via `enableSeededBug` or the
 *   RECOVERYLOG_SEEDED_BUGS environment variable (comma-separated names, for child processes).
 * - Failpoints: named places where a test process kills itself with SIGKILL, to crash at an exact
 *   step (RECOVERYLOG_FAILPOINT=name or name:N to die at the Nth hit).
 *
 * In production both checks are a single Set/undefined test on a path that does I/O anyway.
 */

export const SEEDED_BUGS = [
  'ackBeforeSync',
  'noDirFsync',
  'applyPayloadBeforeCrc',
  'noTornTailCut',
  'noAuthorCheck',
  'nonIdempotentMakeLive',
  'hintsIncludeUnacked',
  'acceptWrongSeqNo',
] as const;

export type SeededBug = (typeof SEEDED_BUGS)[number];

const enabled = new Set<SeededBug>();

for (const name of (process.env.RECOVERYLOG_SEEDED_BUGS ?? '').split(',')) {
  if ((SEEDED_BUGS as readonly string[]).includes(name)) enabled.add(name as SeededBug);
}

/** True when the named seeded bug is switched on (tests only). */
export function seededBug(name: SeededBug): boolean {
  return enabled.size > 0 && enabled.has(name);
}

export function enableSeededBug(name: SeededBug): void {
  enabled.add(name);
}

export function disableSeededBugs(): void {
  enabled.clear();
}

/** Runs `fn` with one seeded bug switched on, then off again (also when `fn` throws). */
export async function withSeededBug<T>(name: SeededBug, fn: () => Promise<T>): Promise<T> {
  enableSeededBug(name);
  try {
    return await fn();
  } finally {
    enabled.delete(name);
  }
}

const failpointSpec = parseFailpoint(process.env.RECOVERYLOG_FAILPOINT);
let failpointHits = 0;

function parseFailpoint(spec: string | undefined): { name: string; hit: number } | undefined {
  if (!spec) return undefined;
  const [name, hit] = spec.split(':');
  return { name, hit: hit === undefined ? 1 : Number(hit) };
}

/**
 * Kills this process with SIGKILL when RECOVERYLOG_FAILPOINT names this point (at its Nth hit).
 * Lets the kill -9 crash layer stop a recorder between two exact steps.
 */
export function failpoint(name: string): void {
  if (failpointSpec === undefined || failpointSpec.name !== name) return;
  failpointHits++;
  if (failpointHits === failpointSpec.hit) process.kill(process.pid, 'SIGKILL');
}
