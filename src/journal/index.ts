/** The journal layer: the Journal contract, its implementations and their typed errors. */
export type {
  AppendOptions,
  AppendResult,
  Journal,
  JournalResolver,
  ReadOptions,
  ReadResult,
  Registers,
} from './journal.js';
export * from './errors.js';
export type { BatchInfo, CommitHooks, JournalStats } from './group-commit.js';
export { MemoryJournal, type MemoryJournalOptions, type MemoryJournalSnapshot } from './memory.js';
export { FileJournal, DEFAULT_FRAGMENT_BYTES, type FileJournalOptions } from './file.js';
export type { FragmentInfo, PruneResult } from './prune.js';
export {
  nodeStorage,
  type JournalStorage,
  type StorageBigIntStats,
  type StorageFileHandle,
  type StorageStats,
} from './storage.js';
export {
  JetStreamJournal,
  type JetStreamJournalOptions,
  type JetStreamPruneResult,
} from './jetstream.js';
export { JournalUnavailableError, NatsClientMissingError } from './jetstream-errors.js';
export type { NatsConnectOptions } from './jetstream-client.js';
