import assert from 'node:assert/strict';
import { UnexpectedEOFError } from '../../src/wire/errors.js';
import {
  encodeFrame,
  FRAME_HEADER_LENGTH,
  FRAME_MAGIC,
  FrameDecoder,
  type FrameEvent,
} from '../../src/wire/framing.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

/** Gazette's fixture: a 28-byte frame of "test message content". */
const TEST_FRAME = encodeFrame(ascii('test message content'));

/** A comparable summary of an event. */
function describeEvent(event: FrameEvent | undefined): string {
  if (event === undefined) return 'need-more';
  switch (event.type) {
    case 'frame':
      return `frame@${event.offset}:${text(event.payload)}`;
    case 'garbage':
      return `garbage@${event.offset}:${event.bytes.length}`;
    case 'eof':
      return `eof@${event.offset}`;
  }
}

/** Pushes `chunks`, ends the stream, and collects events until eof or an error. */
function decodeAll(
  chunks: Uint8Array[],
  options?: { windowSize?: number; startOffset?: number },
): { events: string[]; error?: UnexpectedEOFError } {
  const decoder = new FrameDecoder(options?.startOffset ?? 0, options);
  const events: string[] = [];
  const drain = (): boolean => {
    for (;;) {
      const event = decoder.next();
      if (event === undefined) return false;
      events.push(describeEvent(event));
      if (event.type === 'eof') return true;
    }
  };
  try {
    for (const chunk of chunks) {
      decoder.push(chunk);
      drain();
    }
    decoder.end();
    drain();
    return { events };
  } catch (err) {
    if (err instanceof UnexpectedEOFError) return { events, error: err };
    throw err;
  }
}

function expectEOFError(
  decoder: FrameDecoder,
  offset: number,
  expected: number,
  present: number,
): void {
  assert.throws(
    () => decoder.next(),
    (err: unknown) =>
      err instanceof UnexpectedEOFError &&
      err.code === 'UnexpectedEOF' &&
      err.offset === offset &&
      err.expected === expected &&
      err.present === present &&
      err.message.includes(`offset ${offset}`) &&
      err.message.includes(`${expected} bytes`),
  );
}

describe('wire/framing: encodeFrame', () => {
  it('prefixes the magic word and a little-endian length (Gazette fixtures)', () => {
    assert.deepEqual(
      [...encodeFrame(ascii('foo'))],
      [0x66, 0x33, 0x93, 0x36, 0x03, 0, 0, 0, ...ascii('foo')],
    );
    assert.deepEqual(
      [...TEST_FRAME.subarray(0, FRAME_HEADER_LENGTH)],
      [...FRAME_MAGIC, 0x14, 0, 0, 0],
    );
    assert.equal(TEST_FRAME.length, 28);
    const big = encodeFrame(new Uint8Array(0x01_02_03));
    assert.deepEqual([...big.subarray(4, 8)], [0x03, 0x02, 0x01, 0x00]);
    assert.deepEqual([...encodeFrame(new Uint8Array(0))], [...FRAME_MAGIC, 0, 0, 0, 0]);
  });
});

describe('wire/framing: FrameDecoder (Gazette fixed_framing_test cases)', () => {
  it('returns the precise frame and leaves following bytes unconsumed', () => {
    const decoder = new FrameDecoder();
    decoder.push(concat(TEST_FRAME, ascii('extra')));
    const event = decoder.next();
    assert.ok(event?.type === 'frame');
    assert.equal(event.offset, 0);
    assert.deepEqual(event.frame, TEST_FRAME);
    assert.equal(text(event.payload), 'test message content');
    assert.equal(decoder.offset, 28);
    assert.equal(decoder.buffered(), 5);
    assert.equal(text(decoder.takeRaw(5) ?? new Uint8Array(0)), 'extra');
    assert.equal(decoder.offset, 33);
  });

  it('treats a single trailing newline as a clean EOF and leaves it unconsumed', () => {
    const decoder = new FrameDecoder();
    decoder.push(concat(TEST_FRAME, ascii('\n')));
    decoder.end();
    assert.equal(describeEvent(decoder.next()), 'frame@0:test message content');
    assert.equal(describeEvent(decoder.next()), 'eof@28');
    assert.equal(decoder.buffered(), 1);
    assert.equal(describeEvent(decoder.next()), 'eof@28');
  });

  it('but not two newlines, nor one other byte', () => {
    for (const tail of ['\n\n', 'x']) {
      const decoder = new FrameDecoder();
      decoder.push(concat(TEST_FRAME, ascii(tail)));
      decoder.end();
      decoder.next();
      expectEOFError(decoder, 28, 8, tail.length);
    }
  });

  it('detects a desync and returns the leading garbage, then the frame', () => {
    const { events, error } = decodeAll([concat(ascii('foobar'), TEST_FRAME)]);
    assert.equal(error, undefined);
    assert.deepEqual(events, ['garbage@0:6', 'frame@6:test message content', 'eof@34']);
  });

  it('handles incomplete input like UnpackFixedFrame', () => {
    const fixture = concat(ascii('foo'), TEST_FRAME);
    const decoderOf = (bytes: Uint8Array): FrameDecoder => {
      const decoder = new FrameDecoder();
      decoder.push(bytes);
      decoder.end();
      return decoder;
    };
    // EOF at the first byte: clean.
    assert.equal(describeEvent(decoderOf(fixture.subarray(3, 3)).next()), 'eof@0');
    // EOF partway through a header.
    expectEOFError(decoderOf(fixture.subarray(3, 10)), 0, 8, 7);
    // EOF partway through a desynchronised header: still a short header, not garbage.
    expectEOFError(decoderOf(fixture.subarray(0, 7)), 0, 8, 7);
    // EOF just after a complete header, and partway through the payload.
    expectEOFError(decoderOf(fixture.subarray(3, 11)), 0, 28, 8);
    expectEOFError(decoderOf(fixture.subarray(3, 22)), 0, 28, 19);
    // The whole frame.
    assert.equal(
      describeEvent(decoderOf(fixture.subarray(3)).next()),
      'frame@0:test message content',
    );
  });

  it('scans only a window for the magic word (16-byte buffer, 21 garbage bytes)', () => {
    const fixture = concat(ascii('x'.repeat(21)), TEST_FRAME);
    const decoder = new FrameDecoder(0, { windowSize: 16 });
    decoder.push(fixture);
    decoder.end();
    const first = decoder.next();
    assert.ok(first?.type === 'garbage');
    assert.deepEqual(first.bytes, fixture.subarray(0, 13));
    const second = decoder.next();
    assert.ok(second?.type === 'garbage');
    assert.equal(second.offset, 13);
    assert.deepEqual(second.bytes, fixture.subarray(13, 21));
    const third = decoder.next();
    assert.ok(third?.type === 'frame');
    assert.deepEqual(third.frame, fixture.subarray(21));
    assert.equal(describeEvent(decoder.next()), 'eof@49');
  });
});

describe('wire/framing: FrameDecoder streaming behaviour', () => {
  it('asks for more bytes until a header, then a frame, is complete', () => {
    const decoder = new FrameDecoder(100);
    assert.equal(decoder.next(), undefined);
    decoder.push(TEST_FRAME.subarray(0, 5));
    assert.equal(decoder.next(), undefined);
    decoder.push(TEST_FRAME.subarray(5, 20));
    assert.equal(decoder.next(), undefined);
    assert.equal(decoder.offset, 100);
    assert.equal(decoder.buffered(), 20);
    decoder.push(TEST_FRAME.subarray(20));
    const event = decoder.next();
    assert.ok(event?.type === 'frame');
    assert.equal(event.offset, 100);
    assert.deepEqual(event.frame, TEST_FRAME);
    assert.equal(decoder.offset, 128);
    assert.equal(decoder.next(), undefined);
    decoder.end();
    assert.equal(describeEvent(decoder.next()), 'eof@128');
  });

  it('waits for a full window before a desync scan, unless ended or at the head', () => {
    const garbage = ascii('this is not a frame header at all');
    const decoder = new FrameDecoder(0, { windowSize: 64 });
    decoder.push(garbage);
    assert.equal(decoder.next(), undefined);
    const atHead = decoder.next({ atHead: true });
    assert.ok(atHead?.type === 'garbage');
    assert.equal(atHead.bytes.length, garbage.length - 3);
    assert.equal(decoder.buffered(), 3);

    const full = new FrameDecoder(0, { windowSize: 16 });
    full.push(garbage.subarray(0, 15));
    assert.equal(full.next(), undefined);
    full.push(garbage.subarray(15, 16));
    assert.equal(describeEvent(full.next()), 'garbage@0:13');
  });

  it('keeps three bytes that may begin a magic word split across the window edge', () => {
    // Garbage whose window ends with the first 3 magic bytes.
    const stream = concat(ascii('x'.repeat(13)), TEST_FRAME);
    const { events, error } = decodeAll([stream], { windowSize: 16 });
    assert.equal(error, undefined);
    assert.deepEqual(events, ['garbage@0:13', 'frame@13:test message content', 'eof@41']);
  });

  it('reports trailing garbage as garbage and then an unexpected EOF (as Gazette does)', () => {
    const { events, error } = decodeAll([ascii('0123456789abcdef')]);
    assert.deepEqual(events, ['garbage@0:13']);
    assert.ok(error);
    assert.equal(error.offset, 13);
    assert.equal(error.present, 3);
  });

  it('finds a frame whose magic starts right after a garbage byte', () => {
    const { events } = decodeAll([concat(Uint8Array.of(0x66), TEST_FRAME, TEST_FRAME)]);
    assert.deepEqual(events, [
      'garbage@0:1',
      'frame@1:test message content',
      'frame@29:test message content',
      'eof@57',
    ]);
  });

  it('produces the same events for every way of splitting the stream in two or three', () => {
    const stream = concat(
      TEST_FRAME,
      ascii('garbage bytes here!'),
      encodeFrame(ascii('second')),
      encodeFrame(new Uint8Array(0)),
      ascii('\n'),
    );
    const reference = decodeAll([stream], { windowSize: 16 });
    assert.deepEqual(reference.events, [
      'frame@0:test message content',
      'garbage@28:13',
      'garbage@41:6',
      'frame@47:second',
      'frame@61:',
      'eof@69',
    ]);
    for (let i = 0; i <= stream.length; i++) {
      for (let j = i; j <= stream.length; j += 3) {
        const split = [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)];
        assert.deepEqual(decodeAll(split, { windowSize: 16 }), reference, `split ${i}/${j}`);
      }
    }
    const bytewise = [...stream].map((b) => Uint8Array.of(b));
    assert.deepEqual(decodeAll(bytewise, { windowSize: 16 }), reference);
  });

  it('reads a Write payload with takeRaw, across chunks', () => {
    const decoder = new FrameDecoder();
    decoder.push(concat(TEST_FRAME, ascii('he')));
    assert.equal(decoder.next()?.type, 'frame');
    assert.equal(decoder.takeRaw(5), undefined);
    assert.equal(decoder.offset, 28);
    decoder.push(ascii('llo'));
    assert.equal(text(decoder.takeRaw(5) ?? new Uint8Array(0)), 'hello');
    assert.equal(decoder.offset, 33);
    assert.equal(decoder.takeRaw(0)?.length, 0);
    decoder.push(ascii('ab'));
    decoder.end();
    assert.throws(
      () => decoder.takeRaw(4),
      (err: unknown) =>
        err instanceof UnexpectedEOFError &&
        err.offset === 33 &&
        err.expected === 4 &&
        err.present === 2,
    );
    assert.equal(decoder.buffered(), 2);
  });

  it('streams a large payload piecewise with takeRawUpTo', () => {
    const decoder = new FrameDecoder();
    assert.equal(decoder.takeRawUpTo(10), undefined);
    decoder.push(ascii('abc'));
    decoder.push(ascii('defgh'));
    assert.equal(text(decoder.takeRawUpTo(10) ?? new Uint8Array(0)), 'abc');
    assert.equal(text(decoder.takeRawUpTo(2) ?? new Uint8Array(0)), 'de');
    assert.equal(decoder.offset, 5);
    decoder.end();
    assert.equal(text(decoder.takeRawUpTo(10) ?? new Uint8Array(0)), 'fgh');
    assert.throws(() => decoder.takeRawUpTo(1), UnexpectedEOFError);
  });

  it('drops buffered bytes and restarts the stream on reset', () => {
    const decoder = new FrameDecoder();
    decoder.push(concat(ascii('junk'), TEST_FRAME));
    decoder.end();
    decoder.reset(4096);
    assert.equal(decoder.offset, 4096);
    assert.equal(decoder.buffered(), 0);
    assert.equal(decoder.next(), undefined);
    decoder.push(TEST_FRAME);
    const event = decoder.next();
    assert.ok(event?.type === 'frame');
    assert.equal(event.offset, 4096);
  });

  it('rejects misuse with InvalidArgumentError (FrameDecoderUsage)', () => {
    const misuse = { code: 'InvalidArgument', reason: 'FrameDecoderUsage' };
    const decoder = new FrameDecoder();
    decoder.end();
    assert.throws(() => decoder.push(ascii('x')), misuse);
    assert.throws(() => decoder.takeRaw(-1), misuse);
    assert.throws(() => decoder.takeRaw(1.5), misuse);
    assert.throws(() => decoder.reset(-1), misuse);
    assert.throws(() => new FrameDecoder(0.5), misuse);
  });

  it('does not change frames already returned when more bytes are pushed', () => {
    const decoder = new FrameDecoder();
    decoder.push(TEST_FRAME.subarray(0, 10));
    decoder.push(TEST_FRAME.subarray(10));
    const event = decoder.next();
    assert.ok(event?.type === 'frame');
    const copy = Uint8Array.from(event.frame);
    decoder.push(encodeFrame(ascii('other')));
    decoder.next();
    assert.deepEqual(event.frame, copy);
  });
});
