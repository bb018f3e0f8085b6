/**
 * Byte surgery on Gazette's fixed frame (src/wire/framing.ts), one test per way the decoder
 * can meet damaged bytes, in the style of LevelDB's log_test.cc: build valid frames, damage
 * precise bytes, assert the exact event or typed error.
 *
 * The frame is magic (4 bytes) + u32le payload length + payload; it carries no checksum of its
 * own (the RecordedOp inside carries the chained CRC-32C checksum, checked by the Player),
 * and no maximum length (Gazette has none: an oversized length waits for bytes).
 * So the decoder's error paths are exactly: a short header at the end, a bad magic word
 * (garbage), a frame longer than what remains at the end, and a Write payload longer than what
 * remains; plus its usage errors.
 *
 * Already covered in framing.test.ts: truncation at offset 0 inside a header and a payload,
 * one or two trailing newlines or another lone byte, leading and trailing garbage, the 16-byte
 * window scan, a magic word found right after one garbage byte, takeRaw/takeRawUpTo short at
 * the end, and misuse of push/takeRaw/reset/the constructor's offset.
 */
import assert from 'node:assert/strict';
import { UnexpectedEOFError } from '../../src/wire/errors.js';
import {
  encodeFrame,
  encodeFrames,
  FRAME_HEADER_LENGTH,
  FrameDecoder,
  type FrameEvent,
} from '../../src/wire/framing.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Two frames back to back; damage goes into the second, which starts at SECOND. */
const FIRST = encodeFrame(ascii('first frame payload'));
const SECOND_PAYLOAD = ascii('second frame payload, a little longer');
const SECOND = FIRST.length;

function stream(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

/** Decodes a complete stream (end() called) into a transcript, or the error that stopped it. */
function transcript(bytes: Uint8Array): { events: string[]; error?: unknown } {
  const decoder = new FrameDecoder();
  decoder.push(bytes);
  decoder.end();
  const events: string[] = [];
  try {
    for (let event = decoder.next(); ; event = decoder.next()) {
      events.push(summarize(event));
      if (event === undefined || event.type === 'eof') return { events };
    }
  } catch (error) {
    return { events, error };
  }
}

function summarize(event: FrameEvent | undefined): string {
  if (event === undefined) return 'need-more';
  if (event.type === 'frame') return `frame@${event.offset}+${event.payload.length}`;
  if (event.type === 'garbage') return `garbage@${event.offset}+${event.bytes.length}`;
  return `eof@${event.offset}`;
}

function isEOF(offset: number, expected: number, present: number, what: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof UnexpectedEOFError, String(error));
    assert.equal(error.code, 'UnexpectedEOF');
    assert.deepEqual(
      [error.offset, error.expected, error.present],
      [offset, expected, present],
      error.message,
    );
    assert.ok(error.message.includes(what), error.message);
    assert.ok(error.message.includes(`at offset ${offset}`), error.message);
    assert.ok(error.message.includes('truncated or corrupt at this offset'), error.message);
    return true;
  };
}

describe('wire/framing: byte surgery', () => {
  const frame = encodeFrame(SECOND_PAYLOAD);
  const whole = stream(FIRST, frame);

  it('framing: a stream cut at every byte k of a frame is an UnexpectedEOF at the frame, not a frame', () => {
    for (let k = 1; k < frame.length; k++) {
      const { events, error } = transcript(stream(FIRST, frame.subarray(0, k)));
      assert.deepEqual(events, [`frame@0+${FIRST.length - 8}`], `cut at ${k}`);
      const expected = k < FRAME_HEADER_LENGTH ? FRAME_HEADER_LENGTH : frame.length;
      const what = k < FRAME_HEADER_LENGTH ? 'a frame header' : `a frame (size ${frame.length})`;
      assert.ok(isEOF(SECOND, expected, k, what)(error), `cut at ${k}`);
    }
  });

  it('framing: a flipped bit in any magic byte makes the frame garbage, and the next frame is found', () => {
    const third = encodeFrame(ascii('third'));
    for (let bit = 0; bit < 32; bit++) {
      const damaged = stream(FIRST, frame, third);
      damaged[SECOND + (bit >> 3)]! ^= 1 << (bit & 7);
      assert.deepEqual(
        transcript(damaged),
        {
          events: [
            `frame@0+${FIRST.length - 8}`,
            `garbage@${SECOND}+${frame.length}`,
            `frame@${SECOND + frame.length}+5`,
            `eof@${damaged.length}`,
          ],
        },
        `bit ${bit}`,
      );
    }
  });

  it('framing: a flipped magic bit in the last frame leaves garbage and then an UnexpectedEOF of 3 bytes', () => {
    const damaged = Uint8Array.from(whole);
    damaged[SECOND + 2]! ^= 0x10;
    const { events, error } = transcript(damaged);
    // The scan keeps the last 3 bytes (they could begin a magic word), which then end the stream.
    assert.deepEqual(events, [
      `frame@0+${FIRST.length - 8}`,
      `garbage@${SECOND}+${frame.length - 3}`,
    ]);
    assert.ok(isEOF(damaged.length - 3, FRAME_HEADER_LENGTH, 3, 'a frame header')(error));
  });

  it('framing: the maximum length 0xFFFFFFFF waits for bytes while the stream is open', () => {
    const damaged = Uint8Array.from(whole);
    new DataView(damaged.buffer).setUint32(SECOND + 4, 0xffffffff, true);
    const decoder = new FrameDecoder();
    decoder.push(damaged);
    assert.equal(summarize(decoder.next()), `frame@0+${FIRST.length - 8}`);
    assert.equal(decoder.next(), undefined);
    assert.equal(decoder.next({ atHead: true }), undefined);
    assert.equal(decoder.offset, SECOND, 'nothing of the damaged frame is consumed');
  });

  it('framing: the maximum length 0xFFFFFFFF at the end of the stream is an UnexpectedEOF naming the size', () => {
    const damaged = Uint8Array.from(whole);
    new DataView(damaged.buffer).setUint32(SECOND + 4, 0xffffffff, true);
    const { error } = transcript(damaged);
    const size = FRAME_HEADER_LENGTH + 0xffffffff;
    assert.ok(isEOF(SECOND, size, frame.length, `a frame (size ${size})`)(error));
  });

  it('framing: a flipped high bit of the length is an UnexpectedEOF at the frame offset', () => {
    for (let bit = 8; bit < 32; bit++) {
      const damaged = Uint8Array.from(whole);
      const view = new DataView(damaged.buffer);
      view.setUint32(SECOND + 4, view.getUint32(SECOND + 4, true) ^ (1 << bit), true);
      const size = FRAME_HEADER_LENGTH + view.getUint32(SECOND + 4, true);
      assert.ok(isEOF(SECOND, size, frame.length, `size ${size}`)(transcript(damaged).error));
    }
  });

  it('framing: a length one too long at the end of the stream is an UnexpectedEOF', () => {
    const damaged = Uint8Array.from(whole);
    damaged[SECOND + 4]! += 1;
    const { error } = transcript(damaged);
    assert.ok(isEOF(SECOND, frame.length + 1, frame.length, `size ${frame.length + 1}`)(error));
  });

  it('framing: a length one too long mid-stream swallows a byte of the next frame, which becomes garbage', () => {
    // The frame layer cannot tell: the swallowed byte ends the payload, where the op's
    // checksum chain (checked by the Player) catches it.
    const third = encodeFrame(ascii('third'));
    const damaged = stream(FIRST, frame, third, encodeFrame(ascii('fourth')));
    damaged[SECOND + 4]! += 1;
    const thirdAt = SECOND + frame.length;
    assert.deepEqual(transcript(damaged).events, [
      `frame@0+${FIRST.length - 8}`,
      `frame@${SECOND}+${SECOND_PAYLOAD.length + 1}`,
      `garbage@${thirdAt + 1}+${third.length - 1}`,
      `frame@${thirdAt + third.length}+6`,
      `eof@${damaged.length}`,
    ]);
  });

  it('framing: a length one too short leaves the last payload byte as garbage before the next frame', () => {
    const third = encodeFrame(ascii('third'));
    const damaged = stream(FIRST, frame, third);
    damaged[SECOND + 4]! -= 1;
    assert.deepEqual(transcript(damaged).events, [
      `frame@0+${FIRST.length - 8}`,
      `frame@${SECOND}+${SECOND_PAYLOAD.length - 1}`,
      `garbage@${SECOND + frame.length - 1}+1`,
      `frame@${SECOND + frame.length}+5`,
      `eof@${damaged.length}`,
    ]);
  });

  it('framing: a zero length is a valid empty frame, and the payload bytes after it are garbage', () => {
    const damaged = Uint8Array.from(whole);
    new DataView(damaged.buffer).setUint32(SECOND + 4, 0, true);
    const { events, error } = transcript(damaged);
    assert.deepEqual(events, [
      `frame@0+${FIRST.length - 8}`,
      `frame@${SECOND}+0`,
      `garbage@${SECOND + 8}+${SECOND_PAYLOAD.length - 3}`,
    ]);
    assert.ok(isEOF(damaged.length - 3, FRAME_HEADER_LENGTH, 3, 'a frame header')(error));
  });

  it('framing: zero fill after the last frame (a preallocated tail) is garbage, then an UnexpectedEOF', () => {
    const { events, error } = transcript(stream(whole, new Uint8Array(4096)));
    assert.deepEqual(events, [
      `frame@0+${FIRST.length - 8}`,
      `frame@${SECOND}+${SECOND_PAYLOAD.length}`,
      `garbage@${whole.length}+${4096 - 3}`,
    ]);
    assert.ok(isEOF(whole.length + 4096 - 3, FRAME_HEADER_LENGTH, 3, 'a frame header')(error));
  });

  it('framing: a flipped payload bit still decodes as a frame (no frame checksum; the op chain checks it)', () => {
    const damaged = Uint8Array.from(whole);
    damaged[SECOND + FRAME_HEADER_LENGTH + 3]! ^= 0x01;
    const { events } = transcript(damaged);
    assert.deepEqual(events, [
      `frame@0+${FIRST.length - 8}`,
      `frame@${SECOND}+${SECOND_PAYLOAD.length}`,
      `eof@${damaged.length}`,
    ]);
  });

  it('framing: a Write payload cut short after its frame is an UnexpectedEOF naming the payload', () => {
    const decoder = new FrameDecoder(1000);
    decoder.push(stream(frame, ascii('abc')));
    decoder.end();
    decoder.next();
    assert.throws(
      () => decoder.takeRaw(10),
      isEOF(1000 + frame.length, 10, 3, 'a Write payload of 10 bytes'),
    );
    assert.equal(decoder.offset, 1000 + frame.length, 'nothing consumed');
  });

  it('framing: a Write length that is not a byte count is refused before any byte is read', () => {
    const decoder = new FrameDecoder();
    decoder.push(ascii('abc'));
    for (const n of [-1, 2 ** 53, Number.NaN]) {
      assert.throws(
        () => decoder.takeRaw(n),
        (error: unknown) =>
          error instanceof Error &&
          (error as { code?: string }).code === 'InvalidArgument' &&
          (error as { reason?: string }).reason === 'FrameDecoderUsage' &&
          error.message.includes('must be rejected before reading its payload'),
      );
      assert.throws(() => decoder.takeRawUpTo(n), { reason: 'FrameDecoderUsage' });
    }
    assert.equal(decoder.buffered(), 3);
  });

  it('framing: a desync window that is not an integer is a usage error; below 16 it is raised to 16', () => {
    assert.throws(() => new FrameDecoder(0, { windowSize: 1.5 }), {
      code: 'InvalidArgument',
      reason: 'FrameDecoderUsage',
      message: /windowSize must be an integer, got 1\.5/,
    });
    const tiny = new FrameDecoder(0, { windowSize: 1 });
    tiny.push(new Uint8Array(15));
    assert.equal(tiny.next(), undefined, 'a 15-byte window is not full yet');
    tiny.push(new Uint8Array(1));
    assert.equal(summarize(tiny.next()), 'garbage@0+13');
  });
  it('framing: a payload too long for the u32 length field is refused before anything is allocated', () => {
    // A stand-in with only a length: the check must come before the 4 GiB allocation.
    const huge = { length: 2 ** 32 } as Uint8Array;
    const refused = {
      code: 'InvalidArgument',
      reason: 'FrameDecoderUsage',
      message: /cannot frame a payload of 4294967296 bytes: the length field is a uint32/,
    };
    assert.throws(() => encodeFrame(huge), refused);
    assert.throws(() => encodeFrames([ascii('ok'), huge]), refused);
  });
});
