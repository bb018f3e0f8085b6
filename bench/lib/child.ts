/**
 * Runs a bench child script with the parent's node flags (so `--import tsx` and `--cpu-prof`
 * carry over) and returns the JSON it prints as its last stdout line.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export class ChildFailedError extends Error {
  constructor(script: string, code: number | null, stderr: string) {
    super(`bench child ${script} exited with ${code}: ${stderr.trim().slice(-2000)}`);
    this.name = 'ChildFailedError';
  }
}

/**
 * The path of a child module given without extension, relative to `from` (an import.meta.url);
 * the extension is the caller's own (.ts under tsx, .js when built).
 */
export function childScript(from: string, script: string): string {
  const ext = from.endsWith('.ts') ? '.ts' : '.js';
  return fileURLToPath(new URL(script + ext, from));
}

export function runChild<T>(cwd: string, script: string, job: unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, script, JSON.stringify(job)], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new ChildFailedError(script, code, err));
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new ChildFailedError(script, code, `unparsable output: ${last}\n${err}`));
      }
    });
  });
}
