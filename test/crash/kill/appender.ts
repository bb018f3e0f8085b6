/**
 * A raw appender of the namespace lane (namespaces.ts), and the fresh process that checks what
 * such appenders left. No Recorder: plain `journal.append` of self-describing records
 * (appender-records.ts). Talks over stdout, one line per event, written synchronously:
 *
 *   node appender.js append <dir> <writer id> <lockLeaseMs> <seed>
 *     ready <pid namespace> <pid>    the journal is open
 *     ack <seq>                      records 1..seq are durable (sent once the append resolved)
 *     break                          this process broke the append lock (renamed `lock` aside)
 *     done <issued> <acked>          stdin closed: every append settled, journal closed
 *     error <name>: <message>        an append failed (then exit 1)
 *   It appends until its stdin closes, with a few appends in flight (group commit), now and then
 *   idle for a moment (so the lock lingers, is released, and the doorbell is answered).
 *
 *   node appender.js read <dir>
 *     one JSON line: { head, indexFiles, parsed } (ParsedJournal), or { error }
 *   Opens the journal read-only and reads every byte from 0 to the head.
 */
import { readdirSync, readlinkSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { FileJournal } from '../../../src/journal/file.js';
import { nodeStorage, type JournalStorage } from '../../../src/journal/storage.js';
import { encodeRecord, parseRecords } from './appender-records.js';
import { prng } from './model.js';

function line(text: string): void {
  const bytes = Buffer.from(`${text}\n`);
  for (let at = 0; at < bytes.length;) {
    try {
      at += writeSync(1, bytes, at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err);
}

/** node:fs, reporting each rename of the lock aside (a lock break) on stdout. */
const countingStorage: JournalStorage = {
  ...nodeStorage,
  rename: async (from, to) => {
    await nodeStorage.rename(from, to);
    if (basename(from) === 'lock' && basename(to).startsWith('lock-broken.')) line('break');
  },
};

async function append(dir: string, writer: number, leaseMs: number, seed: number): Promise<void> {
  const journal = await FileJournal.open(dir, { lockLeaseMs: leaseMs, storage: countingStorage });
  let pidNamespace = '';
  try {
    pidNamespace = readlinkSync('/proc/self/ns/pid');
  } catch {
    // reported as empty
  }
  line(`ready ${pidNamespace} ${process.pid}`);
  let stopping = false;
  process.stdin.on('end', () => (stopping = true));
  process.stdin.on('close', () => (stopping = true));
  process.stdin.resume();

  const random = prng(seed);
  const depth = 1 + Math.floor(random() * 6);
  let issued = 0;
  let acked = 0;
  let inflight = 0;
  let wake: (() => void) | undefined;
  const fail = (err: unknown): never => {
    line(`error ${describe(err)}`);
    process.exit(1);
  };
  while (!stopping) {
    const seq = ++issued;
    const r = random();
    const length =
      r < 0.85 ? Math.floor(random() * 400) : r < 0.99 ? Math.floor(random() * 6000) : 40_000;
    inflight++;
    // The journal settles appends in call order, so acks go out in order.
    journal.append(encodeRecord(writer, seq, length)).then(() => {
      acked = seq;
      line(`ack ${seq}`);
      inflight--;
      wake?.();
    }, fail);
    if (inflight >= depth) await new Promise<void>((resolve) => (wake = resolve));
    if (random() < 0.03) await new Promise((resolve) => setTimeout(resolve, random() * 30));
    else await new Promise((resolve) => setImmediate(resolve));
  }
  while (inflight > 0) await new Promise<void>((resolve) => (wake = resolve));
  await journal.close();
  line(`done ${issued} ${acked}`);
}

async function read(dir: string): Promise<void> {
  try {
    const journal = await FileJournal.open(dir, { readOnly: true });
    const head = await journal.head();
    const chunks: Uint8Array[] = [];
    const jumps: string[] = [];
    for (let offset = 0; offset < head;) {
      const { offset: at, bytes } = await journal.read(offset, {
        blocking: false,
        maxBytes: 4 << 20,
      });
      if (at !== offset) jumps.push(`${offset} -> ${at}`);
      chunks.push(bytes);
      offset = at + bytes.byteLength;
    }
    await journal.close();
    const indexFiles = readdirSync(dir).filter((f) => /^\d+\.index$/.test(f)).length;
    const parsed = parseRecords(Buffer.concat(chunks));
    line(JSON.stringify({ head, indexFiles, jumps, parsed }));
  } catch (err) {
    line(JSON.stringify({ error: describe(err) }));
  }
}

const [mode, dir = '', ...rest] = process.argv.slice(2);
if (mode === 'append') {
  const [writer, leaseMs, seed] = rest.map(Number);
  await append(dir, writer!, leaseMs!, seed!).catch((err: unknown) => {
    line(`error ${describe(err)}`);
    process.exit(1);
  });
  process.exit(0);
} else if (mode === 'read') {
  await read(dir);
  process.exit(0);
} else {
  line(`error usage: appender.js append <dir> <writer> <leaseMs> <seed> | read <dir>`);
  process.exit(2);
}
