import { createHash } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A directory tree reduced to what recovery must reproduce: each regular file's path, the digest
 * of its bytes, and which paths are hard links of one file. Directories are not part of it: the
 * recovery log records files, and a Player creates directories only as parents of files.
 */
export interface TreeEntry {
  /** Relative POSIX path. */
  path: string;
  /** SHA-256 of the contents, hex. */
  sha256: string;
  /** Size in bytes. */
  size: number;
  /** The smallest path of this file's hard-link group (itself when it has one link). */
  linkGroup: string;
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Builds entries from (path, file identity, content digest, size) tuples: paths sharing an
 * identity are one hard-link group.
 */
export function entriesFrom(
  files: Iterable<{ path: string; identity: string; sha256: string; size: number }>,
): TreeEntry[] {
  const list = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const leader = new Map<string, string>();
  for (const f of list) if (!leader.has(f.identity)) leader.set(f.identity, f.path);
  return list.map((f) => ({
    path: f.path,
    sha256: f.sha256,
    size: f.size,
    linkGroup: leader.get(f.identity)!,
  }));
}

/** One digest for a whole tree: equal trees (contents and link structure) give equal digests. */
export function treeDigest(entries: readonly TreeEntry[]): string {
  return sha256(entries.map((e) => `${e.path}\0${e.sha256}\0${e.linkGroup}\n`).join(''));
}

/** Reads a real directory into tree entries (hard links detected by device and inode). */
export async function readTree(root: string): Promise<TreeEntry[]> {
  const files: { path: string; identity: string; sha256: string; size: number }[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names = await readdir(join(root, rel));
    for (const name of names) {
      const relPath = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(join(root, relPath));
      if (st.isDirectory()) {
        await walk(relPath);
      } else if (st.isFile()) {
        const data = await readFile(join(root, relPath));
        files.push({
          path: relPath,
          identity: `${st.dev}:${st.ino}`,
          sha256: sha256(data),
          size: data.length,
        });
      } else {
        throw new Error(`unexpected non-regular file ${relPath} in ${root}`);
      }
    }
  };
  await walk('');
  return entriesFrom(files);
}

/** A short, human-readable description of how two trees differ (for a failed verification). */
export function describeTreeDifference(
  expected: readonly TreeEntry[],
  actual: readonly TreeEntry[],
): string {
  const exp = new Map(expected.map((e) => [e.path, e]));
  const act = new Map(actual.map((e) => [e.path, e]));
  const lines: string[] = [];
  for (const [path, e] of exp) {
    const a = act.get(path);
    if (a === undefined) lines.push(`missing ${path}`);
    else if (a.sha256 !== e.sha256)
      lines.push(`content differs: ${path} (${e.size} vs ${a.size} bytes)`);
    else if (a.linkGroup !== e.linkGroup) lines.push(`link structure differs: ${path}`);
  }
  for (const path of act.keys()) if (!exp.has(path)) lines.push(`unexpected ${path}`);
  return (
    lines.slice(0, 10).join('; ') + (lines.length > 10 ? `; ... (${lines.length} in all)` : '')
  );
}
