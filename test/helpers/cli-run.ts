/** Running the `recoverylog` command from tests: in a child process, or in this process. */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `recoverylog ARGS` from source in a child process. */
export function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args],
      { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export interface RawCliResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

export interface RawCliOptions {
  /** Written to the command's standard input, which is then closed (default: closed at once). */
  input?: Uint8Array;
  /** Run as this user and group id (needs root). */
  uid?: number;
  gid?: number;
}

/** Runs `recoverylog ARGS` from source in a child process; stdout is returned as bytes. */
export function cliRaw(
  args: readonly string[],
  options: RawCliOptions = {},
): Promise<RawCliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args],
      {
        cwd: ROOT,
        stdio: ['pipe', 'pipe', 'pipe'],
        uid: options.uid,
        gid: options.gid,
      },
    );
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.stdin.on('error', () => undefined); // the command may exit without reading it all
    child.stdin.end(options.input);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
  });
}

/**
 * Runs `recoverylog ARGS` in this process (much faster than a child): the dispatcher's output
 * and whatever the verb writes to process.stdout/stderr are captured. Not reentrant: await
 * each call before the next.
 */
export async function run(...args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const original = { out: process.stdout.write, err: process.stderr.write };
  const capture = (append: (text: string) => void) =>
    ((chunk: string | Uint8Array) => {
      append(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture((t) => (stdout += t));
  process.stderr.write = capture((t) => (stderr += t));
  try {
    const code = await main(args, {
      stdout: (t) => (stdout += `${t}\n`),
      stderr: (t) => (stderr += `${t}\n`),
    });
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = original.out;
    process.stderr.write = original.err;
  }
}

export function assertExit(result: CliResult, code: number, what: string): void {
  assert.equal(
    result.code,
    code,
    `${what}: expected exit ${code}, got ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`,
  );
}
