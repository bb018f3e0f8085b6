/*
 * A hand-written protobuf codec for exactly the RecordedOp schema of proto/recorded_op.proto.
 *
 * Playback decodes one RecordedOp per frame, so this is the hottest parsing path of the library.
 * A generic reflection-based codec costs a JIT warm-up in every fresh process and needed a second
 * structural pass to reject known fields with the wrong wire type; this codec does everything in
 * one pass over the bytes, `switch` statements on the key.
 *
 * Encoding matches Gazette's Go (gogo) encoder byte for byte: ascending tags, zero scalars and
 * empty strings omitted, present sub-messages always emitted (an empty one as `key 00`).
 *
 * Decoding follows Gazette's Unmarshal: fields in any order, last scalar wins, a repeated
 * sub-message merges into the earlier one, unknown fields of every wire type are skipped (groups
 * up to their matching end tag). It is stricter in the same places our previous protobufjs-based
 * decoder was: a known field with the wrong wire type, truncation, field number 0, invalid wire
 * types, over-long tag/length varints (ProtoDecodeError) and int64 values beyond the safe-integer
 * range (Int64RangeError, judged on each field's final value), and invalid UTF-8 unless asked
 * for byte strings (Gazette's Go writes and plays any bytes; byte-string.ts).
 */

// The codec's parts: the schema, once (op-schema.ts: tags, wire types, and the keys and
// known-field tables derived from them), the encoder (op-encode.ts), the reader of protobuf
// primitives (op-reader.ts) and the RecordedOp decoder (op-decode.ts).
export { encodeRecordedOp } from './op-encode.js';
export { decodeRecordedOp } from './op-decode.js';
