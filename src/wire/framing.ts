import { frameDecoderMisuse, UnexpectedEOFError } from './errors.js';

/** The 4-byte word that starts every frame (Gazette's FixedFrameWord). */
export const FRAME_MAGIC: Uint8Array = Uint8Array.of(0x66, 0x33, 0x93, 0x36);

/** Magic word plus little-endian uint32 payload length. */
export const FRAME_HEADER_LENGTH = 8;

/** Gazette's Player reads through a 32 KiB bufio buffer; a desync scan covers at most that. */
export const DEFAULT_DESYNC_WINDOW = 32 * 1024;

/** bufio.NewReaderSize silently raises smaller sizes to 16; we do the same. */
const MIN_DESYNC_WINDOW = 16;

const NEWLINE = 0x0a;

/** Frames a protobuf payload: magic, u32le payload length, payload. */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  if (payload.length > 0xffffffff) {
    throw frameDecoderMisuse(
      `cannot frame a payload of ${payload.length} bytes: the length field is a uint32`,
    );
  }
  const frame = new Uint8Array(FRAME_HEADER_LENGTH + payload.length);
  frame.set(FRAME_MAGIC, 0);
  new DataView(frame.buffer).setUint32(4, payload.length, true);
  frame.set(payload, FRAME_HEADER_LENGTH);
  return frame;
}

/**
 * Frames each payload and packs the frames into one buffer, each followed by its raw bytes
 * `after[i]` if any (a Write's data travels unframed right after its op's frame).
 */
export function encodeFrames(
  payloads: readonly Uint8Array[],
  after?: readonly (Uint8Array | undefined)[],
): Uint8Array {
  let total = 0;
  for (let i = 0; i < payloads.length; i++) {
    total += frameLength(payloads[i]!, after?.[i]);
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < payloads.length; i++) at = writeFrame(out, at, payloads[i]!, after?.[i]);
  return out;
}

/** Bytes the frame of `payload` takes, followed by `after` (refuses what a uint32 cannot say). */
export function frameLength(payload: Uint8Array, after?: Uint8Array): number {
  const length = payload.length;
  if (length > 0xffffffff) {
    throw frameDecoderMisuse(
      `cannot frame a payload of ${length} bytes: the length field is a uint32`,
    );
  }
  return FRAME_HEADER_LENGTH + length + (after?.length ?? 0);
}

/**
 * Writes the frame of `payload`, then `after` if any, into `out` at `at` (frameLength bytes, all
 * written: `out` may come from Buffer.allocUnsafe); returns where it ends. The Recorder's hot
 * path packs the frames of many record calls into one buffer this way: an allocation per op
 * and per frame was what made garbage collection dominate.
 */
export function writeFrame(
  out: Uint8Array,
  at: number,
  payload: Uint8Array,
  after?: Uint8Array,
): number {
  // Byte stores: for a frame of a few dozen bytes, set() and writeUInt32LE cost more than this.
  const length = payload.length;
  out[at] = 0x66;
  out[at + 1] = 0x33;
  out[at + 2] = 0x93;
  out[at + 3] = 0x36;
  out[at + 4] = length & 0xff;
  out[at + 5] = (length >>> 8) & 0xff;
  out[at + 6] = (length >>> 16) & 0xff;
  out[at + 7] = length >>> 24;
  out.set(payload, at + FRAME_HEADER_LENGTH);
  let end = at + FRAME_HEADER_LENGTH + length;
  if (after !== undefined) {
    out.set(after, end);
    end += after.length;
  }
  return end;
}

export type FrameEvent =
  /** A whole frame starting at `offset`; `frame` includes the header, `payload` does not. */
  | { type: 'frame'; offset: number; frame: Uint8Array; payload: Uint8Array }
  /** Bytes skipped while re-synchronising on the magic word (Gazette's ErrDesyncDetected). */
  | { type: 'garbage'; offset: number; bytes: Uint8Array }
  /** Clean end of stream at a frame boundary. */
  | { type: 'eof'; offset: number };

export interface FrameDecoderOptions {
  /** Bytes scanned for the magic word on a desync (Gazette's reader buffer size). */
  windowSize?: number;
}

export interface NextOptions {
  /**
   * The caller knows no more bytes are available for now (it reads at the journal's write
   * head) but the stream may still grow. A desync scan then covers what is buffered instead of
   * waiting for a full window, as Gazette's reader does with whatever its buffer holds. Without
   * it, results never depend on how the stream was chunked.
   */
  atHead?: boolean;
}

/**
 * Push-style decoder of Gazette's fixed framing. Feed bytes with push(), signal the end with
 * end(), and pull events with next(); `undefined` means more bytes are needed.
 *
 * Chunks passed to push() are kept by reference and returned frames may be views of them: do
 * not modify a chunk after pushing it.
 *
 * Semantics follow Gazette's UnpackFixedFrame on a buffered reader whose buffer is
 * `windowSize` bytes and is full when a desync is detected (as it is for a freshly filled
 * reader): on a header without the magic word, the window is scanned from index 1 up to (not
 * including) `window.length - 3`; bytes up to the match, or all but the last 3 when there is
 * none, are returned as garbage.
 */
export class FrameDecoder {
  private readonly windowSize: number;
  private chunks: Uint8Array[] = [];
  /** Read position within chunks[0]. */
  private head = 0;
  private bufferedBytes = 0;
  private streamOffset: number;
  private ended = false;

  constructor(startOffset = 0, options?: FrameDecoderOptions) {
    checkOffset(startOffset);
    this.streamOffset = startOffset;
    const requested = options?.windowSize ?? DEFAULT_DESYNC_WINDOW;
    if (!Number.isSafeInteger(requested)) {
      throw frameDecoderMisuse(`windowSize must be an integer, got ${requested}`);
    }
    this.windowSize = Math.max(MIN_DESYNC_WINDOW, requested);
  }

  /** Stream offset of the next unconsumed byte. */
  get offset(): number {
    return this.streamOffset;
  }

  /** Bytes pushed but not yet consumed. */
  buffered(): number {
    return this.bufferedBytes;
  }

  /** Appends bytes to the stream. */
  push(chunk: Uint8Array): void {
    if (this.ended) {
      throw frameDecoderMisuse('push() after end(): reset() the decoder to read again');
    }
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
  }

  /** No more bytes will come: incomplete frames now become errors instead of "need more". */
  end(): void {
    this.ended = true;
  }

  /** Drops everything buffered and restarts at `offset` (after a seek); clears end(). */
  reset(offset: number): void {
    checkOffset(offset);
    this.chunks = [];
    this.head = 0;
    this.bufferedBytes = 0;
    this.streamOffset = offset;
    this.ended = false;
  }

  /**
   * The next event, or undefined when more bytes are needed (only before end()). After end(), a
   * partial header or frame throws UnexpectedEOFError; a lone trailing "\n" is a clean EOF (and
   * stays unconsumed), as in Gazette.
   */
  next(options?: NextOptions): FrameEvent | undefined {
    const offset = this.streamOffset;
    const available = this.bufferedBytes;
    if (available < FRAME_HEADER_LENGTH) {
      if (!this.ended) return undefined;
      if (available === 0 || (available === 1 && this.peek(1)[0] === NEWLINE)) {
        return { type: 'eof', offset };
      }
      throw new UnexpectedEOFError('a frame header', offset, FRAME_HEADER_LENGTH, available);
    }
    const header = this.peek(FRAME_HEADER_LENGTH);
    if (!hasMagicAt(header, 0)) {
      if (available < this.windowSize && !this.ended && options?.atHead !== true) {
        return undefined;
      }
      const window = this.peek(Math.min(this.windowSize, available));
      const bytes = this.take(desyncSkipLength(window));
      return { type: 'garbage', offset, bytes };
    }
    const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
    const size = FRAME_HEADER_LENGTH + view.getUint32(4, true);
    if (available < size) {
      if (!this.ended) return undefined;
      throw new UnexpectedEOFError(`a frame (size ${size})`, offset, size, available);
    }
    const frame = this.take(size);
    return { type: 'frame', offset, frame, payload: frame.subarray(FRAME_HEADER_LENGTH) };
  }

  /**
   * Consumes exactly `n` raw bytes (a Write's payload, which follows its frame unframed).
   * Undefined when not yet buffered; after end(), too few bytes throw UnexpectedEOFError.
   */
  takeRaw(n: number): Uint8Array | undefined {
    checkLength(n);
    if (this.bufferedBytes < n) {
      if (!this.ended) return undefined;
      throw new UnexpectedEOFError(
        `a Write payload of ${n} bytes`,
        this.streamOffset,
        n,
        this.bufferedBytes,
      );
    }
    return this.take(n);
  }

  /**
   * Consumes between 1 and `max` raw bytes, whatever is buffered, so a large Write payload can be
   * copied piecewise without holding it whole. Undefined when nothing is buffered yet; after end()
   * with nothing left (and max > 0), throws UnexpectedEOFError. `max` = 0 returns an empty array.
   */
  takeRawUpTo(max: number): Uint8Array | undefined {
    checkLength(max);
    if (max === 0) return new Uint8Array(0);
    if (this.bufferedBytes === 0) {
      if (!this.ended) return undefined;
      throw new UnexpectedEOFError('a Write payload', this.streamOffset, max, 0);
    }
    const first = this.chunks[0].length - this.head;
    return this.take(Math.min(max, first));
  }

  /** The first n buffered bytes (n <= bufferedBytes), without consuming them. */
  private peek(n: number): Uint8Array {
    const first = this.chunks[0];
    if (first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    // Spans chunks: copy into one contiguous array.
    const out = new Uint8Array(n);
    let filled = 0;
    let index = 0;
    let from = this.head;
    while (filled < n) {
      const chunk = this.chunks[index];
      const part = chunk.subarray(from, Math.min(chunk.length, from + (n - filled)));
      out.set(part, filled);
      filled += part.length;
      index += 1;
      from = 0;
    }
    return out;
  }

  /** Consumes and returns the first n buffered bytes (n <= bufferedBytes). */
  private take(n: number): Uint8Array {
    const bytes = n === 0 ? new Uint8Array(0) : this.peek(n);
    let remaining = n;
    while (remaining > 0) {
      const left = this.chunks[0].length - this.head;
      if (left > remaining) {
        this.head += remaining;
        remaining = 0;
      } else {
        remaining -= left;
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.bufferedBytes -= n;
    this.streamOffset += n;
    return bytes;
  }
}

function hasMagicAt(bytes: Uint8Array, at: number): boolean {
  return (
    bytes[at] === FRAME_MAGIC[0] &&
    bytes[at + 1] === FRAME_MAGIC[1] &&
    bytes[at + 2] === FRAME_MAGIC[2] &&
    bytes[at + 3] === FRAME_MAGIC[3]
  );
}

/**
 * How many leading bytes of a desynchronised window to skip: up to the first magic word found at
 * index >= 1, else all but the last 3 bytes (which could begin a magic word).
 */
function desyncSkipLength(window: Uint8Array): number {
  const stop = window.length - (FRAME_MAGIC.length - 1);
  let i = 1;
  while (i < stop && !hasMagicAt(window, i)) i += 1;
  return i;
}

function checkOffset(offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw frameDecoderMisuse(`stream offset must be a non-negative integer, got ${offset}`);
  }
}

function checkLength(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw frameDecoderMisuse(
      `raw byte count must be a non-negative integer, got ${n}; a Write op with such a length ` +
        `is corrupt and must be rejected before reading its payload`,
    );
  }
}
