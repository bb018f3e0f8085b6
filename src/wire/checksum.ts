// The recovery log's checksum chain and payload checksums are CRC-32C with Go crc32.Update
// semantics; the implementation is shared with the journal's commit records.
export { crc32c, crc32cUpdate } from '../crc32c.js';
