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
  const parts: Uint8Array[] = [];
  for (const fragment of fragments) {
    const { index } = fragment;
    for (let i = 0; i < index.commitBegins.length; i += 1) {
      const begin = index.commitBegins[i]!;
      const place = locate([fragment], begin)!;
      const bytes = files.get(place.path) ?? new Uint8Array(0);
      parts.push(bytes.subarray(place.position, place.position + index.commitEnds[i]! - begin));
    }
  }
  return Buffer.concat(parts);
}

/**
 * The file and position holding journal offset `offset`: the data file, or for an INLINE commit
 * (format v3) the index file, after the commit's record.
 */
export function locate(
  fragments: readonly ImageFragment[],
  offset: number,
): { path: string; position: number } | undefined {
  for (const fragment of fragments) {
    const { index } = fragment;
    if (offset >= index.begin && offset < index.end) {
      const i = index.commitAt(offset);
      const inlineAt = i === -1 ? -1 : index.commitInline[i]!;
      if (inlineAt >= 0) {
        return { path: fragment.indexPath, position: inlineAt + offset - index.commitBegins[i]! };
      }
      return { path: fragment.dataPath, position: offset - index.begin };
    }
  }
  return undefined;
}
