/**
 * The seeded bugs (Chipmunk's re-injectable bugs): deliberate mistakes the simulated layer must
 * catch. None of them is in the library. Each is switched on one of two ways:
 *
 * - `disk`: an environmental bug, a fault of the simulated disk under the real, unchanged
 *   FileJournal (faulty-fs.ts DiskFaults): a sync that lies, a directory fsync that does nothing.
 * - `source`: a logic bug, re-created by exact text patches on a temporary copy of the sources
 *   (../lib/source-mutants.ts); the detector is imported from that copy. A patch whose pattern no
 *   longer occurs exactly once fails the suite: update it to where the code went.
 *
 * Retired: `noTornTailCut` (the v1 journal, one `data` + `commits` pair, trusted a torn last
 * commit instead of truncating it). The v2 fragment journal never truncates or overwrites a
 * written byte, so there is no cut left to skip. New v2 mutants go in this list.
 */
import type { DiskFaults } from '../lib/faulty-fs.js';
import type { SourcePatch } from '../lib/source-mutants.js';
import type { DetectorName } from './seeded-bug-detectors.js';

export type BugSwitch =
  | { readonly kind: 'disk'; readonly faults: DiskFaults }
  | { readonly kind: 'source'; readonly patches: readonly SourcePatch[] };

export interface SeededBug {
  readonly name: string;
  /** How the detector catches it (the test's title). */
  readonly how: string;
  readonly detector: DetectorName;
  readonly on: BugSwitch;
}

export const SEEDED_BUGS: readonly SeededBug[] = [
  {
    name: 'ackBeforeSync',
    how:
      "the disk's fsync/fdatasync return without making anything durable, so the journal " +
      'acknowledges bytes a crash then loses (I2)',
    detector: 'crash-states',
    on: { kind: 'disk', faults: { lyingSync: true } },
  },
  {
    name: 'noDirFsync',
    how:
      "the disk's directory fsync does nothing: a crash loses the journal's directory entries " +
      'after it was created (I2)',
    detector: 'crash-states',
    on: { kind: 'disk', faults: { noDirSync: true } },
  },
  {
    name: 'applyPayloadBeforeCrc',
    // The v2 journal verifies what it reads, so a flip on disk never reaches the Player: the
    // detector damages a payload on its way from the journal to the Player instead.
    how: 'a payload bit flipped after the journal reaches a staged file before the CRC check (I4)',
    detector: 'payload-flips-in-transit',
    on: {
      kind: 'source',
      patches: [
        {
          file: 'src/player/playback.ts',
          find:
            '      this.#checkPayload(op, expected, crc);\n' +
            '      for (const piece of pieces) await writeOut(piece);\n',
          replace:
            '      for (const piece of pieces) await writeOut(piece);\n' +
            '      await staging.flushWrites();\n' +
            '      this.#checkPayload(op, expected, crc);\n',
        },
      ],
    },
  },
  {
    name: 'noAuthorCheck',
    how: "at an unfenced fork the zombie's op with the same SeqNo and checksum is applied (I1/I3)",
    detector: 'fork',
    on: {
      kind: 'source',
      patches: [
        {
          file: 'src/fsm.ts',
          find:
            '    if (hinted !== undefined && hinted.author !== op.author) {\n' +
            '      throw new ErrNotHintedAuthor(op.seqNo, hinted.author, op.author);\n' +
            '    }\n',
          replace: '',
        },
      ],
    },
  },
  {
    name: 'nonIdempotentMakeLive',
    how: 'a recovery crashed mid-way is re-run over its leftovers and fails or differs (I6)',
    detector: 'recovery-crash',
    on: {
      kind: 'source',
      patches: [
        {
          // Playback no longer starts from an empty target: it keeps what a crashed one left.
          file: 'src/player/staging.ts',
          find: "    await attempt('remove', dir, () => fs.rm(dir, { recursive: true, force: true }));\n",
          replace: '',
        },
      ],
    },
  },
  {
    name: 'hintsIncludeUnacked',
    how: 'BuildHints resolves before the ops it references are durable (I5)',
    detector: 'hints',
    on: {
      kind: 'source',
      patches: [
        {
          file: 'src/recorder.ts',
          find:
            '    const hints = this.#fsm.buildHints(this.#journal.name);\n' +
            '    await this.barrier(options);\n',
          replace: '    const hints = this.#fsm.buildHints(this.#journal.name);\n',
        },
      ],
    },
  },
  {
    name: 'acceptWrongSeqNo',
    how:
      "the Player's hand-off no-op, which lost the race to a zombie's append, is taken for an " +
      'op with a wrong checksum (I2/I4)',
    detector: 'handoff-race',
    on: {
      kind: 'source',
      patches: [
        {
          file: 'src/fsm.ts',
          find:
            '    if (op.seqNo !== this.#nextSeqNo) {\n' +
            '      throw new ErrWrongSeqNo(this.#nextSeqNo, op.seqNo);\n' +
            '    }\n',
          replace: '',
        },
      ],
    },
  },
  {
    name: 'keepUnfinishedCommit',
    how:
      'a crash kept the last commit record but lost its data, and the journal still counts it ' +
      '(the fragment journal syncs data and record together): recovery meets damage where there ' +
      'was only a crash, or replays bytes never written (I2/I4)',
    detector: 'crash-states',
    on: {
      kind: 'source',
      patches: [
        {
          file: 'src/journal/fragment-index.ts',
          find:
            '    const before = this.unconfirmed;\n' + '    if (before === undefined) return;\n',
          replace: '    const before = this.unconfirmed;\n' + '    if (before !== null) return;\n',
        },
      ],
    },
  },
];
