/** Running the `recoverylog` command from tests: in a child process, or in this process. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
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
