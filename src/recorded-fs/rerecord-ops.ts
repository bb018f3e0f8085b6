/**
 * Re-recording long-lived files through RecordedFs (beyond Gazette; see ../rerecord.ts): by path,
 * by offset, or by the policy given to the RecordedFs before it builds hints.
 */
import {
  invalidRerecordPolicy,
  NotSupportedError,
  UntrackedFileError,
} from '../recorder-errors.js';
import type { WaitOptions } from '../recorder.js';
import { checkMaxFiles, pinningFiles, pinsTooMuch, type RerecordResult } from '../rerecord.js';
import type { Fnode, FSMHints } from '../wire/types.js';
import type { FsCore } from './core.js';
import type { BaseFileHandle } from './types.js';

/** Reads a file from its start to its end, through a handle. */
async function readWhole(handle: BaseFileHandle): Promise<Uint8Array> {
  let buffer = Buffer.allocUnsafe(Number((await handle.stat()).size) + 1);
  let length = 0;
  for (;;) {
    if (length === buffer.length) buffer = Buffer.concat([buffer, Buffer.allocUnsafe(length)]);
    const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
    if (bytesRead === 0) return buffer.subarray(0, length);
    length += bytesRead;
  }
}

/** See RecordedFs.rerecord. */
export async function rerecordPath(
  core: FsCore,
  path: unknown,
): Promise<RerecordResult | undefined> {
  const { abs, rel } = core.path(path);
  core.assertUsable();
  if (core.recorder.isPropertyPath(abs)) {
    throw new NotSupportedError(
      'rerecord',
      `${rel} is a property path; properties are kept whole in the hints and pin no log`,
    );
  }
  if (core.recorder.fnodeAt(abs) === undefined) {
    const stats = await core.base.lstat(abs); // A missing path fails here, with ENOENT.
    if (stats.isFile()) throw new UntrackedFileError(abs, 'rerecord');
    throw new NotSupportedError('rerecord', `${rel} is not a file`);
  }
  return rerecord(core, () => core.recorder.fnodeAt(abs));
}

/** See RecordedFs.rerecordPinning. */
export async function rerecordPinning(
  core: FsCore,
  options: { belowOffset: number; maxFiles?: number },
): Promise<RerecordResult[]> {
  const { belowOffset, maxFiles = Number.MAX_SAFE_INTEGER } = options;
  if (!Number.isSafeInteger(belowOffset) || belowOffset < 0) {
    throw invalidRerecordPolicy(
      `belowOffset must be a non-negative integer, got ${String(belowOffset)}`,
    );
  }
  checkMaxFiles('maxFiles', maxFiles);
  core.assertUsable();
  const results: RerecordResult[] = [];
  const log = core.recorder.journal.name;
  for (const file of pinningFiles(core.recorder.fsm, log, belowOffset)) {
    if (results.length >= maxFiles) break;
    const result = await rerecord(core, () => file.fnode);
    if (result !== undefined) results.push(result);
  }
  return results;
}

/** See RecordedFs.buildHints. */
export async function buildHints(core: FsCore, options?: WaitOptions): Promise<FSMHints> {
  const policy = core.policy;
  if (policy !== undefined) {
    core.assertUsable();
    const head = core.recorder.writeHead;
    const below = head - policy.maxPinnedBytes;
    const log = core.recorder.journal.name;
    let done = 0;
    for (const file of below > 0 ? pinningFiles(core.recorder.fsm, log, below) : []) {
      if (done >= policy.maxFilesPerRun) break;
      const worth = (size: number): boolean => pinsTooMuch(policy, head, file.firstOffset, size);
      if ((await rerecord(core, () => file.fnode, worth)) !== undefined) done++;
    }
  }
  return core.recorder.buildHints(options);
}

/**
 * Re-records the live file `pick()` names once the gate is ours (undefined: nothing to do).
 * 1. Under the exclusive gate (no call is between changing a path and recording it, so the
 *    directory is as the Recorder believes), open the file by one of its paths.
 * 2. In the file's write queue (no write or truncation of it in flight), unless it died or was
 *    replaced meanwhile, read it through that handle (the same file, even if renamed since)
 *    and, in the same synchronous step, record the swap with the links it has now (a path
 *    change still between its real call and its recording is recorded after the swap, by
 *    path, so onto the new identity) and move handles, size and queue to the new identity.
 * `worth(size)`, when given, can decline the file once its exact size is known.
 */
async function rerecord(
  core: FsCore,
  pick: () => Fnode | undefined,
  worth?: (size: number) => boolean,
): Promise<RerecordResult | undefined> {
  const { recorder, registry } = core;
  const opened = await registry.gate.exclusive(async () => {
    core.assertUsable();
    const fnode = pick();
    const links = fnode === undefined ? undefined : recorder.fsm.liveNodes.get(fnode)?.links;
    const [first] = links ?? [];
    if (fnode === undefined || first === undefined) return undefined;
    return { fnode, handle: await core.base.open(core.absolute(first), 'r') };
  });
  if (opened === undefined) return undefined;
  const { fnode, handle } = opened;
  try {
    return await registry.serialized(fnode, async () => {
      core.assertUsable();
      if (recorder.linkCount(fnode) === 0) return undefined;
      if (worth !== undefined && !worth(Number((await handle.stat()).size))) return undefined;
      const content = await readWhole(handle);
      core.assertUsable();
      const node = recorder.fsm.liveNodes.get(fnode);
      if (node === undefined) return undefined; // All its links were removed meanwhile.
      const paths = [...node.links].map((rel) => core.absolute(rel));
      const fresh = recorder.recordRerecord(fnode, content);
      registry.successors.set(fnode, fresh);
      registry.renewIdentity(fnode, fresh, content.length);
      return { paths, from: fnode, to: fresh, bytes: content.length };
    });
  } finally {
    await handle.close();
  }
}
