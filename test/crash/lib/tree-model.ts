/**
 * The oracle: a pure model of the recorded directory, and the vocabulary of operations every
 * crash layer speaks (simulated, kill -9, dm-flakey). A TreeState holds paths -> file identity,
 * file contents and properties; applying an op returns a new state (states are immutable and
 * share unchanged parts). `stateKey` gives a canonical string that two trees share exactly when
 * they have the same paths, bytes, hard-link groups and properties, so a recovered directory can
 * be matched against S_0..S_n by string equality.
 *
 * Deliberately simpler than the library (not a copy of the FSM): no fnodes, seqNos or segments,
 * just what a user of the directory can observe.
 */
import { createHash } from 'node:crypto';

/** Bytes of a write, as a ledger stores them: literal (base64) or a reproducible pattern. */
export type DataSpec =
  | { readonly b64: string }
  /** `length` bytes from pattern `pattern` (see patternBytes): printable ASCII, valid UTF-8. */
  | { readonly pattern: number; readonly length: number };

/** One mutation of the recorded directory, as an application performs it. Paths are '/rel'. */
export type TreeOp =
  /** open(O_CREAT|O_TRUNC): a new, empty file (replacing the identity of an existing one). */
  | { readonly kind: 'create'; readonly path: string }
  /** pwrite at `offset` (beyond the end: the gap reads as zeros). */
  | {
      readonly kind: 'write';
      readonly path: string;
      readonly offset: number;
      readonly data: DataSpec;
    }
  /** write at the current end (O_APPEND). */
  | { readonly kind: 'append'; readonly path: string; readonly data: DataSpec }
  /** A new hard link `to` of the file at `from`. */
  | { readonly kind: 'link'; readonly from: string; readonly to: string }
  | { readonly kind: 'unlink'; readonly path: string }
  /** rename(2): replaces `to`; onto a property path the file's content becomes the property. */
  | { readonly kind: 'rename'; readonly from: string; readonly to: string }
  /** An op that changes nothing visible (a Recorder's fence no-op, a hand-off no-op). */
  | { readonly kind: 'noop'; readonly why: string };

export interface TreeState {
  /** path -> file id (paths sharing an id are hard links of one file). */
  readonly links: ReadonlyMap<string, number>;
  /** file id -> content. */
  readonly contents: ReadonlyMap<number, Uint8Array>;
  readonly properties: ReadonlyMap<string, string>;
  /** Next file id (ids only need to be unique within one history). */
  readonly nextId: number;
}

export const EMPTY_TREE: TreeState = {
  links: new Map(),
  contents: new Map(),
  properties: new Map(),
  nextId: 1,
};

/** Paths recorded as properties (the library's default: RocksDB's IDENTITY). */
export const PROPERTY_PATHS: ReadonlySet<string> = new Set(['/IDENTITY']);

/** `length` printable bytes from `pattern` (cheap to store in a ledger, easy to eyeball). */
export function patternBytes(pattern: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (pattern * 2654435761) >>> 0;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = 0x21 + ((x >>> 16) % 94);
  }
  return out;
}

export function dataBytes(data: DataSpec): Uint8Array {
  return 'b64' in data
    ? new Uint8Array(Buffer.from(data.b64, 'base64'))
    : patternBytes(data.pattern, data.length);
}

export function dataLength(data: DataSpec): number {
  return 'b64' in data ? Buffer.from(data.b64, 'base64').length : data.length;
}

/** Why an op cannot be applied to a state (undefined when it can). */
export function opProblem(state: TreeState, op: TreeOp): string | undefined {
  const isProperty = (p: string): boolean => PROPERTY_PATHS.has(p) || state.properties.has(p);
  switch (op.kind) {
    case 'create':
      return isProperty(op.path) ? `${op.path} is a property path` : undefined;
    case 'write':
    case 'append':
    case 'unlink':
      if (isProperty(op.path)) return `${op.path} is a property path`;
      return state.links.has(op.path) ? undefined : `${op.path} does not exist`;
    case 'link':
      if (isProperty(op.from) || isProperty(op.to)) return 'property paths cannot be linked';
      if (!state.links.has(op.from)) return `${op.from} does not exist`;
      return state.links.has(op.to) ? `${op.to} exists` : undefined;
    case 'rename': {
      if (isProperty(op.from)) return `${op.from} is a property path`;
      const id = state.links.get(op.from);
      if (id === undefined) return `${op.from} does not exist`;
      if (op.from === op.to) return 'rename onto itself records nothing';
      // POSIX leaves both names in place here; keep the vocabulary free of that corner.
      if (state.links.get(op.to) === id) return `${op.to} is a hard link of the same file`;
      if (isProperty(op.to) && utf8Text(state.contents.get(id)!) === undefined) {
        return 'a property must be valid UTF-8';
      }
      return undefined;
    }
    case 'noop':
      return undefined;
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** The state after `op`. Throws when `opProblem` objects. */
export function applyTreeOp(state: TreeState, op: TreeOp): TreeState {
  const problem = opProblem(state, op);
  if (problem !== undefined) throw new Error(`cannot apply ${describeTreeOp(op)}: ${problem}`);
  const links = new Map(state.links);
  const contents = new Map(state.contents);
  const properties = op.kind === 'rename' ? new Map(state.properties) : state.properties;
  let nextId = state.nextId;
  const drop = (path: string): void => {
    const id = links.get(path);
    if (id === undefined) return;
    links.delete(path);
    if (![...links.values()].includes(id)) contents.delete(id);
  };
  switch (op.kind) {
    case 'create':
      drop(op.path);
      links.set(op.path, nextId);
      contents.set(nextId, new Uint8Array(0));
      nextId++;
      break;
    case 'write':
    case 'append': {
      const id = links.get(op.path)!;
      const old = contents.get(id)!;
      const bytes = dataBytes(op.data);
      const offset = op.kind === 'append' ? old.length : op.offset;
      const next = new Uint8Array(Math.max(old.length, offset + bytes.length));
      next.set(old);
      next.set(bytes, offset);
      contents.set(id, next);
      break;
    }
    case 'link':
      links.set(op.to, links.get(op.from)!);
      break;
    case 'unlink':
      drop(op.path);
      break;
    case 'rename': {
      const id = links.get(op.from)!;
      if (PROPERTY_PATHS.has(op.to) || properties.has(op.to)) {
        (properties as Map<string, string>).set(op.to, utf8Text(contents.get(id)!)!);
      } else {
        drop(op.to);
        links.set(op.to, id);
      }
      drop(op.from);
      break;
    }
    case 'noop':
      return state;
  }
  return { links, contents, properties, nextId };
}

/** Size of the file at `path` (for appends: where the bytes land). */
export function fileSize(state: TreeState, path: string): number | undefined {
  const id = state.links.get(path);
  return id === undefined ? undefined : state.contents.get(id)!.length;
}

const digestCache = new WeakMap<Uint8Array, string>();

function digest(bytes: Uint8Array): string {
  let d = digestCache.get(bytes);
  if (d === undefined) {
    d = `${bytes.length}:${createHash('sha1').update(bytes).digest('base64')}`;
    digestCache.set(bytes, d);
  }
  return d;
}

/**
 * Canonical key of a directory as a user sees it: every file path with its content digest and
 * hard-link group (named by the group's first path), then every property. Property paths are
 * files in a recovered directory, so they are listed as files with their UTF-8 content.
 */
export function stateKey(state: TreeState): string {
  const files: { path: string; group: string; digest: string }[] = [];
  const firstPath = new Map<number, string>();
  const paths = [...state.links.keys()].sort();
  for (const path of paths) {
    const id = state.links.get(path)!;
    if (!firstPath.has(id)) firstPath.set(id, path);
    files.push({ path, group: firstPath.get(id)!, digest: digest(state.contents.get(id)!) });
  }
  for (const [path, content] of state.properties) {
    files.push({ path, group: path, digest: digest(new TextEncoder().encode(content)) });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return files
    .map((f) => `${f.path}=${f.digest}${f.group === f.path ? '' : `~${f.group}`}`)
    .join('\n');
}

/** A directory as read back from a file system: path -> inode and content. */
export interface ObservedFile {
  readonly path: string;
  readonly ino: number;
  readonly bytes: Uint8Array;
}

/** The same canonical key for a directory read back from disk (inodes give the link groups). */
export function observedKey(files: readonly ObservedFile[]): string {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const firstPath = new Map<number, string>();
  return sorted
    .map((f) => {
      if (!firstPath.has(f.ino)) firstPath.set(f.ino, f.path);
      const group = firstPath.get(f.ino)!;
      return `${f.path}=${digest(f.bytes)}${group === f.path ? '' : `~${group}`}`;
    })
    .join('\n');
}

export function describeTreeOp(op: TreeOp): string {
  const data = (d: DataSpec): string =>
    'b64' in d ? `${dataLength(d)} B` : `${d.length} B #${d.pattern}`;
  switch (op.kind) {
    case 'create':
      return `create ${op.path}`;
    case 'write':
      return `write ${op.path} @${op.offset} ${data(op.data)}`;
    case 'append':
      return `append ${op.path} ${data(op.data)}`;
    case 'link':
      return `link ${op.from} -> ${op.to}`;
    case 'unlink':
      return `unlink ${op.path}`;
    case 'rename':
      return `rename ${op.from} -> ${op.to}`;
    case 'noop':
      return `noop (${op.why})`;
  }
}
