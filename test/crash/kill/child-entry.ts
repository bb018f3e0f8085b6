/**
 * How children are started. Every kill costs one Node start-up, and `node --import tsx` spends
 * about 0.3 s of CPU per start transforming TypeScript; on a 2-core machine that alone would be
 * half the budget. So the run first compiles child.ts (and appender.ts, the namespace lane's
 * raw appender) and what they import once (the project's own `tsc`, no type check, into
 * node_modules/.cache so that packages resolve), and children start with plain `node` (~0.1 s
 * CPU). If that compile fails, or KILL_TSX=1, children use tsx.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHILD_SOURCE = 'test/crash/kill/child.ts';
/** The namespace lane's raw appender and checker (appender.ts), compiled alongside. */
const APPENDER_SOURCE = 'test/crash/kill/appender.ts';

export interface ChildEntry {
  /** Arguments to `node` that start a child. */
  args: string[];
  /** Arguments to `node` that start appender.ts (followed by its own arguments). */
  appenderArgs: string[];
  /** 'compiled' or 'tsx' (for the summary). */
  kind: 'compiled' | 'tsx';
  dispose(): Promise<void>;
}

const TSX_ENTRY: ChildEntry = {
  args: ['--import', 'tsx', join(REPO_ROOT, CHILD_SOURCE)],
  appenderArgs: ['--import', 'tsx', join(REPO_ROOT, APPENDER_SOURCE)],
  kind: 'tsx',
  dispose: () => Promise.resolve(),
};

export async function prepareChildEntry(
  log: (line: string) => void,
  env = process.env,
): Promise<ChildEntry> {
  if (env.KILL_TSX === '1') return TSX_ENTRY;
  const outDir = join(REPO_ROOT, 'node_modules', '.cache', `recoverylog-kill-${process.pid}`);
  const dispose = () => rm(outDir, { recursive: true, force: true });
  try {
    await mkdir(outDir, { recursive: true });
    await promisify(execFile)(
      process.execPath,
      [
        join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
        '--ignoreConfig',
        '--noCheck',
        '--skipLibCheck',
        '--outDir',
        outDir,
        '--rootDir',
        REPO_ROOT,
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--target',
        'es2022',
        '--types',
        'node',
        join(REPO_ROOT, CHILD_SOURCE),
        join(REPO_ROOT, APPENDER_SOURCE),
      ],
      { cwd: REPO_ROOT, timeout: 120_000 },
    ).catch((err: { stdout?: string }) => {
      // Type errors do not stop the emit (--noCheck); anything else shows as a missing entry.
      if (err.stdout) log(`kill: tsc: ${err.stdout.slice(0, 500)}`);
    });
    const entry = join(outDir, CHILD_SOURCE.replace(/\.ts$/, '.js'));
    const appender = join(outDir, APPENDER_SOURCE.replace(/\.ts$/, '.js'));
    await stat(entry);
    await stat(appender);
    // The compiled files are ES modules, like the sources (package.json "type": "module").
    await writeFile(join(outDir, 'package.json'), '{ "type": "module" }\n');
    // The wire codec loads proto/recorded_op.proto relative to its own location.
    await symlink(join(REPO_ROOT, 'proto'), join(outDir, 'proto'));
    return { args: [entry], appenderArgs: [appender], kind: 'compiled', dispose };
  } catch (err) {
    await dispose();
    log(`kill: could not compile the child (${String(err)}); starting children with tsx`);
    return TSX_ENTRY;
  }
}
