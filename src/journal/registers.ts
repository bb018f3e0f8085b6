/**
 * Register semantics shared by every journal implementation: matching (fencing), union, and a
 * canonical encoding. Kept apart so that memory and file journals cannot drift.
 */
import type { Registers } from './journal.js';

/** Upper bound on a register set's canonical encoding; registers are labels, not payload. */
export const MAX_REGISTERS_BYTES = 64 * 1024;

export const EMPTY_REGISTERS: Registers = Object.freeze({});

/**
 * True when `journal` satisfies `check`: every checked label has exactly that value. A journal
 * with no registers at all matches anything (Gazette's rule: a fresh or register-less journal
 * accepts every writer).
 */
export function registersMatch(journal: Registers, check: Registers): boolean {
  const labels = Object.keys(journal);
  if (labels.length === 0) return true;
  for (const [label, value] of Object.entries(check)) {
    if (!Object.hasOwn(journal, label) || journal[label] !== value) return false;
  }
  return true;
}

/** `base` with every label of `update` set (replacing same-named labels). */
export function unionRegisters(base: Registers, update: Registers): Registers {
  return Object.freeze({ ...base, ...update });
}

export function registersEqual(a: Registers, b: Registers): boolean {
  const aLabels = Object.keys(a);
  if (aLabels.length !== Object.keys(b).length) return false;
  return aLabels.every((label) => Object.hasOwn(b, label) && a[label] === b[label]);
}

/** Describes what is wrong with a caller-supplied register set, or undefined when it is fine. */
export function registersProblem(registers: unknown): string | undefined {
  if (typeof registers !== 'object' || registers === null || Array.isArray(registers)) {
    return 'registers must be an object mapping labels to string values';
  }
  // Checked on every append (a Recorder fences each one), so the encoding is skipped when a
  // bound shows it cannot be too large: JSON + UTF-8 takes at most 6 bytes per UTF-16 unit (a
  // \uXXXX escape), plus quotes, colon and comma per label, plus the braces.
  let worstCase = 2;
  for (const [label, value] of Object.entries(registers)) {
    if (label.length === 0) return 'register labels must be non-empty';
    if (typeof value !== 'string') {
      return `register ${JSON.stringify(label)} must have a string value (got ${typeof value})`;
    }
    worstCase += 6 * (label.length + value.length) + 6;
  }
  if (
    worstCase > MAX_REGISTERS_BYTES &&
    encodeRegisters(registers as Registers).byteLength > MAX_REGISTERS_BYTES
  ) {
    return `registers exceed ${MAX_REGISTERS_BYTES} bytes when encoded`;
  }
  return undefined;
}

/** Canonical UTF-8 JSON (labels sorted), so equal sets encode to equal bytes. */
export function encodeRegisters(registers: Registers): Uint8Array {
  const sorted: Record<string, string> = {};
  for (const label of Object.keys(registers).sort()) sorted[label] = registers[label] as string;
  return new TextEncoder().encode(JSON.stringify(sorted));
}

/** Inverse of encodeRegisters; returns undefined when the bytes are not a valid register set. */
export function decodeRegisters(bytes: Uint8Array): Registers | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  if (registersProblem(parsed) !== undefined) return undefined;
  return Object.freeze({ ...(parsed as Record<string, string>) });
}
