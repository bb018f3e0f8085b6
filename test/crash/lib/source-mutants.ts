/**
 * Source mutants: a seeded logic bug is re-created in a private copy of the sources, never
 * compiled into the library. `withSourceMutant(patches, fn)` copies the repository's `src/`,
 * `test/` (without the corpus), `proto/`, `package.json` and `tsconfig.json` to a temporary
 * directory (its `node_modules` a link to ours), applies each patch (an exact text substitution
 * that must match exactly once, so a refactor that moves the code fails the calibration loudly
 * instead of silently testing nothing), and hands `fn` that tree: `tree.import(file)` loads a
 * module of the patched copy (TypeScript, through tsx like every test), with its own fresh module
 * graph. The copy is deleted afterwards.
 *
 * Modules of the copy are other modules than ours: pass plain data across, not class instances.
 */
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** What a mutant tree holds, relative to the repository root. */
const COPIED = ['src', 'test', 'proto', 'package.json', 'tsconfig.json'] as const;
/** Not copied: large and never loaded by a detector. */
const SKIPPED = new Set(['test/corpus', 'node_modules']);

export interface SourcePatch {
  /** Repository-relative path of the file to patch, e.g. 'src/fsm.ts'. */
  readonly file: string;
  /** Exact text to replace (whitespace included): it must occur exactly once in the file. */
  readonly find: string;
  readonly replace: string;
}

/** A patch whose pattern is not in its file exactly once (the code it targets has changed). */
export class PatchMismatchError extends Error {
  constructor(
    readonly patch: SourcePatch,
    readonly matches: number,
  ) {
    super(
      `${patch.file}: the mutant's pattern occurs ${matches} times, expected exactly once. The ` +
        'code it re-creates the bug in has changed: update the patch.\n--- pattern ---\n' +
        patch.find,
    );
    this.name = 'PatchMismatchError';
  }
}

/** `text` with `patch` applied; throws PatchMismatchError unless its pattern occurs once. */
export function applyPatch(text: string, patch: SourcePatch): string {
  if (patch.find === '' || patch.find === patch.replace) {
    throw new Error(`${patch.file}: a patch must replace a non-empty pattern with other text`);
  }
  const matches = text.split(patch.find).length - 1;
  if (matches !== 1) throw new PatchMismatchError(patch, matches);
  const at = text.indexOf(patch.find);
  return text.slice(0, at) + patch.replace + text.slice(at + patch.find.length);
}

export interface MutantTree {
  /** The copy's root directory. */
  readonly root: string;
  /** Imports `file` (repository-relative, e.g. 'test/crash/simulated/x.ts') from the copy. */
  import<T>(file: string): Promise<T>;
}

/** Runs `fn` on a patched copy of the repository's sources (deleted afterwards). */
export async function withSourceMutant<T>(
  patches: readonly SourcePatch[],
  fn: (tree: MutantTree) => Promise<T>,
): Promise<T> {
  if (patches.length === 0) throw new Error('a source mutant needs at least one patch');
  const root = await mkdtemp(join(tmpdir(), 'recoverylog-mutant-'));
  try {
    for (const entry of COPIED) {
      await cp(join(REPO_ROOT, entry), join(root, entry), {
        recursive: true,
        filter: (source) => {
          const rel = relative(REPO_ROOT, source);
          return !SKIPPED.has(rel) && basename(source) !== 'node_modules';
        },
      });
    }
    await symlink(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
    for (const patch of patches) {
      const path = join(root, patch.file);
      await writeFile(path, applyPatch(await readFile(path, 'utf8'), patch));
    }
    return await fn({
      root,
      import: <M>(file: string) => import(pathToFileURL(join(root, file)).href) as Promise<M>,
    });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
