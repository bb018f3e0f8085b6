/**
 * recordedfs-overhead: the demo's log-structured key-value store (src/demo/workload.ts: appends
 * to write-ahead logs with periodic fsync, manifests published by temp-file + rename,
 * compactions, hard-linked checkpoints) run on plain node:fs and through RecordedFs recording
 * into a FileJournal. The figure is the time ratio recorded / plain: what recording costs an
 * application that already does its own durable I/O.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { generateWorkload, type Action } from '../../src/demo/workload.js';
import {
  createJournal,
  openRecorder,
  recordedFs,
  type WorkloadFileHandle,
  type WorkloadFs,
} from '../lib/library.js';
import { measurePaired, timed } from '../lib/measure.js';
import type { BenchResult } from '../lib/report.js';
import { pairedRow, type BenchContext, type Scenario } from '../lib/scenario.js';

/** Performs the demo's actions under `dir` through `fs`. */
export async function applyActions(
  fs: WorkloadFs,
  dir: string,
  actions: readonly Action[],
): Promise<void> {
  const handles = new Map<number, WorkloadFileHandle>();
  const at = (p: string): string => join(dir, p);
  const handle = (n: number): WorkloadFileHandle => {
    const h = handles.get(n);
    if (!h) throw new Error(`workload uses handle ${n} before creating it`);
    return h;
  };
  for (const a of actions) {
    switch (a.kind) {
      case 'mkdir':
        await fs.mkdir(at(a.path), { recursive: true });
        break;
      case 'create':
        handles.set(a.handle, await fs.open(at(a.path), 'w'));
        break;
      case 'append':
        await handle(a.handle).write(a.data);
        break;
      case 'sync':
        await handle(a.handle).sync();
        break;
      case 'close':
        await handle(a.handle).close();
        handles.delete(a.handle);
        break;
      case 'writeFile':
        await fs.writeFile(at(a.path), a.data);
        break;
      case 'rename':
        await fs.rename(at(a.from), at(a.to));
        break;
      case 'unlink':
        await fs.unlink(at(a.path));
        break;
      case 'link':
        await fs.link(at(a.existing), at(a.newPath));
        break;
    }
  }
  for (const h of handles.values()) await h.close();
}

export const recordedFsOverhead: Scenario = {
  name: 'recordedfs-overhead',
  async run(ctx: BenchContext): Promise<BenchResult[]> {
    const actions = generateWorkload({ seed: 7, puts: ctx.sizes.workloadPuts });
    const syncs = actions.filter((a) => a.kind === 'sync').length;
    const plain = async (): Promise<number> => {
      const dir = ctx.scratch.dir('plain');
      try {
        return await timed(() => applyActions(fsp as unknown as WorkloadFs, dir, actions));
      } finally {
        ctx.scratch.discard(dir);
      }
    };
    const recorded = async (): Promise<number> => {
      const dir = ctx.scratch.dir('recorded');
      try {
        const journal = await createJournal(join(dir, 'journal'));
        const data = join(dir, 'data');
        await fsp.mkdir(data);
        const recorder = await openRecorder(journal, data);
        const fs = recordedFs(recorder);
        const seconds = await timed(() => applyActions(fs, data, actions));
        await journal.close();
        return seconds;
      } finally {
        ctx.scratch.discard(dir);
      }
    };
    const m = await measurePaired(ctx.plan, recorded, plain, (ours, base) => ours / base);
    return [
      pairedRow(
        {
          name: 'recordedfs-overhead',
          label: 'recordedfs-overhead (time, demo store)',
          unit: 's',
          params: { puts: ctx.sizes.workloadPuts, actions: actions.length, fsyncs: syncs },
          baselineLabel: 'the same workload on plain node:fs (ratio = time recorded / time plain)',
          targets: [{ on: 'ratio', op: '<=', threshold: 1.5 }],
        },
        m,
      ),
    ];
  },
};
