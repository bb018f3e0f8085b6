/**
 * recoverylog: record every file-system mutation of a directory into an append-only journal,
 * and rebuild the directory anywhere from it (Gazette recoverylog compatible).
 *
 * Recording:  Recorder.open({ journal, fsm, author, dir }) and new RecordedFs(recorder, fs).
 * Recovering: new Player().play({ hints, dir, journals }), from hints kept in a HintsStore.
 */

// Errors: every error thrown on purpose extends RecoveryLogError and has a stable `code` (the
// class name minus `Error`; README.md's "Errors" table lists them all).
export {
  AbortedError,
  INVALID_ARGUMENT_REASONS,
  InvalidArgumentError,
  RecoveryLogError,
  type InvalidArgumentReason,
} from './errors.js';

// Wire format: shapes, codecs, framing, checksums.
export type {
  Author,
  ChmodOp,
  CreateOp,
  DirectoryOp,
  Fnode,
  FnodeSegments,
  FSMHints,
  LinkOp,
  OpKind,
  Property,
  RecordedOp,
  Segment,
  TruncateOp,
  WriteOp,
} from './wire/types.js';
export { opKind } from './wire/types.js';
// Names and properties that are not UTF-8, as Gazette logs may hold them (byte strings).
export {
  decodeByteString,
  displayByteString,
  encodeByteString,
  hasEscapedBytes,
  toFsPath,
} from './wire/byte-string.js';
export {
  decodeFSMHints,
  decodeRecordedOp,
  encodeFSMHints,
  encodeRecordedOp,
} from './wire/codec.js';
export {
  DEFAULT_DESYNC_WINDOW,
  encodeFrame,
  FRAME_HEADER_LENGTH,
  FRAME_MAGIC,
  FrameDecoder,
  type FrameDecoderOptions,
  type FrameEvent,
  type NextOptions,
} from './wire/framing.js';
export { crc32c, crc32cUpdate } from './crc32c.js';
export { Int64RangeError, ProtoDecodeError, UnexpectedEOFError } from './wire/errors.js';

// FSM, segments and hints.
export {
  authorFence,
  ErrChecksumMismatch,
  ErrExpectedHintedFnode,
  ErrFnodeNotTracked,
  ErrLinkExists,
  ErrNoSuchLink,
  ErrNotHintedAuthor,
  ErrPropertyExists,
  ErrWrongSeqNo,
  FSM,
  FSM_ERROR_TEXT,
  FSMError,
  checkAuthor,
  newRandomAuthor,
  type FnodeState,
  type FSMErrorCode,
} from './fsm.js';
export {
  describeSegment,
  SegmentConsistencyError,
  SegmentSet,
  SegmentValidationError,
  validateSegment,
} from './segment.js';
export {
  decodeHints,
  encodeHints,
  hintsFromJSON,
  hintsToJSON,
  HintsDecodeError,
  HintsValidationError,
  liveLogSegments,
  validateHints,
  type HintsFormat,
} from './hints.js';
export {
  HintsStore,
  HintsWriteError,
  StoredHintsError,
  type HintsStoreOptions,
  type StoredHints,
} from './hints-store.js';

// Journals.
export type {
  AppendOptions,
  AppendResult,
  Journal,
  JournalResolver,
  ReadOptions,
  ReadResult,
  Registers,
} from './journal/journal.js';
export {
  FileJournal,
  InvalidJournalNameError,
  JournalAppendAbortedError,
  JournalClosedError,
  JournalContendedError,
  JournalCorruptError,
  JournalExistsError,
  JournalFailedError,
  JournalLockedError,
  JournalNotFoundError,
  JournalReadAbortedError,
  JournalIOError,
  JournalWriteError,
  JournalReadOnlyError,
  JournalRangeMissingError,
  MemoryJournal,
  OffsetNotYetAvailableError,
  PruneRefusedError,
  RegisterMismatchError,
  DEFAULT_FRAGMENT_BYTES,
  type FileJournalOptions,
  type FragmentInfo,
  type PruneResult,
  type MemoryJournalOptions,
  type MemoryJournalSnapshot,
} from './journal/index.js';
// Journals on NATS JetStream and hints in its KV store (the NATS client packages are optional
// peer dependencies, loaded only when one is opened).
export {
  JetStreamJournal,
  JournalUnavailableError,
  NatsClientMissingError,
  type JetStreamJournalOptions,
  type JetStreamPruneResult,
  type NatsConnectOptions,
} from './journal/index.js';
export {
  HintsRegressionError,
  KvHintsStore,
  type HintsPosition,
  type KvHintsStoreOptions,
} from './kv-hints-store.js';
export { journalNameProblem } from './journal-name.js';

// Recording.
export {
  DEFAULT_PROPERTY_PATHS,
  Recorder,
  type OpenFileFlags,
  type RecordWriteOptions,
  type RecorderOptions,
  type WaitOptions,
} from './recorder.js';
export {
  FsmJournalMismatchError,
  FsmRejectedOpError,
  NotSupportedError,
  PathExistsError,
  PropertyNotUtf8Error,
  RecorderAbortedError,
  UnfinishedPlaybackError,
  UnknownFnodeError,
  UnknownPathError,
  UntrackedFileError,
  WriteHeadRegressionError,
} from './recorder-errors.js';
export {
  DEFAULT_RERECORD_FILES_PER_RUN,
  pinningFiles,
  type PinningFile,
  type RerecordPolicy,
  type RerecordResult,
} from './rerecord.js';
export {
  RecordedFileHandle,
  RecordedFs,
  type RecordedFsOptions,
  type AccessMode,
  type BaseFileHandle,
  type BaseFs,
  type BaseStats,
  type CpOptions,
  type FileData,
  type OpenFlags,
  type RecordedNodeFs,
  type WriteFileOptions,
} from './recorded-fs.js';

// Recovering.
export {
  CorruptLogError,
  CorruptPayloadError,
  LocalFsError,
  nodeTargetFs,
  PlaybackAbortedError,
  Player,
  PlayerInvariantError,
  PossibleDataLossError,
  STAGING_DIR,
  UnsafePathError,
  type CorruptionKind,
  type PlayArgs,
  type PlaybackWarning,
  type PlayerOptions,
  type PlayResult,
  type PlayStats,
  type SkipReason,
  type TargetFileHandle,
  type TargetFs,
} from './player.js';
