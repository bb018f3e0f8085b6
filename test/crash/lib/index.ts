/** The shared crash-testing library (see README.md in this directory). */
export * from './tree-model.js';
export * from './ledger.js';
export * from './invariants.js';
export * from './record-op.js';
export * from './ledger-journal.js';
export * from './recover.js';
export * from './disk-model.js';
export * from './faulty-fs.js';
export * from './crash-modes.js';
export * from './crashable-target.js';
export * from './corpus.js';
export * from './stats.js';
export * from './world.js';
export * from './explore.js';
