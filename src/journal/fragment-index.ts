/**
 * FragmentIndex: what one fragment's index file says, parsed (no I/O here). A fragment is one
 * writer epoch's share of the journal: `<epoch>.index` holds its records (fragment-record.ts),
 * `<epoch>.data` the raw bytes [begin, end) of the journal it covers.
 *
 * States, from the records in file order:
 *   pending  no record yet (a writer has claimed the epoch and is taking over), or only the
 *            torn beginning of a START
 *   void     a FENCE came first: another writer fenced this epoch before it started; it holds
 *            nothing
 *   open     START and commits; the owner may still append
 *   sealed   closed by its owner (SEAL: confirms the last commit and checksums the fragment)
 *   fenced   closed by another writer's FENCE (a take-over). Records after the first SEAL or
 *            FENCE are never read: that is where a paused or partitioned old writer's late
 *            bytes land, and why they can never overwrite or extend acknowledged data.
 *
 * Damage rules: each record confirms the previous one's CRC, so a damaged record followed by any
 * valid record other than a FENCE is corruption, never a cut. Unreadable bytes at the very end
 * (or right before a FENCE) are an unfinished write: the record was never acknowledged, unless it
 * was the last commit and no later record confirmed it (the one ambiguous case, see README).
 * Past unreadable bytes a FENCE counts only if it names (prevCrc) a record of this fragment, when
 * the fragment may hold INLINE commits: a FENCE's bytes inside some commit's data are not one.
 * An INLINE commit's data is checked like a data-file commit's: on read, and for the unconfirmed
 * last commit when the fragment is loaded (fragment-io.ts settleUnconfirmed).
 */
import { crc32cCombine } from '../crc32c.js';
import { hex32 } from '../format.js';
import type { Registers } from './journal.js';
import { EMPTY_REGISTERS } from './registers.js';
import {
  COMMIT,
  FENCE,
  SEAL,
  START,
  decodeRecord,
  nextValidRecord,
  type Decoded,
} from './fragment-record.js';

export type FragmentState = 'pending' | 'void' | 'open' | 'sealed' | 'fenced';

/** Bytes that contradict every crash explanation, found while parsing. */
export class FragmentDamage {
  constructor(
    /** Position in the index file. */
    readonly position: number,
    readonly detail: string,
  ) {}
}

/** How parsing new bytes went. */
export type AdvanceResult =
  | { readonly kind: 'ok' }
  /**
   * A damaged record is followed by a valid one. Either real damage or a record caught half
   * copied by a concurrent write: the caller reads the bytes again before reporting damage.
   */
  | { readonly kind: 'suspect'; readonly damage: FragmentDamage };

export class FragmentIndex {
  state: FragmentState = 'pending';
  /** First and end offset of the committed bytes (begin is known once START is read). */
  begin = 0;
  end = 0;
  /** CRC-32C of the committed bytes [begin, end). */
  dataCrc = 0;
  registers: Registers = EMPTY_REGISTERS;
  startRecord: Extract<Decoded, { kind: typeof START }> | undefined;
  /** The record that closed the fragment (SEAL or FENCE). */
  closedBy: Decoded | undefined;
  /** Index-file position just after the last valid record (where parsing resumes). */
  parsedThrough = 0;
  /** CRC of the last valid record: the next record must carry it. */
  lastCrc = 0;
  /** Unreadable bytes after the last valid record (before the FENCE when fenced). */
  tornBytes = 0;
  /** Commits with data, in order: offsets and checksums. */
  readonly commitBegins: number[] = [];
  readonly commitEnds: number[] = [];
  readonly commitCrcs: number[] = [];
  /** Where each commit's bytes are: -1 in the data file, else this index-file position. */
  readonly commitInline: number[] = [];
  /** CRCs of the records read (a FENCE past unreadable bytes must name one of them). */
  readonly recordCrcs = new Set<number>();
  /** Records read (all kinds), for listings. */
  records = 0;
  /**
   * Set while the last data commit is not confirmed by a later record (each COMMIT and SEAL
   * carries the CRC of the record before it): what the fragment was before it. Its data and its
   * record are synced together, so after a crash the record may be durable without its data: an
   * unconfirmed commit whose data does not match is an unfinished write (see dropUnconfirmed).
   */
  unconfirmed: { readonly dataCrc: number; readonly registers: Registers } | undefined;

  constructor(readonly epoch: number) {}

  get closed(): boolean {
    return this.state === 'sealed' || this.state === 'fenced' || this.state === 'void';
  }

  /** True when it holds a START: part of the journal's chain. */
  get started(): boolean {
    return this.startRecord !== undefined && this.state !== 'void';
  }

  /**
   * Parses `bytes`, which start at index-file position `this.parsedThrough`. Stops at the first
   * record that closes the fragment; remembers unreadable trailing bytes as torn. Throws
   * FragmentDamage for records that contradict the ones before them.
   */
  advance(bytes: Uint8Array): AdvanceResult {
    const base = this.parsedThrough;
    let at = 0;
    this.tornBytes = 0;
    while (at < bytes.byteLength && !this.closed) {
      const decoded = decodeRecord(bytes, at, base);
      if (decoded.kind === 'record') {
        this.apply(decoded.record);
        at += decoded.record.length;
        this.parsedThrough = base + at;
        continue;
      }
      if (decoded.kind === 'incomplete' && decoded.end !== undefined) {
        // A whole INLINE header whose data is not all there: a torn (or in-progress) last write.
        // Never look for records inside its data: they would be the user's bytes.
        this.tornBytes = bytes.byteLength - at;
        return { kind: 'ok' };
      }
      const next = nextValidRecord(bytes, at + 1, base);
      if (next === -1) {
        this.tornBytes = bytes.byteLength - at;
        return { kind: 'ok' };
      }
      const following = decodeRecord(bytes, next, base);
      if (
        following.kind === 'record' &&
        following.record.kind !== FENCE &&
        following.record.kind !== START &&
        following.record.prevCrc === this.lastCrc &&
        this.startRecord !== undefined
      ) {
        // The valid record confirms the last valid one: the bytes between were never a record
        // anybody vouched for (a FENCE lost in a crash, or a torn write of a fenced writer).
        this.tornBytes = 0;
        at = next;
        continue;
      }
      if (
        following.kind === 'record' &&
        following.record.kind === FENCE &&
        this.vouched(following.record)
      ) {
        // An unfinished write, then another writer's fence: the torn bytes stay where they are.
        this.tornBytes = next - at;
        this.parsedThrough = base + next;
        this.apply(following.record);
        this.parsedThrough = base + next + following.record.length;
        return { kind: 'ok' };
      }
      const reason = decoded.kind === 'invalid' ? decoded.reason : 'record cut short';
      return {
        kind: 'suspect',
        damage: new FragmentDamage(
          base + at,
          `the record at ${base + at} is damaged (${reason}) but a valid record follows at ` +
            `${base + next}, so it is not an unfinished write`,
        ),
      };
    }
    return { kind: 'ok' };
  }

  /**
   * Applies the whole, valid records at the start of `bytes` (index-file position parsedThrough)
   * and stops before the first that is not one (damaged, torn, or cut off by the end of `bytes`):
   * the caller reads on from parsedThrough, or hands the rest of the file to advance(), which
   * judges damage. An INLINE record's data need not be in `bytes` when the file, `fileSize` bytes
   * long, holds it: a reader loading the index skips it. Returns the length of the last record
   * applied (0: none).
   */
  applyWhole(bytes: Uint8Array, fileSize: number): number {
    const base = this.parsedThrough;
    let at = 0;
    let last = 0;
    this.tornBytes = 0;
    while (at < bytes.byteLength && !this.closed) {
      const decoded = decodeRecord(bytes, at, base, fileSize - base);
      if (decoded.kind !== 'record') break;
      this.apply(decoded.record);
      last = decoded.record.length;
      at += last;
      this.parsedThrough = base + at;
    }
    return last;
  }

  /**
   * A FENCE found past unreadable bytes is a take-over's (not bytes inside a commit's data) when
   * it names a record this fragment holds. Fences of version 2 writers name none (0): they are
   * taken as they are in fragments that cannot hold INLINE data.
   */
  private vouched(fence: Decoded): boolean {
    if (this.startRecord?.inline !== true) return true;
    return fence.prevCrc !== 0 && this.recordCrcs.has(fence.prevCrc);
  }

  /** Applies one valid record (the parser's and the owner's single path). */
  apply(record: Decoded): void {
    this.records += 1;
    this.recordCrcs.add(record.crc);
    if (this.startRecord === undefined) {
      if (record.kind === FENCE) {
        this.state = 'void';
        this.closedBy = record;
        return;
      }
      if (record.kind !== START) {
        throw new FragmentDamage(record.position, `the first record is not a START`);
      }
      if (record.epoch !== this.epoch) {
        throw new FragmentDamage(
          record.position,
          `the START names epoch ${record.epoch}, but the file is epoch ${this.epoch}'s`,
        );
      }
      this.startRecord = record;
      this.state = 'open';
      this.begin = record.begin;
      this.end = record.begin;
      this.registers = record.registers;
      this.lastCrc = record.crc;
      return;
    }
    switch (record.kind) {
      case START:
        throw new FragmentDamage(record.position, 'a second START record');
      case FENCE:
        this.state = 'fenced';
        this.closedBy = record;
        return;
      case COMMIT:
      case SEAL: {
        if (record.prevCrc !== this.lastCrc) {
          throw new FragmentDamage(
            record.position,
            `the record at ${record.position} does not confirm the record before it (it carries ` +
              `CRC ${hex32(record.prevCrc)}, the previous record has ${hex32(this.lastCrc)})`,
          );
        }
        if (record.kind === SEAL) {
          if (record.begin !== this.begin || record.end !== this.end) {
            throw new FragmentDamage(
              record.position,
              `the SEAL covers [${record.begin}, ${record.end}) but the commits cover ` +
                `[${this.begin}, ${this.end})`,
            );
          }
          if (record.dataCrc !== this.dataCrc) {
            throw new FragmentDamage(
              record.position,
              `the SEAL's fragment checksum ${hex32(record.dataCrc)} differs from its commits' ` +
                `${hex32(this.dataCrc)}`,
            );
          }
          this.state = 'sealed';
          this.closedBy = record;
          this.lastCrc = record.crc;
          this.unconfirmed = undefined;
          return;
        }
        if (record.begin !== this.end) {
          throw new FragmentDamage(
            record.position,
            `the commit [${record.begin}, ${record.end}) does not continue the fragment, which ` +
              `ends at ${this.end}`,
          );
        }
        this.unconfirmed = undefined; // this record confirms the one before it
        if (record.end > record.begin) {
          this.unconfirmed = { dataCrc: this.dataCrc, registers: this.registers };
          this.addCommit(record.begin, record.end, record.dataCrc, record.payloadAt);
        }
        if (record.registers !== undefined) this.registers = record.registers;
        this.lastCrc = record.crc;
        return;
      }
    }
  }

  /** Adds the data commit [begin, end) with its checksum (it continues the fragment). */
  addCommit(begin: number, end: number, dataCrc: number, payloadAt = -1): void {
    this.commitInline.push(payloadAt);
    this.commitBegins.push(begin);
    this.commitEnds.push(end);
    this.commitCrcs.push(dataCrc);
    this.dataCrc = crc32cCombine(this.dataCrc, dataCrc, end - begin);
    this.end = end;
  }

  /**
   * Forgets the unconfirmed last commit: its data did not reach the disk whole, so it was never
   * acknowledged (an acknowledgement waits for both syncs). The one case this cannot tell from
   * media damage is documented in the README ("a damaged last commit").
   */
  dropUnconfirmed(): void {
    const before = this.unconfirmed;
    if (before === undefined) return;
    this.commitBegins.pop();
    this.commitEnds.pop();
    this.commitCrcs.pop();
    this.commitInline.pop();
    this.end = this.commitEnds.at(-1) ?? this.begin;
    this.dataCrc = before.dataCrc;
    this.registers = before.registers;
    this.unconfirmed = undefined;
  }

  /** Index of the commit holding byte `offset` (begin ≤ offset < end), or -1. */
  commitAt(offset: number): number {
    let low = 0;
    let high = this.commitBegins.length - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if ((this.commitEnds[mid] as number) <= offset) low = mid + 1;
      else if ((this.commitBegins[mid] as number) > offset) high = mid - 1;
      else return mid;
    }
    return -1;
  }
}
