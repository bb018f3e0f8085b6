// The wire layer: shapes, protobuf codecs, fixed framing and the CRC-32C chain. No I/O beyond
// loading the .proto schema once.
export * from './types.js';
export * from './errors.js';
export { crc32c, crc32cUpdate } from './checksum.js';
export { decodeFSMHints, decodeRecordedOp, encodeFSMHints, encodeRecordedOp } from './codec.js';
export {
  DEFAULT_DESYNC_WINDOW,
  encodeFrame,
  FRAME_HEADER_LENGTH,
  FRAME_MAGIC,
  FrameDecoder,
} from './framing.js';
export type { FrameDecoderOptions, FrameEvent, NextOptions } from './framing.js';
