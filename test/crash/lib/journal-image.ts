/**
 * A file journal's content as it lies in a map of files (a disk image): its fragments, where each
 * journal offset is stored, and the records of each index file. For media-damage exploration.
 */
import { FragmentIndex } from '../../../src/journal/fragment-index.js';
import { dataFile, epochOfIndexFile } from '../../../src/journal/fragment-layout.js';
import { decodeRecord, type Decoded } from '../../../src/journal/fragment-record.js';

export interface ImageFragment {
  readonly epoch: number;
  readonly indexPath: string;
  readonly dataPath: string;
  readonly index: FragmentIndex;
  /** Valid records of the index file, in file order (the closing one included). */
  readonly records: readonly Decoded[];
}

/** The started fragments under `dir` in `files`, ordered by begin (the chain of a clean image). */
export function imageFragments(
  files: ReadonlyMap<string, Uint8Array>,
  dir: string,
): ImageFragment[] {
  const out: ImageFragment[] = [];
  for (const [path, bytes] of files) {
    if (!path.startsWith(`${dir}/`)) continue;
    const epoch = epochOfIndexFile(path.slice(dir.length + 1));
    if (epoch === undefined) continue;
    const index = new FragmentIndex(epoch);
    index.advance(bytes);
    if (!index.started) continue;
    const records: Decoded[] = [];
    for (let at = 0; at < index.parsedThrough;) {
      const decoded = decodeRecord(bytes, at, 0);
      if (decoded.kind !== 'record') break;
      records.push(decoded.record);
      at += decoded.record.length;
    }
    out.push({ epoch, indexPath: path, dataPath: `${dir}/${dataFile(epoch)}`, index, records });
  }
  return out.sort((a, b) => a.index.begin - b.index.begin || a.epoch - b.epoch);
}

/** The journal's bytes: the concatenation of the fragments' committed bytes. */
export function imageContent(
  files: ReadonlyMap<string, Uint8Array>,
  fragments: readonly ImageFragment[],
): Uint8Array {
  const parts = fragments.map((fragment) =>
    (files.get(fragment.dataPath) ?? new Uint8Array(0)).subarray(
      0,
      fragment.index.end - fragment.index.begin,
    ),
  );
  return Buffer.concat(parts);
}

/** The data file and position holding journal offset `offset`. */
export function locate(
  fragments: readonly ImageFragment[],
  offset: number,
): { path: string; position: number } | undefined {
  for (const fragment of fragments) {
    if (offset >= fragment.index.begin && offset < fragment.index.end) {
      return { path: fragment.dataPath, position: offset - fragment.index.begin };
    }
  }
  return undefined;
}
