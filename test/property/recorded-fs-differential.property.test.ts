/**
 * Differential property test of RecordedFs (issue 9, items 2 and 5): random sequences of
 * fs/promises calls (paths, handles, typed arrays, links, renames of files and directories,
 * copies, mkdir/rmdir/rm -r, chmod and modes on creates, truncation to any length, reads, and
 * calls the log cannot express) run on node:fs and on RecordedFs over node:fs, and over memfs.
 * After every call both give the same result (return value, or error code) and hold the same
 * tree (bytes, hard links, directories, permissions of files and directories), unless RecordedFs
 * refused the call with a typed error (NotSupportedError & co.) without touching anything, in
 * which case node:fs does not run it. At the end the Player recovers the recorded directory, in
 * hinted and in full playback, and each recovered tree equals the live one (files, bytes, hard
 * links, empty directories, permissions of files and directories).
 *
 * The seed is printed; FC_SEED=<seed> replays a run, FC_RUNS=<n> changes the number of runs.
 */
import assert from 'node:assert/strict';
import { promises as nodeFs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import {
  NotSupportedError,
  PropertyNotUtf8Error,
  UntrackedFileError,
} from '../../src/recorder-errors.js';
import { assertRecovered, recordedEnv, snapshot, type TreeFs } from '../helpers/recorded-tree.js';

const SEED =
  process.env.FC_SEED === undefined
    ? Date.now() ^ (Math.random() * 0x7fffffff)
    : Number(process.env.FC_SEED);
const RUNS = Number(process.env.FC_RUNS ?? 80);

const NAMES = ['a', 'b', 'd', 'd/c', 'd/e', 'd/f/g', 'IDENTITY'] as const;
const name = fc.constantFrom(...NAMES);

type DataKind = 'string' | 'buffer' | 'u16' | 'f64' | 'i32' | 'dataview' | 'chunks' | 'empty';
interface DataSpec {
  kind: DataKind;
  seed: number;
  len: number;
}
const data: fc.Arbitrary<DataSpec> = fc.record({
  kind: fc.constantFrom<DataKind>(
    'string',
    'buffer',
    'u16',
    'f64',
    'i32',
    'dataview',
    'chunks',
    'empty',
  ),
  seed: fc.integer({ min: 0, max: 255 }),
  len: fc.integer({ min: 1, max: 12 }),
});

/** A fresh value for `spec` (each side gets its own object). */
function materialize(spec: DataSpec): unknown {
  const bytes = new Uint8Array(
    Array.from({ length: spec.len * 8 }, (_, i) => (spec.seed + i * 7) & 0xff),
  );
  switch (spec.kind) {
    case 'string':
      return `s${spec.seed}-`.repeat(spec.len);
    case 'buffer':
      return Buffer.from(bytes.subarray(0, spec.len));
    case 'u16':
      return new Uint16Array(bytes.buffer.slice(0, spec.len * 2));
    case 'f64':
      return new Float64Array(bytes.buffer.slice(0, spec.len * 8));
    case 'i32':
      return new Int32Array(bytes.buffer.slice(0, spec.len * 4));
    case 'dataview':
      return new DataView(bytes.buffer.slice(0), 1, spec.len);
    case 'chunks':
      return ['c', bytes.subarray(0, spec.len), new Uint16Array([spec.seed])];
    case 'empty':
      return '';
  }
}

const position = fc.option(fc.integer({ min: 0, max: 40 }), { nil: null });
/**
 * Permission bits of created files, all with owner read and write, and of chmod and mkdir, all
 * with owner rwx (for directories): memfs checks permissions on every access, even through an
 * open descriptor, and as root the kernel does not, which would make the trees differ for
 * memfs's reasons (a read-only file's recovery is a unit test). 0o1777 has the sticky bit.
 */
const fileMode = fc.constantFrom(0o600, 0o644, 0o640, 0o604, 0o755, 0o700);
const mode = fc.constantFrom(0o700, 0o755, 0o751, 0o750, 0o711, 0o1777);
const createMode = fc.option(fileMode, { nil: undefined });
const dirMode = fc.option(mode, { nil: undefined });
const handle = fc.nat({ max: 7 });

const command = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constantFrom('writeFile', 'appendFile'),
      path: name,
      data,
      flag: fc.constantFrom(undefined, 'w', 'wx', 'a', 'r+', 'ax'),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('open'),
      path: name,
      flags: fc.constantFrom('r', 'r+', 'w', 'wx', 'a', 'a+', 'w+'),
      mode: createMode,
    }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('hwrite'), h: handle, data, position }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('hwritev'),
      h: handle,
      datas: fc.array(data, { maxLength: 3 }),
      position,
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('hwriteFile'), h: handle, data }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('hread'),
      h: handle,
      length: fc.integer({ min: 0, max: 20 }),
      position,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constantFrom('hreadFile', 'hstat', 'hsync', 'hclose'),
      h: handle,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('htruncate'),
      h: handle,
      len: fc.constantFrom(0, 0, 3, 50),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('hchmod'), h: handle, mode }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constantFrom('rename', 'link', 'copyFile'),
      from: name,
      to: name,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('cp'),
      from: name,
      to: name,
      recursive: fc.boolean(),
      force: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('unlink', 'rmdir'), path: name }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('rm'),
      path: name,
      recursive: fc.boolean(),
      force: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('mkdir'),
      path: name,
      recursive: fc.boolean(),
      mode: dirMode,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('truncate'),
      path: name,
      len: fc.constantFrom(0, 0, 2, 50),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('readFile'),
      path: name,
      encoding: fc.constantFrom(undefined, 'utf8', 'hex'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('readdir'),
      path: fc.constantFrom('', 'd', 'd/f', 'a'),
      withFileTypes: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constantFrom('stat', 'lstat', 'access', 'realpath', 'readlink'),
      path: name,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('chmod'), path: name, mode }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('writeSecret'), path: name, mode: fileMode }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('symlink'), path: name }) },
);
type Command = ReturnType<(typeof command)['generate']>['value'];

type Api = Record<string, (...args: unknown[]) => Promise<unknown>>;
type Handle = Record<string, (...args: unknown[]) => Promise<unknown>> & { fd: number };

interface Side {
  fs: Api;
  root: string;
  handles: Handle[];
}

/** A value as both sides can compare it (paths relative to the side's root). */
function normalize(value: unknown, root: string): unknown {
  if (value === undefined || value === null) return String(value);
  if (typeof value === 'string')
    return value.startsWith(root) ? `<root>${value.slice(root.length)}` : value;
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (ArrayBuffer.isView(value))
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  if (Array.isArray(value)) return value.map((v) => normalize(v, root)).sort();
  const v = value as Record<string, unknown> & {
    isFile?: () => boolean;
    isDirectory?: () => boolean;
  };
  if (typeof v.isFile === 'function' && 'size' in v) {
    // A directory's size is the file system's business (memfs says 0, ext4 4096).
    const dir = v.isDirectory!();
    return { size: dir ? 'dir' : Number(v.size), file: v.isFile(), dir, nlink: Number(v.nlink) };
  }
  if (typeof v.isFile === 'function' && 'name' in v)
    return `${String(v.name)}:${v.isDirectory!() ? 'd' : 'f'}`;
  if ('bytesRead' in v) return { bytesRead: v.bytesRead, buffer: normalize(v.buffer, root) };
  if ('bytesWritten' in v) return { bytesWritten: v.bytesWritten };
  return Object.prototype.toString.call(value);
}

type Outcome = { ok: unknown } | { err: string; error: unknown };

async function perform(side: Side, cmd: Command): Promise<Outcome> {
  const at = (rel: string): string => (rel === '' ? side.root : `${side.root}/${rel}`);
  const h = (i: number): Handle | undefined => side.handles[i % Math.max(1, side.handles.length)];
  const fs = side.fs;
  try {
    let value: unknown;
    switch (cmd.op) {
      case 'writeFile':
      case 'appendFile':
        value = await fs[cmd.op]!(
          at(cmd.path),
          materialize(cmd.data),
          cmd.flag === undefined ? undefined : { flag: cmd.flag },
        );
        break;
      case 'open': {
        const opened = (await fs.open!(at(cmd.path), cmd.flags, cmd.mode)) as Handle;
        side.handles.push(opened);
        value = 'handle';
        break;
      }
      case 'hwrite':
      case 'hwritev':
      case 'hwriteFile':
      case 'hread':
      case 'hreadFile':
      case 'hstat':
      case 'hsync':
      case 'hclose':
      case 'hchmod':
      case 'htruncate': {
        const target = h(cmd.h);
        if (target === undefined) return { ok: 'no handle' };
        if (cmd.op === 'hwrite') {
          const d = materialize(cmd.data);
          value =
            typeof d === 'string'
              ? await target.write!(d, cmd.position)
              : await target.write!(d, 0, undefined, cmd.position);
        } else if (cmd.op === 'hwritev') {
          const buffers = cmd.datas
            .map(materialize)
            .map((d) =>
              typeof d === 'string' ? Buffer.from(d) : Array.isArray(d) ? Buffer.from('chunks') : d,
            );
          value = await target.writev!(buffers, cmd.position ?? undefined);
        } else if (cmd.op === 'hwriteFile') {
          value = await target.writeFile!(materialize(cmd.data));
        } else if (cmd.op === 'hread') {
          value = await target.read!(Buffer.alloc(cmd.length), 0, cmd.length, cmd.position);
        } else if (cmd.op === 'hreadFile') {
          value = await target.readFile!();
        } else if (cmd.op === 'hstat') {
          value = await target.stat!();
        } else if (cmd.op === 'hsync') {
          value = await target.sync!();
        } else if (cmd.op === 'hclose') {
          value = await target.close!();
        } else if (cmd.op === 'htruncate') {
          value = await target.truncate!(cmd.len);
        } else if (cmd.op === 'hchmod') {
          value = await target.chmod!(cmd.mode);
        }
        break;
      }
      case 'rename':
      case 'link':
      case 'copyFile':
        value = await fs[cmd.op]!(at(cmd.from), at(cmd.to));
        break;
      case 'cp':
        value = await fs.cp!(at(cmd.from), at(cmd.to), {
          recursive: cmd.recursive,
          force: cmd.force,
          errorOnExist: !cmd.force,
        });
        break;
      case 'unlink':
      case 'rmdir':
        value = await fs[cmd.op]!(at(cmd.path));
        break;
      case 'rm':
        value = await fs.rm!(at(cmd.path), { recursive: cmd.recursive, force: cmd.force });
        break;
      case 'mkdir':
        value = await fs.mkdir!(at(cmd.path), { recursive: cmd.recursive, mode: cmd.mode });
        break;
      case 'truncate':
        value = await fs.truncate!(at(cmd.path), cmd.len);
        break;
      case 'readFile':
        value = await fs.readFile!(at(cmd.path), cmd.encoding);
        break;
      case 'readdir':
        value = await fs.readdir!(at(cmd.path), { withFileTypes: cmd.withFileTypes });
        break;
      case 'stat':
      case 'lstat':
      case 'access':
      case 'realpath':
      case 'readlink':
        value = await fs[cmd.op]!(at(cmd.path));
        break;
      case 'chmod':
        value = await fs.chmod!(at(cmd.path), cmd.mode);
        break;
      case 'writeSecret':
        value = await fs.writeFile!(at(cmd.path), 'secret', { mode: cmd.mode });
        break;
      case 'symlink':
        value = await fs.symlink!(at('b'), at(cmd.path));
        break;
    }
    return { ok: normalize(value, side.root) };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return { err: typeof code === 'string' ? code : (error as Error).name, error };
  }
}

/**
 * An outcome as compared: the error code or the normalized value. Over memfs, what memfs itself
 * answers differently from the kernel is not RecordedFs's to fix, so errors are compared as
 * "an error" (memfs has its own codes: unlink of a directory is EPERM there, EISDIR on Linux)
 * and mkdir's result is not compared (memfs returns the deepest directory, and succeeds for
 * mkdir -p over a file), nor reads through a descriptor (memfs reads a directory as an empty
 * file), nor link counts on descriptors; the tree after every call must still equal node:fs's.
 */
function comparable(kind: string, cmd: Command, outcome: Outcome): unknown {
  if (kind === 'memfs' && cmd.op === 'mkdir') return 'mkdir';
  // memfs reads a directory's descriptor as an empty file (Linux: EISDIR).
  if (kind === 'memfs' && (cmd.op === 'hread' || cmd.op === 'hreadFile')) return 'read';
  // Node's cp stats source and destination at once: which error comes first is a race.
  if ('err' in outcome) return { err: kind === 'memfs' || cmd.op === 'cp' ? 'error' : outcome.err };
  const value = outcome.ok as { nlink?: number };
  // memfs counts a removed file's last link on its open descriptor (Linux: 0 links).
  if (kind === 'memfs' && typeof value === 'object' && 'nlink' in value) {
    return { ...value, nlink: 'n' };
  }
  return outcome;
}

function refused(outcome: Outcome): boolean {
  if (!('err' in outcome)) return false;
  const e = outcome.error;
  return (
    e instanceof NotSupportedError ||
    e instanceof PropertyNotUtf8Error ||
    e instanceof UntrackedFileError
  );
}

async function closeAll(...sides: Side[]): Promise<void> {
  for (const side of sides) for (const h of side.handles) await h.close!().catch(() => undefined);
}

const treeOf = (fs: TreeFs, dir: string) => snapshot(fs, dir);

for (const kind of ['node:fs', 'memfs'] as const) {
  describe(`RecordedFs over ${kind} behaves as node:fs (differential, fast-check)`, function () {
    this.timeout(300_000);
    it(`random fs/promises sequences: same results, same trees, recovered tree equals live (seed ${SEED})`, async () => {
      console.log(`      seed ${SEED} (FC_SEED=${SEED} replays; FC_RUNS=${RUNS})`);
      let refusals = 0;
      let calls = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(command, { minLength: 1, maxLength: 40, size: 'large' }),
          async (commands) => {
            const refRoot = await nodeFs.mkdtemp(path.join(tmpdir(), 'differential-ref-'));
            const env = await recordedEnv(kind);
            const ref: Side = { fs: nodeFs as unknown as Api, root: refRoot, handles: [] };
            const rec: Side = { fs: env.rfs as unknown as Api, root: env.dir, handles: [] };
            try {
              for (const [i, cmd] of commands.entries()) {
                calls++;
                const before = await treeOf(env.base, env.dir);
                const got = await perform(rec, cmd);
                if (refused(got)) {
                  refusals++;
                  assert.deepEqual(
                    await treeOf(env.base, env.dir),
                    before,
                    `#${i} ${JSON.stringify(cmd)} refused but changed the tree`,
                  );
                  continue;
                }
                const want = await perform(ref, cmd);
                assert.deepEqual(
                  comparable(kind, cmd, got),
                  comparable(kind, cmd, want),
                  `#${i} ${JSON.stringify(cmd)}`,
                );
                const live = await treeOf(env.base, env.dir);
                const expected = await treeOf(nodeFs as unknown as TreeFs, refRoot);
                if (kind === 'memfs') {
                  // memfs applies no umask: its permissions are compared with the recovered ones.
                  live.modes = expected.modes;
                  live.dirModes = expected.dirModes;
                }
                assert.deepEqual(live, expected, `#${i} ${JSON.stringify(cmd)}: trees differ`);
              }
              await closeAll(rec, ref);
              assert.equal(env.recorder.failed, undefined, 'the recorder did not fail');
              const live = await treeOf(env.base, env.dir);
              for (const full of [false, true]) {
                const recovered = await env.recover({ full });
                assertRecovered(live, await treeOf(env.base, recovered));
              }
            } finally {
              await closeAll(rec, ref);
              await env.cleanup();
              await nodeFs.rm(refRoot, { recursive: true, force: true });
            }
          },
        ),
        { seed: SEED, numRuns: RUNS },
      );
      console.log(`      ${calls} calls, ${refusals} refused by RecordedFs (node:fs not run)`);
      assert.ok(refusals < calls / 2, 'most calls ran on both sides');
    });
  });
}
