/**
 * The kill test's workload vocabulary and its oracle. Every KillOp is exactly one journal append
 * when performed through RecordedFs (see perform.ts), so "the state after op k" is something a
 * crash can leave: the journal keeps a prefix of whole appends. TreeModel applies ops the way
 * RecordedFs records them, which gives the parent S_k for every k without trusting the child.
 */
import { hashBytes, snapshotOf, type DirFile, type TreeSnapshot } from './tree.js';

/** Bytes are generated from (seed, length), so intent lines stay small. */
export interface Payload {
  seed: number;
  length: number;
}

export type KillOp =
  /** open(path, 'w') + close: a new empty file (replacing a single-link file at path). */
  | { kind: 'create'; path: string }
  /** open(path, 'r+') + write at offset (past the end leaves a hole of zeros). */
  | { kind: 'write'; path: string; offset: number; data: Payload }
  /** open(path, 'a') + write: lands at the end. */
  | { kind: 'append'; path: string; data: Payload }
  | { kind: 'link'; from: string; to: string }
  /** Onto a property path (/IDENTITY) it records the file's content as a property. */
  | { kind: 'rename'; from: string; to: string }
  | { kind: 'unlink'; path: string };

/** mulberry32: small and seedable; the workload needs reproducibility, not quality. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Printable ASCII (valid UTF-8, so any file can become a property). */
export function payloadBytes(p: Payload): Buffer {
  const random = prng(p.seed);
  const out = Buffer.allocUnsafe(p.length);
  for (let i = 0; i < p.length; i++) out[i] = 0x21 + Math.floor(random() * 94);
  return out;
}

export function describeOp(op: KillOp): string {
  switch (op.kind) {
    case 'create':
    case 'unlink':
      return `${op.kind} ${op.path}`;
    case 'write':
      return `write ${op.path} @${op.offset} +${op.data.length}`;
    case 'append':
      return `append ${op.path} +${op.data.length}`;
    case 'link':
    case 'rename':
      return `${op.kind} ${op.from} -> ${op.to}`;
  }
}

/** Paths recorded as properties (the Recorder's default). */
export const PROPERTY_PATHS: readonly string[] = ['/IDENTITY'];

interface Fnode {
  bytes: Buffer;
  hash: string | undefined;
}

/** Paths, file bytes and link identity, as RecordedFs records them. */
export class TreeModel {
  readonly #files = new Map<number, Fnode>();
  readonly #links = new Map<string, number>();
  readonly #properties = new Map<string, string>();
  #nextId = 1;

  /** A model of a real directory (hard links by inode); `properties` name property files. */
  static fromDir(files: readonly DirFile[], properties: ReadonlySet<string>): TreeModel {
    const model = new TreeModel();
    const byIno = new Map<number, number>();
    for (const f of files) {
      if (properties.has(f.path)) {
        model.#properties.set(f.path, Buffer.from(f.bytes).toString('utf8'));
        continue;
      }
      let id = byIno.get(f.ino);
      if (id === undefined) {
        id = model.#nextId++;
        byIno.set(f.ino, id);
        model.#files.set(id, { bytes: Buffer.from(f.bytes), hash: undefined });
      }
      model.#links.set(f.path, id);
    }
    return model;
  }

  clone(): TreeModel {
    const copy = new TreeModel();
    for (const [id, f] of this.#files)
      copy.#files.set(id, { bytes: Buffer.from(f.bytes), hash: f.hash });
    for (const [p, id] of this.#links) copy.#links.set(p, id);
    for (const [p, c] of this.#properties) copy.#properties.set(p, c);
    copy.#nextId = this.#nextId;
    return copy;
  }

  get paths(): string[] {
    return [...this.#links.keys()].sort();
  }

  has(path: string): boolean {
    return this.#links.has(path);
  }

  isProperty(path: string): boolean {
    return this.#properties.has(path);
  }

  size(path: string): number {
    return this.#fnode(path).bytes.length;
  }

  /** Number of paths sharing the file at `path`. */
  linkCount(path: string): number {
    const id = this.#links.get(path);
    let n = 0;
    for (const other of this.#links.values()) if (other === id) n++;
    return n;
  }

  sameFile(a: string, b: string): boolean {
    const id = this.#links.get(a);
    return id !== undefined && id === this.#links.get(b);
  }

  apply(op: KillOp): void {
    switch (op.kind) {
      case 'create': {
        const id = this.#nextId++;
        this.#files.set(id, { bytes: Buffer.alloc(0), hash: undefined });
        this.#links.set(op.path, id);
        break;
      }
      case 'write':
        this.#write(this.#fnode(op.path), op.offset, payloadBytes(op.data));
        break;
      case 'append': {
        const f = this.#fnode(op.path);
        this.#write(f, f.bytes.length, payloadBytes(op.data));
        break;
      }
      case 'link':
        this.#links.set(op.to, this.#id(op.from));
        break;
      case 'rename': {
        const id = this.#id(op.from);
        if (PROPERTY_PATHS.includes(op.to)) {
          this.#properties.set(op.to, this.#fnode(op.from).bytes.toString('utf8'));
        } else {
          this.#links.set(op.to, id);
        }
        this.#links.delete(op.from);
        break;
      }
      case 'unlink':
        this.#links.delete(op.path);
        break;
    }
    this.#collect();
  }

  snapshot(): TreeSnapshot {
    const files: { path: string; kind: 'file'; size: number; hash: string; id: string }[] = [];
    for (const [path, id] of this.#links) {
      const f = this.#files.get(id)!;
      f.hash ??= hashBytes(f.bytes);
      files.push({ path, kind: 'file', size: f.bytes.length, hash: f.hash, id: `fnode:${id}` });
    }
    for (const [path, content] of this.#properties) {
      const bytes = Buffer.from(content, 'utf8');
      files.push({
        path,
        kind: 'file',
        size: bytes.length,
        hash: hashBytes(bytes),
        id: `property:${path}`,
      });
    }
    return snapshotOf(files);
  }

  #id(path: string): number {
    const id = this.#links.get(path);
    if (id === undefined) throw new Error(`model: no file at ${path}`);
    return id;
  }

  #fnode(path: string): Fnode {
    return this.#files.get(this.#id(path))!;
  }

  #write(f: Fnode, offset: number, data: Buffer): void {
    const end = offset + data.length;
    if (end > f.bytes.length) {
      const grown = Buffer.alloc(end); // zero-filled: a hole reads as zeros
      f.bytes.copy(grown);
      f.bytes = grown;
    }
    data.copy(f.bytes, offset);
    f.hash = undefined;
  }

  /** Drops files no path links to any more. */
  #collect(): void {
    const live = new Set(this.#links.values());
    for (const id of [...this.#files.keys()]) if (!live.has(id)) this.#files.delete(id);
  }
}
