/**
 * The machine the figures came from, and its physical limits measured in the same run: the
 * latency of one small durable write, and sequential write/read throughput. Every library
 * figure should be read against these, never against numbers from another day or machine.
 */
import {
  closeSync,
  fdatasyncSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
  writeSync,
} from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchEnv, PhysicalLimits } from './report.js';
import { MB, MiB, median } from './stats.js';

export interface Disk {
  tmpdir: string;
  device: string;
  fsType: string;
}

/** The file system holding os.tmpdir(), from /proc/mounts (Linux); "unknown" elsewhere. */
export function describeDisk(): Disk {
  const dir = realpathSync(tmpdir());
  let best = { mount: '', device: 'unknown', fsType: 'unknown' };
  try {
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [device, mount, fsType] = line.split(' ');
      if (!device || !mount || !fsType) continue;
      const under = mount === '/' || dir === mount || dir.startsWith(mount + '/');
      if (under && mount.length >= best.mount.length) best = { mount, device, fsType };
    }
  } catch {
    // Not Linux: keep "unknown".
  }
  return { tmpdir: dir, device: best.device, fsType: best.fsType };
}

export function describeMachine(): Pick<
  BenchEnv,
  'node' | 'platform' | 'arch' | 'cpu' | 'cpus' | 'memoryMiB' | 'disk'
> {
  const c = cpus();
  return {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpu: c[0]?.model.trim() ?? 'unknown',
    cpus: c.length,
    memoryMiB: Math.round(totalmem() / MiB),
    disk: describeDisk(),
  };
}

export interface PhysicalPlan {
  /** Number of measured write+fdatasync pairs. */
  syncs: number;
  /** Bytes of the sequential write/read test file. */
  seqBytes: number;
  /** Repetitions of the sequential tests (median taken). */
  runs: number;
}

/**
 * Measures the limits with plain synchronous syscalls (the fastest way node has to do them) in
 * `dir`, which must be on the disk the scenarios use.
 */
export function measurePhysicalLimits(dir: string, plan: PhysicalPlan): PhysicalLimits {
  const small = Buffer.alloc(100, 0x5a);
  const syncFile = join(dir, 'physical-fdatasync');
  const fd = openSync(syncFile, 'w');
  const latencies: number[] = [];
  try {
    for (let i = -10; i < plan.syncs; i++) {
      const t0 = process.hrtime.bigint();
      writeSync(fd, small);
      fdatasyncSync(fd);
      if (i >= 0) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  } finally {
    closeSync(fd);
  }

  const chunk = Buffer.alloc(MiB, 0xa5);
  const seqFile = join(dir, 'physical-seq');
  const writes: number[] = [];
  const reads: number[] = [];
  for (let run = 0; run < plan.runs; run++) {
    const w = openSync(seqFile, 'w');
    const t0 = process.hrtime.bigint();
    try {
      for (let done = 0; done < plan.seqBytes; done += chunk.length) writeSync(w, chunk);
      fdatasyncSync(w);
    } finally {
      closeSync(w);
    }
    writes.push(plan.seqBytes / MB / (Number(process.hrtime.bigint() - t0) / 1e9));

    const r = openSync(seqFile, 'r');
    const t1 = process.hrtime.bigint();
    let total = 0;
    try {
      for (let n = readSync(r, chunk); n > 0; n = readSync(r, chunk)) total += n;
    } finally {
      closeSync(r);
    }
    reads.push(total / MB / (Number(process.hrtime.bigint() - t1) / 1e9));
  }
  return {
    fdatasyncLatencyMs: median(latencies),
    seqWriteMBps: median(writes),
    seqReadMBps: median(reads),
  };
}
