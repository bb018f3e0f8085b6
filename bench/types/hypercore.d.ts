/**
 * The slice of hypercore@10 (which ships no types) that the peer benchmark uses.
 */
declare module 'hypercore' {
  interface HypercoreOptions {
    /** Value encoding; the bench stores raw bytes. */
    valueEncoding?: 'binary';
  }
  class Hypercore {
    constructor(storage: string, options?: HypercoreOptions);
    ready(): Promise<void>;
    append(block: Uint8Array | Uint8Array[]): Promise<{ length: number; byteLength: number }>;
    close(): Promise<void>;
    readonly length: number;
    /** Internal core; its flush() writes the oplog into tree/bitfield/header files. */
    readonly core: { flush(): Promise<void> } | null;
  }
  export default Hypercore;
}
