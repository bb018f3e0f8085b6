/**
 * What the JetStream scenarios need: whether they can run at all (nats-server and the optional
 * client packages), a local 3-node cluster of their own (own ports and temporary directory,
 * stopped by PID), the raw client doing the same publishes and reads as the journal, and a
 * recovery log recorded into JetStream.
 *
 * The client packages are loaded dynamically (through the library's loader), so the harness
 * still loads when they are not installed.
 */
import { join } from 'node:path';
import {
  installNatsServer,
  startCluster,
  type ClusterHandle,
} from '../../scripts/nats/cluster.mjs';
import { loadNats, type NatsModules } from '../../src/journal/jetstream-client.js';
import { JetStreamJournal } from '../../src/journal/jetstream.js';
import { partHeaders } from '../../src/journal/jetstream-parts.js';
import { openRecorder, type FSMHints } from './library.js';

export type SyncSetting = 'default' | 'always';

export interface JetStreamSetup {
  readonly binary: string;
  readonly modules: NatsModules;
}

/** What the scenarios run with, or why they cannot run here. */
export async function jetStreamSetup(): Promise<JetStreamSetup | { skipped: string }> {
  let modules: NatsModules;
  try {
    modules = await loadNats();
  } catch (error) {
    return { skipped: `the NATS client packages are not installed (${String(error)})` };
  }
  try {
    return { binary: installNatsServer(), modules };
  } catch (error) {
    return { skipped: `no nats-server >= 2.10 (${(error as Error).message.split('\n')[0]})` };
  }
}

const running = new Set<ClusterHandle>();
let exitHook = false;

/**
 * A 3-node cluster in `dir` with `sync` durability. If the bench dies before `stop()`, its nodes
 * are still killed (by PID) when this process exits.
 */
export async function startBenchCluster(
  dir: string,
  sync: SyncSetting,
  binary: string,
): Promise<{ urls: string[]; stop(): Promise<void> }> {
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const cluster of running) {
        for (const node of cluster.nodes) {
          if (node.pid !== undefined) {
            try {
              process.kill(node.pid, 'SIGKILL');
            } catch {
              // already gone
            }
          }
        }
      }
    });
  }
  const cluster = await startCluster({ dir, sync, binary });
  running.add(cluster);
  return {
    urls: cluster.urls,
    stop: async () => {
      running.delete(cluster);
      await cluster.stop();
    },
  };
}

/** Percentile `p` (0..100) of `samples`, nearest rank. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new RangeError('percentile of no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Per-operation latencies (ms) and the rate of `concurrency` loops running `op` for `seconds`. */
export async function timedLoops(
  concurrency: number,
  seconds: number,
  op: (worker: number) => Promise<void>,
): Promise<{ opsPerSecond: number; latenciesMs: number[] }> {
  const latenciesMs: number[] = [];
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < deadline) {
        const started = performance.now();
        await op(worker);
        latenciesMs.push(performance.now() - started);
      }
    }),
  );
  return {
    opsPerSecond: latenciesMs.length / ((performance.now() - t0) / 1000),
    latenciesMs,
  };
}

/**
 * The raw client publishing what the journal publishes for one single-message commit: the
 * payload, the journal's part headers, a Nats-Msg-Id and, from one publisher, the expected last
 * subject sequence (the journal's fencing). Concurrent publishers cannot share one expectation
 * (that is what the journal's group commit is for), so at concurrency > 1 they publish without.
 */
export class RawPublisher {
  private expect = 0;
  private count = 0;
  private offset = 0;

  private constructor(
    private readonly modules: NatsModules,
    private readonly nc: import('@nats-io/transport-node').NatsConnection,
    private readonly js: import('@nats-io/jetstream').JetStreamClient,
    private readonly subject: string,
  ) {}

  /** Creates the stream as a journal would (same configuration), then publishes to it raw. */
  static async open(modules: NatsModules, urls: string[], name: string): Promise<RawPublisher> {
    const journal = await JetStreamJournal.open(name, { servers: urls });
    const { subject } = journal.location;
    await journal.close();
    const nc = await modules.transport.connect({ servers: urls });
    const js = modules.jetstream.jetstream(nc, { timeout: 10_000 });
    const publisher = new RawPublisher(modules, nc, js, subject);
    const stream = await (await js.jetstreamManager()).streams.info(journal.location.stream);
    publisher.expect = stream.state.last_seq;
    return publisher;
  }

  async publish(payload: Uint8Array, fenced: boolean): Promise<void> {
    this.count += 1;
    const begin = this.offset;
    this.offset += payload.byteLength;
    const headers = this.modules.transport.headers();
    const commit = `raw.${this.count}.1`;
    for (const [key, value] of partHeaders({
      commit,
      begin,
      end: begin + payload.byteLength,
      index: 0,
      count: 1,
      offset: begin,
      registers: {},
    })) {
      headers.set(key, value);
    }
    const ack = await this.js.publish(this.subject, payload, {
      msgID: `${commit}.0`,
      headers,
      ...(fenced ? { expect: { lastSubjectSequence: this.expect } } : {}),
    });
    if (fenced) this.expect = ack.seq;
  }

  async close(): Promise<void> {
    await this.nc.close();
  }
}

/** Reads every message of `stream` with an ordered consumer, in fetches; returns the bytes. */
export async function rawConsume(
  modules: NatsModules,
  urls: string[],
  stream: string,
): Promise<number> {
  const nc = await modules.transport.connect({ servers: urls });
  try {
    const js = modules.jetstream.jetstream(nc, { timeout: 10_000 });
    const last = (await (await js.jetstreamManager()).streams.info(stream)).state.last_seq;
    const consumer = await js.consumers.get(stream, { opt_start_seq: 1 });
    let seen = 0;
    let bytes = 0;
    while (seen < last) {
      const messages = await consumer.fetch({ max_messages: Math.min(64, last - seen) });
      for await (const message of messages) {
        seen = message.seq;
        bytes += message.data.byteLength;
      }
    }
    await consumer.delete().catch(() => undefined);
    return bytes;
  } finally {
    await nc.close();
  }
}

/**
 * Records `totalBytes` of files (8 MiB each, 64 KiB writes, a barrier per file) into a new
 * JetStream journal, as the FileJournal playback scenario's log. Returns what playback needs.
 */
export async function recordIntoJetStream(
  urls: string[],
  name: string,
  dataDir: string,
  totalBytes: number,
): Promise<{ hints: FSMHints; logBytes: number; stream: string }> {
  const journal = await JetStreamJournal.open(name, { servers: urls });
  try {
    const recorder = await openRecorder(journal, dataDir);
    const payload = new Uint8Array(64 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 131 + 7) & 0xff;
    const fileBytes = Math.min(8 * 1024 * 1024, totalBytes);
    for (let f = 0; f * fileBytes < totalBytes; f++) {
      const fnode = recorder.recordCreate(join(dataDir, `f${f}`));
      for (let at = 0; at < fileBytes; at += payload.length) {
        recorder.recordWriteAt(fnode, payload, at);
      }
      await recorder.barrier();
    }
    const hints = await recorder.buildHints();
    return { hints, logBytes: await journal.head(), stream: journal.location.stream };
  } finally {
    await journal.close();
  }
}
