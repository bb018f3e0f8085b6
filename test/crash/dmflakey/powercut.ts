/**
 * Power cuts on a real dm-flakey device against the recovery log library (runs INSIDE the test
 * VM; the host entry point is run.sh). The workload is an application recording a directory
 * through RecordedFs + Recorder into a FileJournal, all on the flakey mount (recorder-child.ts);
 * it reports each acknowledged op to this driver over a pipe: the ledger lives here, off the
 * device. The journal rolls to a new fragment every DMFLAKEY_FRAGMENT_BYTES, and the child
 * prunes it after each hints store.
 *
 * Each cycle: mount; a child recovers the log (Player hand-off onto the flakey mount), plays the
 * previous writer as a zombie, and records; after a random time, or right as the journal rolls
 * or prunes, the power is cut the go-dmflakey way (suspend --nolockfs, drop_writes, kill,
 * umount, allow, mount); the driver recovers the log onto memory (not the flakey device) and
 * checks I1-I7 (lineage.ts, recovery-check.ts); umount and fsck (`e2fsck -fn`, `xfs_repair -n`).
 * The next child continues the same log (a lineage), so every cut also checks that a recovered
 * log can be taken over and recorded on (I7).
 *
 * Rounds: ext4 commit=1000 (no background commit hides a missing sync), commit=5 (partial
 * write-back before the cut), error_writes windows (a failed sync acknowledges nothing, and the
 * failed Recorder never acknowledges again), random_write_corrupt aimed at the blocks the
 * journal's fragment files get (corruption is detected, never applied), and XFS power cuts.
 *
 * Env: DMFLAKEY_CUTS (cycles over all rounds, default 68), DMFLAKEY_SEED,
 * DMFLAKEY_FRAGMENT_BYTES (the journal's roll size, default 4 KiB), DMFLAKEY_PRUNE (between:
 * the children prune between two ops, the default; beside: while recording goes on; off),
 * DMFLAKEY_AVOID_KNOWN_BUGS=1 (skip what triggers known library bugs, see README),
 * DMFLAKEY_CORRUPT_PROBABILITY (the highest share of corrupted write bios; each corruption cycle
 * draws its own between a fifth of it and it; default 0.2), DMFLAKEY_SEEDED_NO_SYNC=1 (the
 * harness's seeded bug: the children's journals never sync, so the run must report lost
 * acknowledged ops), DMFLAKEY_SCRATCH_DEV and DMFLAKEY_JOB_DIR (set by vm.sh).
 * Prints `dmflakey: <cuts> power cuts, <ops> acknowledged ops checked, <v> violations` last;
 * exits 1 on any violation or unclean fsck, 2 on a harness error.
 */
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HintsStore } from '../../../src/hints-store.js';
import { FileJournal } from '../../../src/journal/file.js';
import { lowestNeededOffset } from '../../../src/journal/prune-plan.js';
import type { FSMHints } from '../../../src/wire/types.js';
import type { Damage, Violation } from '../lib/invariants.js';
import { ChildHandle } from './child-handle.js';
import { damageVerdict, describeDamage, gapFrom, scanJournalFiles } from './damage.js';
import type { SectorRange } from './extents.js';
import {
  FlakeyDevice,
  filesystemAvailable,
  flakeyTargetVersion,
  kernelRelease,
  powerCutAll,
  runCommand,
  type FsType,
} from './flakey.js';
import { Lineage, errorWindowViolations, storageActivity, type Activity } from './lineage.js';
import { describeOutcome, monotonicMicros, type ChildReport } from './protocol.js';
import { checkLineageRecovery } from './recovery-check.js';

type Fault = 'drop' | 'error' | 'corrupt';

export interface RoundPlan {
  label: string;
  fs: FsType;
  mountOptions: string;
  fault: Fault;
  cycles: number;
}

interface Settings {
  cuts: number;
  seed: number;
  scratchDevice: string;
  jobDir: string;
  mountPoint: string;
  /** Where the corruption round's journal file system is mounted. */
  journalMountPoint: string;
  fragmentBytes: number;
  /** How the children prune (DMFLAKEY_PRUNE): between two ops, beside the recording, or not. */
  prune: 'between' | 'beside' | 'off';
  /** DMFLAKEY_AVOID_KNOWN_BUGS=1: steer clear of known library bugs (README). */
  avoidKnownBugs: boolean;
  /** Harness seeded bug: the children's journals never sync (ChildConfig.unsyncedJournal). */
  unsyncedJournal: boolean;
  corruptProbability: number;
}

type Timing = 'childReady' | 'cut' | 'check' | 'fsck' | 'cycle';

interface Totals {
  cycles: number;
  ackedOpsChecked: number;
  violations: number;
  uncleanFsck: number;
  /** File handles the library left open after its journals were closed (see leakedFiles). */
  leakedHandles: number;
  corruption: { damaged: number; detected: number; recovered: number; gaps: string[] };
  /** Storage events of the children, and the cuts that landed while one was in flight. */
  storage: {
    claims: number;
    rolls: number;
    prunes: number;
    deletedFiles: number;
    cutDuring: Record<Activity, number>;
    aimed: Record<'roll' | 'prune', { tried: number; hit: number }>;
  };
  timings: Record<Timing, number[]>;
}

const MAX_VIOLATION_LINES_PER_CUT = 4;
/** Share of drop cuts aimed at the child's start (journal open/create, hand-off playback). */
const EARLY_CUT_SHARE = 0.2;
/** Share of the other drop cuts aimed at a roll or a prune (the child is frozen right then). */
const AIMED_CUT_SHARE = 0.35;
/** How long an aimed cut waits for its event before it becomes a timed one. */
const AIM_TIMEOUT_MS = 4000;
/**
 * Share of the remaining drop cuts that freeze the child (SIGSTOP) first: then every
 * acknowledgement counts. The rest cut a running child, which can tear a sync in flight, but
 * leaves the acknowledgements made while the switch to drop_writes ran (~0.3 s) unchecked.
 */
const FREEZE_SHARE = 0.5;
/** An error_writes window ends once the child stopped after its failures, or after this long. */
const ERROR_WINDOW_MAX_MS = 30_000;
const READY_TIMEOUT_MS = 180_000;
/** The corruption round's journal file system: the last part of the scratch disk. */
const JOURNAL_DEVICE_BYTES = 128 << 20;
/**
 * Small: a child records some 5-30 KB/s under emulation (ops average ~600 bytes, with a few
 * large ones), and a cut lets it record for about a second, so that most cycles roll.
 */
const DEFAULT_FRAGMENT_BYTES = 4 << 10;

function settingsFromEnv(): Settings {
  const scratchDevice = process.env.DMFLAKEY_SCRATCH_DEV;
  const jobDir = process.env.DMFLAKEY_JOB_DIR;
  if (!scratchDevice || !jobDir) {
    throw new Error(
      'DMFLAKEY_SCRATCH_DEV / DMFLAKEY_JOB_DIR are not set: this runs inside the dm-flakey VM ' +
        '(use test/crash/dmflakey/run.sh); it destroys the scratch device.',
    );
  }
  const cuts = Number(process.env.DMFLAKEY_CUTS ?? '68');
  if (!Number.isSafeInteger(cuts) || cuts < 4)
    throw new Error(`DMFLAKEY_CUTS must be an integer >= 4, got ${cuts}`);
  const seed = process.env.DMFLAKEY_SEED
    ? Number(process.env.DMFLAKEY_SEED) >>> 0
    : (Date.now() ^ (process.pid << 16)) >>> 0;
  const fragmentBytes = Number(process.env.DMFLAKEY_FRAGMENT_BYTES ?? DEFAULT_FRAGMENT_BYTES);
  if (!Number.isSafeInteger(fragmentBytes) || fragmentBytes < 1) {
    throw new Error(`DMFLAKEY_FRAGMENT_BYTES must be a positive integer, got ${fragmentBytes}`);
  }
  const corruptProbability = Number(process.env.DMFLAKEY_CORRUPT_PROBABILITY ?? '0.2');
  if (!(corruptProbability > 0 && corruptProbability <= 1)) {
    throw new Error(`DMFLAKEY_CORRUPT_PROBABILITY must be in (0, 1], got ${corruptProbability}`);
  }
  const prune = process.env.DMFLAKEY_PRUNE ?? 'between';
  if (prune !== 'between' && prune !== 'beside' && prune !== 'off') {
    throw new Error(`DMFLAKEY_PRUNE must be between, beside or off, got ${prune}`);
  }
  if (process.env.DMFLAKEY_SEEDED_BUGS) {
    throw new Error(
      'DMFLAKEY_SEEDED_BUGS is gone: the library carries no seeded bugs any more (logic mutants ' +
        'are source patches of the simulated seeded-bug suite); DMFLAKEY_SEEDED_NO_SYNC=1 is ' +
        "this layer's own seeded bug",
    );
  }
  return {
    cuts,
    seed,
    scratchDevice,
    jobDir,
    mountPoint: '/mnt/rl-flakey',
    journalMountPoint: '/mnt/rl-journal',
    fragmentBytes,
    prune,
    avoidKnownBugs: process.env.DMFLAKEY_AVOID_KNOWN_BUGS === '1',
    unsyncedJournal: process.env.DMFLAKEY_SEEDED_NO_SYNC === '1',
    corruptProbability,
  };
}

/**
 * error_writes windows and corruption cycles take a tenth of the cycles each, XFS power cuts a
 * fifth (at least one each); the rest are ext4 power cuts, split between commit=1000 and
 * commit=5. Without random_write_corrupt (or XFS) its share goes to the ext4 power cuts. Rounds
 * left with no cycle are dropped.
 */
export function planRounds(
  cuts: number,
  corruptSupported: boolean,
  xfsSupported = true,
): RoundPlan[] {
  const errorWindows = Math.max(1, Math.round(cuts / 10));
  const corrupt = corruptSupported ? Math.max(1, Math.round(cuts / 10)) : 0;
  const xfs = xfsSupported ? Math.max(1, Math.round(cuts / 5)) : 0;
  const drops = cuts - errorWindows - corrupt - xfs;
  const plans: RoundPlan[] = [
    {
      label: 'commit=1000',
      fs: 'ext4',
      mountOptions: 'commit=1000',
      fault: 'drop',
      cycles: Math.ceil(drops / 2),
    },
    {
      label: 'commit=5',
      fs: 'ext4',
      mountOptions: 'commit=5',
      fault: 'drop',
      cycles: Math.floor(drops / 2),
    },
    {
      label: 'error_writes',
      fs: 'ext4',
      mountOptions: 'commit=1000',
      fault: 'error',
      cycles: errorWindows,
    },
    {
      label: 'random_write_corrupt',
      fs: 'ext4',
      mountOptions: 'commit=1000',
      fault: 'corrupt',
      cycles: corrupt,
    },
    { label: 'xfs', fs: 'xfs', mountOptions: 'defaults', fault: 'drop', cycles: xfs },
  ];
  return plans.filter((p) => p.cycles > 0);
}

/** xorshift32: reproducible choices (delays, seeds, authors) from DMFLAKEY_SEED. */
function prng(seed: number): () => number {
  let x = seed || 0x2545f491;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** Every file of a journal directory as it is now (an empty map when there is none yet). */
export async function readJournalFiles(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return files;
    throw error;
  }
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    try {
      files.set(entry.name, await readFile(join(dir, entry.name)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return files;
}

class PowerCutRun {
  private readonly random: () => number;
  private spare: ChildHandle | undefined;
  private readonly usedAuthors = new Set<number>();
  readonly totals: Totals = {
    cycles: 0,
    ackedOpsChecked: 0,
    violations: 0,
    uncleanFsck: 0,
    leakedHandles: 0,
    corruption: { damaged: 0, detected: 0, recovered: 0, gaps: [] },
    storage: {
      claims: 0,
      rolls: 0,
      prunes: 0,
      deletedFiles: 0,
      cutDuring: { takeover: 0, roll: 0, prune: 0 },
      aimed: { roll: { tried: 0, hit: 0 }, prune: { tried: 0, hit: 0 } },
    },
    timings: { childReady: [], cut: [], check: [], fsck: [], cycle: [] },
  };

  constructor(
    private readonly settings: Settings,
    private readonly flakey: FlakeyDevice,
    /** The corruption round's journal device (ext4, formatted once). */
    private readonly journalDevice: FlakeyDevice | undefined,
  ) {
    this.random = prng(settings.seed);
  }

  async round(plan: RoundPlan, roundNumber: number): Promise<void> {
    const before = { acked: this.totals.ackedOpsChecked, violations: this.totals.violations };
    if (this.flakey.fsType !== plan.fs) await this.flakey.mkfs(plan.fs);
    let generation = 0;
    const fresh = () => {
      const lineage = `round-${roundNumber}/lineage-${generation++}`;
      return new Lineage(
        `crash/${lineage.replace('/lineage', '')}`,
        join(this.settings.mountPoint, lineage),
        plan.fault === 'corrupt'
          ? { journalDir: join(this.settings.journalMountPoint, lineage, 'journal') }
          : {},
      );
    };
    let lineage = fresh();
    for (let cycle = 1; cycle <= plan.cycles; cycle++) {
      const healthy = await this.cycle(plan, `${plan.label} #${cycle}`, lineage);
      // A broken log would fail every later check; a corruption cycle damages its log on purpose.
      if (!healthy || plan.fault === 'corrupt') lineage = fresh();
    }
    const what =
      plan.fault === 'drop'
        ? 'power cuts'
        : plan.fault === 'error'
          ? 'error_writes windows'
          : 'corruption cuts';
    console.log(
      `dmflakey: round ${plan.label} (${plan.fs}): ${plan.cycles} ${what}, ` +
        `${this.totals.ackedOpsChecked - before.acked} acknowledged ops checked, ` +
        `${this.totals.violations - before.violations} violations`,
    );
  }

  async close(): Promise<void> {
    await this.spare?.kill();
  }

  /** One fault cycle; returns whether the lineage can continue. */
  private async cycle(plan: RoundPlan, tag: string, lineage: Lineage): Promise<boolean> {
    const t0 = Date.now();
    await this.flakey.mount(plan.mountOptions);
    if (!existsSync(lineage.dir)) {
      mkdirSync(lineage.dir, { recursive: true });
      await runCommand(['sync']); // the lineage's directory is durable before any cut
    }

    const journalDevice = plan.fault === 'corrupt' ? this.journalDevice : undefined;
    let corruptRanges: SectorRange[] | undefined;
    if (journalDevice !== undefined) {
      corruptRanges = await this.prepareCorruptibleJournal(lineage, journalDevice, plan);
    }

    const child = this.spare ?? this.newChild();
    this.spare = undefined;
    const preloaded = child.loadedAt > 0;
    await child.loaded;
    const author = this.newAuthor();
    const zombieAuthor = lineage.lastAuthor;
    const startedAt = monotonicMicros();
    const tStart = Date.now();
    let probability = 0;
    if (journalDevice !== undefined && corruptRanges !== undefined) {
      // Varied per cycle: from damage everywhere (recovery must fail, typed) to none at all.
      probability = this.settings.corruptProbability * (0.2 + 0.8 * this.random());
      await journalDevice.corruptWritesIn(corruptRanges, probability);
    }
    child.start({
      journalDir: lineage.journalDir,
      journalName: lineage.name,
      hintsDir: lineage.hintsDir,
      treeDir: lineage.treeDir,
      author,
      zombieAuthor,
      seed: (this.random() * 2 ** 32) >>> 0,
      fragmentBytes: this.settings.fragmentBytes,
      prune: this.settings.prune === 'off' ? undefined : this.settings.prune,
      skipPruneNeedingAll: this.settings.avoidKnownBugs,
      unsyncedJournal: this.settings.unsyncedJournal,
    });

    // The fault's table waits in the inactive slot: the fault starts with suspend + resume.
    const faultTable = this.flakey.preload({ kind: plan.fault === 'error' ? 'error' : 'drop' });
    faultTable.catch(() => undefined);
    const journalFault = journalDevice?.preload({ kind: 'drop' });
    journalFault?.catch(() => undefined);

    const violations: Violation[] = [];
    const earlyCut =
      plan.fault === 'drop' && (lineage.generation === 0 || this.random() < EARLY_CUT_SHARE);
    let aim: 'roll' | 'prune' | undefined;
    let aimHit = false;
    let ready: ChildReport | undefined;
    if (earlyCut) {
      // Somewhere in the child's open / hand-off playback (its duration last time, plus a margin).
      await sleep(this.random() * (lineage.lastPlayMs * 1.5 + 800));
      ready = child.reports.find((r) => r.t === 'ready');
    } else {
      ready = await child.waitFor((r) => r.t === 'ready', READY_TIMEOUT_MS);
      if (ready !== undefined) {
        this.totals.timings.childReady.push(Date.now() - tStart);
        if (plan.fault === 'drop' && this.random() < AIMED_CUT_SHARE) {
          // Right as the journal seals a full fragment (a roll), or creates its prune mark (a
          // prune deleting fragments: only when the stored hints let the child's first prune
          // delete some, see prunableNext).
          aim = lineage.prunable && this.random() < 0.5 ? 'prune' : 'roll';
          const event = aim === 'roll' ? 'seal' : 'mark';
          const readyAt = ready.at;
          const hit = await child.waitFor(
            (r) => r.t === 'io' && r.ev === event && r.at > readyAt,
            AIM_TIMEOUT_MS,
          );
          aimHit = hit !== undefined;
        } else {
          // Drop cuts: anywhere in the first 2 s of recording. Error windows start a little in;
          // corruption runs longer, so that the corrupted writes have time to pile up.
          const [from, span] =
            plan.fault === 'error'
              ? [200, 600]
              : plan.fault === 'corrupt'
                ? [500, 2000]
                : [50, 1950];
          await sleep(from + this.random() * span);
        }
      }
    }
    violations.push(...this.childTrouble(child, lineage, earlyCut));

    await faultTable;
    await journalFault;
    const tFault = Date.now();
    let cutAt: number | undefined;
    /** When the fault began, as far as the child could tell (for storageActivity). */
    let faultAt: number | undefined;
    let windowMs = 0;
    let frozen = false;
    if (plan.fault === 'error' && ready !== undefined && child.exitStatus === undefined) {
      const tWindow = Date.now();
      faultAt = monotonicMicros();
      await this.flakey.errorWrites();
      await child.waitFor((r) => r.t === 'stopped', ERROR_WINDOW_MAX_MS);
      windowMs = Date.now() - tWindow;
      await this.flakey.allowWrites();
      child.probe();
      await child.waitFor((r) => r.t === 'probe', 20_000);
      violations.push(...errorWindowViolations(child.reports, windowMs));
      cutAt = undefined; // nothing was dropped: every acknowledgement counts
    } else if (
      aim !== undefined ||
      plan.fault === 'corrupt' ||
      (plan.fault === 'drop' && !earlyCut && this.random() < FREEZE_SHARE)
    ) {
      // Freeze the child, then cut: every acknowledgement it made was made before the cut.
      // (Corruption cycles always: the journal and the hints live on two devices, cut in turn.)
      child.freeze();
      faultAt = monotonicMicros();
      frozen = true;
      cutAt = undefined;
    } else {
      // The cut takes effect during the switch (`dmsetup resume --nolockfs` suspends the device
      // first), some 0.3 s after this moment:
      // acknowledgements from then on ("late") prove nothing and are not required.
      cutAt = monotonicMicros();
      faultAt = cutAt;
    }
    const whileDropping = async (): Promise<void> => {
      await child.kill();
      this.spare = this.newChild(); // loads (off the flakey mount) while we remount and check
    };
    if (journalDevice !== undefined) {
      await powerCutAll(
        [
          { device: this.flakey, mountOptions: plan.mountOptions },
          { device: journalDevice, mountOptions: plan.mountOptions },
        ],
        whileDropping,
      );
    } else {
      await this.flakey.powerCut({ mountOptions: plan.mountOptions, whileDropping });
    }
    const tCut = Date.now();

    // The journal's files as the disk holds them now, before anything reads them through the
    // library (which writes nothing either, but this is the evidence).
    const asCut = await readJournalFiles(lineage.journalDir);
    const activity = storageActivity(child.reports, faultAt);
    this.countActivity(activity, aim, aimHit);

    // Media damage, as the disk holds it.
    let damage: Damage = { kind: 'crash' };
    let damageLine = '';
    let gapAt: number | undefined;
    if (plan.fault === 'corrupt') {
      const ackedHead = Math.max(
        0,
        ...child.reports.flatMap((r) =>
          r.t === 'ack' && r.i > 0 && (cutAt === undefined || r.at < cutAt) ? [r.head] : [],
        ),
      );
      const scan = scanJournalFiles(asCut);
      damage = damageVerdict(scan, ackedHead);
      gapAt = gapFrom(scan, ackedHead);
      damageLine = `; corrupting ${(probability * 100).toFixed(0)}% of write bios: journal ${describeDamage(scan, ackedHead)}`;
    }

    const absorbed = lineage.absorb({ author, startedAt, reports: child.reports });
    violations.push(...absorbed.violations);
    let expect = lineage.expectation(cutAt);
    if (gapAt !== undefined) {
      // The documented gap: an unconfirmed last commit, damaged, reads as never written. Ops
      // acknowledged at or below its offset must still be there.
      const before = child.reports.filter((r) => r.t === 'ack' && r.i > 0 && r.head <= gapAt!);
      const cutoff = before.length === 0 ? -1 : before[before.length - 1]!.at;
      expect = { ...expect, acked: Math.min(expect.acked, lineage.expectation(cutoff).acked) };
      this.totals.corruption.gaps.push(
        `${tag}: the damaged unconfirmed last commit at offset ${gapAt} read as never written`,
      );
    }
    const requiredOps = newlyAcknowledgedOps(lineage, cutAt);
    // The driver's recoveries read a copy of the journal's files as the cut left them (the same
    // bytes, on the VM's tmpfs): a file handle the library might leave open then cannot keep
    // the flakey mount busy (leakedFiles), and the evidence stays as it was.
    const copy = await mkdtemp(join(tmpdir(), 'dmflakey-check-'));
    const copyJournal = join(copy, 'journal');
    if (existsSync(lineage.journalDir)) {
      await mkdir(copyJournal);
      for (const [name, bytes] of asCut) await writeFile(join(copyJournal, name), bytes);
    }
    const check = await checkLineageRecovery(lineage, expect, {
      damage,
      journalDir: copyJournal,
      payloads: plan.fault === 'corrupt' ? lineage.payloads() : undefined,
      random: this.random,
    });
    const leaked = await leakedFiles(copy);
    await rm(copy, { recursive: true, force: true });
    if (leaked.length > 0) {
      this.totals.leakedHandles += leaked.length;
      console.log(
        `dmflakey:   LEAK: ${leaked.length} file handles still open after the driver's recoveries closed ` +
          `their journals: ${[...new Set(leaked)].map((f) => f.slice(copy.length + 1)).join(', ')}`,
      );
    }
    violations.push(...check.violations);
    if (check.missing) lineage.settleMissing();
    else if (check.k !== undefined && check.checked !== undefined)
      lineage.settle(check.k, check.checked);
    if (plan.fault === 'corrupt') this.countCorruption(damage, check.detected, check.gap, tag);
    if (plan.fault !== 'error') violations.push(...unexpectedFailures(child.reports));
    lineage.prunable = await prunableNext(lineage, asCut);
    if (violations.length > 0) this.archive(tag, lineage, violations, child.reports, asCut);
    const tCheck = Date.now();

    const fscks: string[] = [];
    for (const device of journalDevice === undefined
      ? [this.flakey]
      : [this.flakey, journalDevice]) {
      await device.unmount();
      const fsck = await device.fsck();
      fscks.push(fsck.clean ? 'clean' : `exit ${fsck.exitCode}`);
      if (!fsck.clean) {
        this.totals.uncleanFsck++;
        writeFileSync(
          join(
            this.settings.jobDir,
            `fsck-${tag.replace(/[^A-Za-z0-9=#-]+/g, '_')}-${device.name}.txt`,
          ),
          fsck.output,
        );
      }
    }
    const tFsck = Date.now();

    this.totals.cycles++;
    this.totals.ackedOpsChecked += requiredOps;
    this.totals.violations += violations.length;
    const t = this.totals.timings;
    t.cut.push(tCut - tFault);
    t.check.push(tCheck - tCut);
    t.fsck.push(tFsck - tCheck);
    t.cycle.push(tFsck - t0);

    const acks = child.reports.filter((r) => r.t === 'ack' && r.i > 0);
    const late = cutAt === undefined ? 0 : acks.filter((r) => r.at >= cutAt!).length;
    const fails = child.reports.filter((r) => r.t === 'fail').length;
    const recovered = child.reports.find((r) => r.t === 'recovered');
    const fragments = [...asCut.keys()].filter((name) => name.endsWith('.index')).length;
    const journalLine =
      `journal: ${fragments} fragments` +
      (check.low !== undefined && check.low > 0 ? ` from offset ${check.low}` : '') +
      `, ${activity.rolls} rolls, ${activity.deletedFiles / 2} pruned` +
      (activity.inFlight.length > 0 ? `, cut during ${activity.inFlight.join('+')}` : '');
    const start =
      `child ${preloaded ? 'preloaded' : `loaded in ${seconds(child.loadedAt - child.spawnedAt)}`}` +
      (recovered?.t === 'recovered' ? `, hand-off playback ${seconds(recovered.playMs)}` : '') +
      (earlyCut ? `, early cut${ready === undefined ? ' (before recording)' : ''}` : '') +
      (aim !== undefined ? `, aimed at a ${aim}${aimHit ? '' : ' (none came: timed)'}` : '') +
      (frozen ? ', child frozen before the cut' : '') +
      (plan.fault === 'error' ? `, error window ${seconds(windowMs)}` : '') +
      `; check: hinted ${seconds(check.timings.hinted)}, ` +
      `${check.others.length > 0 ? check.others[0]!.replace(/^recovery from the /, 'from ') : 'no other'} ${seconds(check.timings.others)}, ` +
      `crash+again ${seconds(check.timings.crashAgain)}, hints ${seconds(check.timings.storedHints)}`;
    console.log(
      `dmflakey: [${tag}] gen ${lineage.generation}: ${absorbed.ops} ops, ${acks.length - late} acks` +
        `${late > 0 ? ` (+${late} late)` : ''}${fails > 0 ? `, ${fails} failures` : ''}; ${journalLine}; ${check.summary}` +
        `${damageLine}; fsck ${fscks.join('/')}; ${violations.length} violations; ` +
        `cycle ${seconds(tFsck - t0)} (${start})`,
    );
    for (const v of violations.slice(0, MAX_VIOLATION_LINES_PER_CUT)) {
      console.log(
        `dmflakey:   VIOLATION ${v.invariant}: ${v.message.split('\n').slice(0, 6).join(' | ')}`,
      );
    }
    if (violations.length > MAX_VIOLATION_LINES_PER_CUT) {
      console.log(
        `dmflakey:   ... ${violations.length - MAX_VIOLATION_LINES_PER_CUT} more (see the job folder's failures/)`,
      );
    }
    // The lineage goes on only if its log recovered and nothing was violated.
    return violations.length === 0 && (check.checked !== undefined || check.missing);
  }

  private newChild(): ChildHandle {
    return new ChildHandle();
  }

  private newAuthor(): number {
    for (;;) {
      const author = (this.random() * 0xffffffff) >>> 0;
      if (author !== 0 && !this.usedAuthors.has(author)) {
        this.usedAuthors.add(author);
        return author;
      }
    }
  }

  /** A child that could not start recording (and why), unless the cut came first on purpose. */
  private childTrouble(child: ChildHandle, lineage: Lineage, earlyCut: boolean): Violation[] {
    const error = child.reports.find((r) => r.t === 'error');
    if (error?.t === 'error') {
      const halfCreated =
        error.stage === 'open' &&
        error.outcome.errorCode === 'JournalExists' &&
        lineage.checked === undefined;
      return [
        {
          invariant: 'I7',
          message: halfCreated
            ? `a cut during an earlier create left ${lineage.journalDir} half-created: open() finds no ` +
              `journal there and create() refuses: ${describeOutcome(error.outcome)}`
            : `the child failed at ${error.stage}: ${describeOutcome(error.outcome)}`,
        },
      ];
    }
    if (child.exitedEarly !== undefined) {
      return [
        {
          invariant: 'I7',
          message: `the child died on its own (${child.exitedEarly}): ${child.stderrTail()}`,
        },
      ];
    }
    if (!earlyCut && !child.reports.some((r) => r.t === 'ready')) {
      return [
        {
          invariant: 'I7',
          message: `the child was not recording after ${READY_TIMEOUT_MS / 1000} s: ${child.stderrTail()}`,
        },
      ];
    }
    return [];
  }

  /**
   * The corruption round's log, on a file system of its own (the hints and the recorded tree
   * stay on the main one, untouched by corruption): created by the driver, then that file system
   * is unmounted and `dumpe2fs` lists its free blocks. The table then corrupts writes there
   * only: where the fragment files the child creates will land (ext4 allocates from free
   * blocks), while ext4's metadata, its journal and the journal directory's one block (which
   * holds ~170 entries; a cycle makes a few dozen) stay intact. So the round tests the recovery
   * log's checksums, not ext4's.
   */
  private async prepareCorruptibleJournal(
    lineage: Lineage,
    device: FlakeyDevice,
    plan: RoundPlan,
  ): Promise<SectorRange[]> {
    await device.mount(plan.mountOptions);
    try {
      const journal = await FileJournal.create(lineage.journalDir, lineage.name);
      await journal.close();
      await runCommand(['sync']);
    } finally {
      await device.unmount();
    }
    const ranges = await device.freeSectors();
    await device.mount(plan.mountOptions);
    lineage.ledger.journalCreatedAt = 0; // durable before any child ran
    return ranges;
  }

  private countActivity(
    activity: ReturnType<typeof storageActivity>,
    aim: 'roll' | 'prune' | undefined,
    aimHit: boolean,
  ): void {
    const s = this.totals.storage;
    s.claims += activity.claims;
    s.rolls += activity.rolls;
    s.prunes += activity.prunes;
    s.deletedFiles += activity.deletedFiles;
    for (const a of activity.inFlight) s.cutDuring[a]++;
    if (aim !== undefined) {
      s.aimed[aim].tried++;
      if (aimHit) s.aimed[aim].hit++;
    }
  }

  private countCorruption(
    damage: Damage,
    detected: boolean,
    gap: string | undefined,
    tag: string,
  ): void {
    const c = this.totals.corruption;
    if (damage.kind === 'media') c.damaged++;
    if (detected) c.detected++;
    else c.recovered++;
    if (gap !== undefined) c.gaps.push(`${tag}: ${gap}`);
  }

  /** Keeps the evidence: the log's files (as found after the cut), hints, ledger, violations. */
  private archive(
    tag: string,
    lineage: Lineage,
    violations: Violation[],
    reports: readonly ChildReport[],
    asCut: ReadonlyMap<string, Uint8Array>,
  ): void {
    const where = join(this.settings.jobDir, 'failures', tag.replace(/[^A-Za-z0-9=#-]+/g, '_'));
    mkdirSync(where, { recursive: true });
    writeFileSync(
      join(where, 'violations.txt'),
      violations.map((v) => `${v.invariant}: ${v.message}`).join('\n\n') + '\n',
    );
    writeFileSync(join(where, 'ledger.json'), JSON.stringify(lineage.ledger.toJSON()) + '\n');
    writeFileSync(
      join(where, 'reports.jsonl'),
      reports.map((r) => JSON.stringify(r)).join('\n') + '\n',
    );
    // Every file of the journal directory (journal.json, each fragment's .index and .data,
    // prune marks, lock files) as it was right after the cut.
    mkdirSync(join(where, 'journal-as-cut'), { recursive: true });
    for (const [name, bytes] of asCut) writeFileSync(join(where, 'journal-as-cut', name), bytes);
    for (const [part, from] of [
      ['journal', lineage.journalDir],
      ['hints', lineage.hintsDir],
    ] as const) {
      try {
        cpSync(from, join(where, part), { recursive: true });
      } catch (error) {
        writeFileSync(join(where, `${part}-copy-error.txt`), String(error));
      }
    }
  }
}

/**
 * Whether the next child's first prune will delete fragments. It prunes with the hints it
 * stores, the hints it recovered with (the primary stored now) and the newest backup stored now
 * (the older one rotates out), so: does a fragment end at or below what those two need?
 */
async function prunableNext(
  lineage: Lineage,
  asCut: ReadonlyMap<string, Uint8Array>,
): Promise<boolean> {
  let list: FSMHints[];
  try {
    const stored = await new HintsStore(lineage.hintsDir).fetch(lineage.name);
    list = [stored.primary, stored.backups[0]].filter((h): h is FSMHints => h !== undefined);
  } catch {
    return false;
  }
  if (list.length === 0) return false;
  let needed: number;
  try {
    needed = lowestNeededOffset(lineage.name, list);
  } catch {
    return false;
  }
  const scan = scanJournalFiles(asCut);
  return scan.fragments.some(
    (f) =>
      (f.state === 'sealed' || f.state === 'fenced' || f.state === 'open') &&
      f.end > scan.prunedBelow &&
      f.end <= needed &&
      needed > 0,
  );
}

/** Files under `dir` this process still has open (/proc/self/fd). */
async function leakedFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    try {
      const target = await readlink(`/proc/self/fd/${fd}`);
      if (target.startsWith(`${dir}/`)) out.push(target.replace(/ \(deleted\)$/, ''));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/**
 * Outside error_writes windows nothing the workload does may fail, except an op the library
 * refuses up front as unsupported, recording nothing (e.g. a rename onto the property path of a
 * file that has other hard links: the Layer-2 workload does not steer clear of those).
 */
function unexpectedFailures(reports: readonly ChildReport[]): Violation[] {
  return reports.flatMap((r): Violation[] =>
    r.t === 'fail' &&
    !(r.what === 'record' && r.recorded === false && r.outcome.errorCode === 'NotSupported')
      ? [
          {
            invariant: 'I7',
            message: `${r.what} after op ${r.i} failed while the device worked: ${describeOutcome(r.outcome)}`,
          },
        ]
      : [],
  );
}

/** Ops (not hand-off no-ops) of the newest epoch acknowledged before the cut. */
function newlyAcknowledgedOps(lineage: Lineage, cutAt: number | undefined): number {
  const { ledger } = lineage;
  const c = cutAt ?? Number.POSITIVE_INFINITY;
  return ledger.history.filter(
    (e) =>
      e.epoch === ledger.epoch && e.op.kind !== 'noop' && e.ackedAt !== undefined && e.ackedAt <= c,
  ).length;
}

function average(values: number[]): string {
  return values.length === 0 ? '-' : seconds(values.reduce((a, b) => a + b, 0) / values.length);
}

async function main(): Promise<number> {
  const tBegin = Date.now();
  const settings = settingsFromEnv();
  const { stdout } = await runCommand(['blockdev', '--getsz', settings.scratchDevice]);
  const diskSectors = Number.parseInt(stdout.trim(), 10);
  const journalSectors = JOURNAL_DEVICE_BYTES / 512;
  const flakey = await FlakeyDevice.create({
    name: 'rl-flakey',
    backingDevice: settings.scratchDevice,
    mountPoint: settings.mountPoint,
    sectors: diskSectors - journalSectors,
  });
  const corrupt = await flakey.supportsFeature('random_write_corrupt');
  const xfs = await filesystemAvailable('xfs');
  const plans = planRounds(settings.cuts, corrupt, xfs);
  let journalDevice: FlakeyDevice | undefined;
  if (corrupt) {
    journalDevice = await FlakeyDevice.create({
      name: 'rl-journal',
      backingDevice: settings.scratchDevice,
      mountPoint: settings.journalMountPoint,
      offset: diskSectors - journalSectors,
      sectors: journalSectors,
    });
    await journalDevice.mkfs('ext4');
  }
  console.log(
    `dmflakey: kernel ${await kernelRelease()}, dm-flakey ${await flakeyTargetVersion()}, node ${process.version}; ` +
      `seed ${settings.seed} (DMFLAKEY_SEED=${settings.seed} repeats the choices)` +
      `${settings.unsyncedJournal ? '; SEEDED BUG: journals never sync' : ''}; ` +
      `fragments of ${settings.fragmentBytes} bytes, prune ${settings.prune}` +
      `${settings.avoidKnownBugs ? ' (avoiding known library bugs)' : ''}; ` +
      `rounds ${plans.map((p) => `${p.label} x${p.cycles}`).join(', ')}`,
  );
  if (!corrupt) {
    console.log(
      "dmflakey: random_write_corrupt is not supported by this kernel's dm-flakey (needs Linux 6.6+): no corruption round",
    );
  }
  if (!xfs) {
    console.log(
      'dmflakey: this kernel or host has no XFS (module or mkfs.xfs missing): no XFS round',
    );
  }
  await flakey.mkfs('ext4');
  const run = new PowerCutRun(settings, flakey, journalDevice);
  try {
    for (const [i, plan] of plans.entries()) await run.round(plan, i + 1);
  } finally {
    await run.close();
    await flakey.teardown();
    await journalDevice?.teardown();
  }

  const { totals } = run;
  const t = totals.timings;
  const c = totals.corruption;
  const s = totals.storage;
  console.log(
    `dmflakey: storage events: ${s.claims} epochs claimed, ${s.rolls} rolls, ${s.prunes} prunes deleting ` +
      `${s.deletedFiles / 2} fragments; cuts during a take-over ${s.cutDuring.takeover}, during a roll ` +
      `${s.cutDuring.roll}, during a prune ${s.cutDuring.prune} (aimed at a roll ${s.aimed.roll.hit}/${s.aimed.roll.tried}, ` +
      `at a prune ${s.aimed.prune.hit}/${s.aimed.prune.tried})`,
  );
  if (corrupt) {
    console.log(
      `dmflakey: corruption: ${c.damaged} cuts left damaged journal bytes; ${c.detected} recoveries failed with a typed ` +
        `integrity error, ${c.recovered} recovered a checked prefix` +
        (c.gaps.length > 0 ? `; known gaps tolerated: ${c.gaps.join('; ')}` : ''),
    );
  }
  console.log(
    `dmflakey: timing per cycle (avg): child recording after ${average(t.childReady)}, cut+remount ${average(t.cut)}, ` +
      `check ${average(t.check)}, umount+fsck ${average(t.fsck)}, whole cycle ${average(t.cycle)}; ` +
      `driver total ${seconds(Date.now() - tBegin)}`,
  );
  if (totals.uncleanFsck > 0) {
    console.log(
      `dmflakey: fsck (e2fsck -fn / xfs_repair -n) was not clean after ${totals.uncleanFsck} cuts (a filesystem/tool ` +
        `problem, not a recovery log violation; output in the job folder's fsck-*.txt); the run fails`,
    );
  }
  if (totals.leakedHandles > 0) {
    console.log(
      `dmflakey: the library left ${totals.leakedHandles} file handles open after its journals were closed ` +
        '(a recovery that failed while a read was in flight; see the LEAK lines): reported, not counted as violations',
    );
  }
  if (totals.violations > 0)
    console.log(`dmflakey: evidence kept in ${join(settings.jobDir, 'failures')}`);
  console.log(
    `dmflakey: ${totals.cycles} power cuts, ${totals.ackedOpsChecked} acknowledged ops checked, ${totals.violations} violations`,
  );
  return totals.violations > 0 || totals.uncleanFsck > 0 ? 1 : 0;
}

// Only when run as the program (the unit tests import planRounds).
if (process.argv[1] !== undefined && /powercut\.(m?js|ts)$/.test(process.argv[1])) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error('dmflakey: harness error:', error);
      process.exit(2);
    },
  );
}
