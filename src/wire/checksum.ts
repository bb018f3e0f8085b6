// The recovery log's checksum chain and payload checksums are CRC-32C with Go crc32.Update
// semantics, defined once in ../crc32c.ts (shared with the journal's commit records). This
// re-export only serves the importers not yet pointed there; import ../crc32c.js instead.
export { crc32c, crc32cUpdate } from '../crc32c.js';
