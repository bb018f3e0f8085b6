/**
 * Node kills under load: writers append self-describing records (register-checked, as a Recorder
 * does) while the stream leader is SIGKILLed (twice) and a follower once; each killed node is
 * restarted. Afterwards a fresh connection ("another machine") reads the journal back and checks
 * against the ledger of acknowledgements: every acknowledged append is present exactly once, at
 * its acknowledged offsets, in acknowledgement order; nothing torn or foreign is in the journal;
 * and writes resumed after every election.
 */
import assert from 'node:assert/strict';
import { JetStreamJournal } from '../../src/journal/jetstream.js';
import { bytesOf, readAll } from '../helpers/journal-contract.js';
import { cluster, summary, uniqueLocation } from './cluster.js';

const MAGIC = 0x52_4c_4a_53; // "RLJS"
const HEADER = 12;

function record(id: number, length: number): Uint8Array {
  const out = new Uint8Array(HEADER + length);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC);
  view.setUint32(4, id);
  view.setUint32(8, length);
  out.set(bytesOf(length, id), HEADER);
  return out;
}

interface Parsed {
  readonly id: number;
  readonly begin: number;
  readonly end: number;
}

/** Splits the journal into records; throws naming the offset of anything that is not one. */
function parseRecords(bytes: Uint8Array): Parsed[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Parsed[] = [];
  let at = 0;
  while (at < bytes.byteLength) {
    if (at + HEADER > bytes.byteLength || view.getUint32(at) !== MAGIC) {
      throw new Error(`no record at offset ${at}`);
    }
    const id = view.getUint32(at + 4);
    const length = view.getUint32(at + 8);
    const end = at + HEADER + length;
    if (end > bytes.byteLength) throw new Error(`record ${id} at ${at} is torn`);
    const expected = bytesOf(length, id);
    if (!bytes.subarray(at + HEADER, end).every((byte, i) => byte === expected[i])) {
      throw new Error(`record ${id} at ${at} has wrong bytes`);
    }
    out.push({ id, begin: at, end });
    at = end;
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('JetStreamJournal under node kills', function () {
  this.timeout(600_000);

  it('SIGKILL of the stream leader (and a follower) during appends: writes resume, every acknowledged append present exactly once, in order', async function () {
    const handle = await cluster();
    const location = uniqueLocation('kill');
    const name = 'kill/leader';
    const open = (): Promise<JetStreamJournal> =>
      JetStreamJournal.open(name, {
        servers: handle.urls,
        ...location,
        requestTimeoutMs: 2000,
        retryDeadlineMs: 90_000,
      });
    let journal = await open();
    await journal.append(new Uint8Array(0), { unionRegisters: { author: 'writer-1' } });

    const acked: Parsed[] = [];
    const attempted = new Set<number>();
    const failures: string[] = [];
    let nextId = 1;
    let stop = false;
    let lastAck = Date.now();
    let reopening: Promise<void> | undefined;

    const worker = async (): Promise<void> => {
      while (!stop) {
        const id = nextId;
        nextId += 1;
        const data = record(id, 20 + ((id * 37) % 400));
        attempted.add(id);
        const mine = journal;
        try {
          const result = await mine.append(data, { checkRegisters: { author: 'writer-1' } });
          acked.push({ id, begin: result.begin, end: result.end });
          lastAck = Date.now();
        } catch (error) {
          // Failed after the retry deadline: the append may or may not be in the journal.
          failures.push(`${id}: ${error instanceof Error ? error.message : String(error)}`);
          // The journal refuses appends after such a failure: reopen it (once for all workers).
          if (journal === mine) {
            reopening ??= open().then((fresh) => {
              journal = fresh;
              reopening = undefined;
              void mine.close().catch(() => undefined);
            });
          }
          await reopening;
        }
      }
    };
    const workers = Array.from({ length: 4 }, () => worker());

    const stalls: number[] = [];
    const killAndRestart = async (role: 'leader' | 'follower'): Promise<void> => {
      await sleep(2000);
      // A node restarted by the previous round may still be catching up; killing the leader
      // then leaves no up-to-date replica to elect (JetStream stalls until it returns), which
      // is the cluster's rule, not the journal's: wait until every replica is current.
      const caughtUp = Date.now();
      while (!(await handle.streamCurrent(location.stream))) {
        assert.ok(Date.now() - caughtUp < 120_000, 'the replicas did not catch up in 120 s');
        await sleep(200);
      }
      const leader = await handle.streamLeader(location.stream);
      assert.ok(leader !== undefined, 'the stream has a leader');
      const victim =
        role === 'leader'
          ? leader
          : (handle.nodes.find((node) => node.name !== leader)?.name as string);
      const before = acked.length;
      const killedAt = Date.now();
      handle.signal(victim, 'SIGKILL');
      summary.nodeKills += 1;
      // Writes must resume while the victim is still down (a quorum of 2 remains).
      while (acked.length <= before + 10) {
        assert.ok(
          Date.now() - killedAt < 60_000,
          `writes did not resume after killing ${role} ${victim}`,
        );
        await sleep(50);
      }
      stalls.push(lastAck - killedAt);
      await handle.restart(victim);
    };
    try {
      await killAndRestart('leader');
      await killAndRestart('follower');
      await killAndRestart('leader');
      await sleep(1000);
    } finally {
      stop = true;
      await Promise.all(workers);
    }
    await journal.close();

    // "Another machine": a fresh connection reads everything back.
    const reader = await open();
    const bytes = await readAll(reader);
    await reader.close();
    let violations = 0;
    const report: string[] = [];
    let parsed: Parsed[] = [];
    try {
      parsed = parseRecords(bytes);
    } catch (error) {
      violations += 1;
      report.push(String(error));
    }
    const at = new Map<number, Parsed>();
    for (const entry of parsed) {
      if (!attempted.has(entry.id)) {
        violations += 1;
        report.push(`record ${entry.id} was never appended`);
      }
      if (at.has(entry.id)) {
        violations += 1;
        report.push(`record ${entry.id} is present twice`);
      }
      at.set(entry.id, entry);
    }
    for (const ack of acked) {
      const found = at.get(ack.id);
      if (found === undefined || found.begin !== ack.begin || found.end !== ack.end) {
        violations += 1;
        report.push(
          `acknowledged record ${ack.id} [${ack.begin}, ${ack.end}) is ` +
            (found === undefined ? 'missing' : `at [${found.begin}, ${found.end})`),
        );
      }
    }
    // Acknowledgements came in journal order (each worker waits for its ack before the next).
    for (let i = 1; i < acked.length; i += 1) {
      if ((acked[i] as Parsed).begin < (acked[i - 1] as Parsed).end) {
        violations += 1;
        report.push(`acknowledgement ${i} (record ${(acked[i] as Parsed).id}) came out of order`);
      }
    }
    summary.acknowledgedOps += acked.length;
    summary.violations += violations;
    console.log(
      `      ${acked.length} acknowledged appends, ${parsed.length} records in the journal, ` +
        `${failures.length} failed appends, write stalls after kills: ${stalls
          .map((ms) => `${(ms / 1000).toFixed(1)} s`)
          .join(', ')}`,
    );
    assert.deepEqual(report, [], `violations:\n${report.slice(0, 20).join('\n')}`);
    assert.ok(acked.length > 100, `too few acknowledged appends (${acked.length})`);
  });
});
