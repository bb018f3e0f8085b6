/**
 * The demo's application: a tiny log-structured key-value store, written as a deterministic list
 * of file-system actions generated from a seed. The recording child performs the actions through
 * RecordedFs; the parent regenerates the same list to know every state the child's directory
 * passed through (see model.ts), without any communication beyond a seed.
 *
 * Layout of the store (paths relative to its directory):
 *   IDENTITY                 the store's id (written via IDENTITY.tmp + rename: a property)
 *   MANIFEST                 generation + the live table files, oldest first (temp + rename)
 *   data/NNNNNN.log          write-ahead logs: one `key=value` record per line, appended
 *   data/NNNNNN.sst          compacted tables: the merge of older files, sorted by key
 *   checkpoints/cpN/...      hard links to the live immutable files of a past moment
 */

/** One file-system call of the store. Paths are relative, POSIX-style. */
export type Action =
  | { kind: 'mkdir'; path: string }
  /** Open for writing with create + truncate, keeping the handle under `handle`. */
  | { kind: 'create'; path: string; handle: number }
  /** Write `data` at the handle's current position (the end: the store only appends). */
  | { kind: 'append'; handle: number; data: string; puts: number }
  | { kind: 'close'; handle: number }
  /** Whole-file write (create + truncate, write, close). */
  | { kind: 'writeFile'; path: string; data: string }
  | { kind: 'rename'; from: string; to: string }
  | { kind: 'unlink'; path: string }
  | { kind: 'link'; existing: string; newPath: string }
  /** A durable point: fsync the handle's file (which waits for the recorder's barrier). */
  | { kind: 'sync'; handle: number };

export interface WorkloadOptions {
  seed: number;
  /** Number of key-value puts. */
  puts: number;
  /** Distinct keys (fewer keys: more overwrites, more for compaction to drop). Default 64. */
  keys?: number;
}

/** mulberry32: a small, fast, seedable PRNG (the demo needs determinism, not quality). */
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

const MANIFEST = 'MANIFEST';

/** Generates the store's actions for `puts` writes. Same options, same list. */
export function generateWorkload(options: WorkloadOptions): Action[] {
  const random = prng(options.seed);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const keyCount = options.keys ?? 64;
  const actions: Action[] = [];

  // In-generator view of the store, to write correct manifests and compactions.
  const tables: string[] = []; // live immutable files, oldest first (relative to data/)
  const contents = new Map<string, Map<string, string>>(); // file -> its records
  let fileNumber = 0;
  let generation = 0;
  let handle = 0;
  let checkpoint = 0;
  let previousCheckpoint: string[] | undefined;

  const nextFile = (ext: string) => `${String(++fileNumber).padStart(6, '0')}.${ext}`;
  const writeManifest = (active: string) => {
    generation += 1;
    const text = [`generation ${generation}`, ...tables, active].join('\n') + '\n';
    actions.push({ kind: 'writeFile', path: `${MANIFEST}.tmp`, data: text });
    actions.push({ kind: 'rename', from: `${MANIFEST}.tmp`, to: MANIFEST });
  };

  const hex = Array.from({ length: 8 }, () => int(0, 0xffff).toString(16).padStart(4, '0'));
  actions.push({ kind: 'writeFile', path: 'IDENTITY.tmp', data: hex.join('') + '\n' });
  actions.push({ kind: 'rename', from: 'IDENTITY.tmp', to: 'IDENTITY' });
  actions.push({ kind: 'mkdir', path: 'data' });
  actions.push({ kind: 'mkdir', path: 'checkpoints' });

  let active = nextFile('log');
  let activeRecords = new Map<string, string>();
  actions.push({ kind: 'create', path: `data/${active}`, handle });
  writeManifest(active);

  let put = 0;
  let sinceSync = 0;
  let syncEvery = int(2, 6);
  let rotateAt = int(20, 40);
  let rotations = 0;
  while (put < options.puts) {
    // A small batch of puts in one write, as a store's group commit would do.
    const batch = Math.min(int(1, 3), options.puts - put);
    let data = '';
    for (let i = 0; i < batch; i++) {
      const key = `k${String(int(0, keyCount - 1)).padStart(4, '0')}`;
      const value = valueFor(random, put + i, int(4, random() < 0.1 ? 1500 : 120));
      data += `${key}=${value}\n`;
      activeRecords.set(key, value);
    }
    put += batch;
    actions.push({ kind: 'append', handle, data, puts: batch });
    sinceSync += batch;
    rotateAt -= batch;

    if (sinceSync >= syncEvery || put === options.puts) {
      actions.push({ kind: 'sync', handle });
      sinceSync = 0;
      syncEvery = int(2, 6);
    }

    if (rotateAt <= 0 && put < options.puts) {
      // Seal the active log and start a new one.
      actions.push({ kind: 'sync', handle });
      actions.push({ kind: 'close', handle });
      tables.push(active);
      contents.set(active, activeRecords);
      active = nextFile('log');
      activeRecords = new Map();
      handle += 1;
      actions.push({ kind: 'create', path: `data/${active}`, handle });
      writeManifest(active);
      rotations += 1;
      rotateAt = int(20, 40);

      if (rotations % 3 === 0) {
        // Compaction: merge every sealed file into one sorted table, publish it, drop the inputs.
        const merged = new Map<string, string>();
        for (const t of tables) for (const [k, v] of contents.get(t)!) merged.set(k, v);
        const sst = nextFile('sst');
        const sorted = [...merged].sort(([a], [b]) => (a < b ? -1 : 1));
        const text = sorted.map(([k, v]) => `${k}=${v}\n`).join('');
        actions.push({ kind: 'writeFile', path: `data/${sst}`, data: text });
        const obsolete = tables.splice(0, tables.length, sst);
        contents.set(sst, merged);
        writeManifest(active);
        for (const t of obsolete) {
          actions.push({ kind: 'unlink', path: `data/${t}` });
          contents.delete(t);
        }
        actions.push({ kind: 'sync', handle });
      } else if (rotations % 3 === 2) {
        // Checkpoint: hard links to the immutable files; the previous checkpoint is retired.
        checkpoint += 1;
        const dir = `checkpoints/cp${checkpoint}`;
        actions.push({ kind: 'mkdir', path: dir });
        const linked = tables.map((t) => `${dir}/${t}`);
        tables.forEach((t, i) =>
          actions.push({ kind: 'link', existing: `data/${t}`, newPath: linked[i] }),
        );
        for (const old of previousCheckpoint ?? []) actions.push({ kind: 'unlink', path: old });
        previousCheckpoint = linked;
        actions.push({ kind: 'sync', handle });
      }
    }
  }
  actions.push({ kind: 'close', handle });
  return actions;
}

function valueFor(random: () => number, n: number, length: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = `v${n}-`;
  while (s.length < length) s += alphabet[Math.floor(random() * alphabet.length)];
  return s;
}

/**
 * Reads the store's logical contents from its files, as the store would on open: the MANIFEST's
 * tables in order, later records overriding earlier ones. `readFile` returns undefined for a
 * missing file. Returns undefined when there is no MANIFEST (an empty or brand-new store).
 */
export async function readStore(
  readFile: (path: string) => Promise<string | undefined>,
): Promise<{ generation: number; files: string[]; values: Map<string, string> } | undefined> {
  const manifest = await readFile(MANIFEST);
  if (manifest === undefined) return undefined;
  const [first, ...files] = manifest.split('\n').filter((line) => line !== '');
  const generation = Number(/^generation (\d+)$/.exec(first ?? '')?.[1] ?? NaN);
  if (!Number.isInteger(generation)) throw new Error(`MANIFEST is malformed: ${first}`);
  const values = new Map<string, string>();
  for (const file of files) {
    const text = await readFile(`data/${file}`);
    if (text === undefined) throw new Error(`MANIFEST lists data/${file}, which does not exist`);
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const eq = line.indexOf('=');
      values.set(line.slice(0, eq), line.slice(eq + 1));
    }
  }
  return { generation, files, values };
}
