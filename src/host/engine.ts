// Loads the Wasm engine (compiled once per process) and gives it a typed face.
// One Engine instance converts one tar stream; see assembly/README.md for the contract.

import { readFileSync } from 'node:fs';
import { LcowError, engineErrorCode } from './errors.js';

export const Action = {
  NextHeader: 0,
  Read: 1,
  Copy: 2,
  End: 3,
  Error: 4,
  More: 5,
  Done: 6,
} as const;

export const ConvertOption = {
  Overlay: 1,
  ConvertBackslash: 2,
  InlineData: 4,
  /** Profile fixed: hcsshim's layout with its data defects corrected (README, "The fixed profile"). */
  Fixed: 8,
} as const;

interface EngineExports {
  begin(options: number, maxDiskSize: number): void;
  headerBuffer(): number;
  uniqueIdBuffer(): number;
  pendingWrites(): number;
  pushHeader(inputOffset: number): number;
  pushData(): number;
  copyDone(): number;
  inputTruncated(partialHeaderOffset: number): number;
  closeStep(): number;
  vhdFooter(size: number): number;
  veritySuperblock(dataBlocks: number): number;
  failureCode(): number;
  failureOffset(): number;
  failureText(which: number): number;
  skippedXattrCount(): number;
  replyPointer(): number;
  writesPointer(): number;
  emptyExt4ParameterBuffer(): number;
  emptyExt4Begin(sizeBytes: number, time: number): number;
  emptyExt4Step(): number;
}

let compiled: WebAssembly.Module | undefined;

function engineModule(): WebAssembly.Module {
  if (!compiled) {
    const wasmUrl = new URL('../../build/release.wasm', import.meta.url);
    compiled = new WebAssembly.Module(readFileSync(wasmUrl));
  }
  return compiled;
}

/** A metadata write planned by the engine: bytes to put at a file offset. */
export interface PlannedWrite {
  offset: number;
  bytes: Uint8Array;
}

const NO_WRITES: readonly PlannedWrite[] = [];

const PAGE = 65536;
const INITIAL_PAGES = 64; // asconfig.json initialMemory: the 4 MiB staging area and friends
/** The wasm32 ceiling, and the default limit: 4 GiB. */
export const MAX_ENGINE_MEMORY = 65536 * PAGE;
/** A failed allocation leaves the memory within one request of the limit. */
const OUT_OF_MEMORY_SLACK = 16 << 20;

export class Engine {
  private readonly exports: EngineExports;
  private readonly memoryObject: WebAssembly.Memory;
  private readonly memoryLimit: number;

  /**
   * `memoryLimit` caps the engine's Wasm memory (bytes, at most 4 GiB). Metadata of a
   * layer that needs more fails with ENGINE_OUT_OF_MEMORY instead of a trap.
   */
  constructor(options: number, maxDiskSize: number | undefined, memoryLimit = MAX_ENGINE_MEMORY) {
    const maximumPages = Math.max(INITIAL_PAGES, Math.min(65536, Math.floor(memoryLimit / PAGE)));
    this.memoryLimit = maximumPages * PAGE;
    this.memoryObject = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: maximumPages });
    // Instantiation runs the engine's start function, which allocates too.
    const instance = this.call(() => new WebAssembly.Instance(engineModule(), {
      env: {
        memory: this.memoryObject,
        abort: (_message: number, _file: number, line: number, column: number) => {
          throw new LcowError('ENGINE_TRAPPED', `internal error: the conversion engine aborted at ${line}:${column}; please report this with the input that caused it`);
        },
      },
    }));
    // Every call goes through the trap translation: any export may allocate. (No rest
    // arguments or closures per call: this runs several times per tar entry.)
    const guarded: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(instance.exports)) {
      if (typeof value !== 'function') continue;
      const fn = value as (a?: number, b?: number) => number;
      guarded[name] = (a?: number, b?: number) => {
        try {
          return fn(a, b);
        } catch (err) {
          throw this.translate(err);
        }
      };
    }
    this.exports = guarded as unknown as EngineExports;
    this.exports.begin(options, maxDiskSize ?? -1);
  }

  /** Bytes of Wasm memory the engine holds now (never shrinks, so also its peak). */
  get memoryBytes(): number {
    return this.memoryObject.buffer.byteLength;
  }

  private get memory(): ArrayBuffer {
    return this.memoryObject.buffer;
  }

  // Views on fixed engine buffers, re-made only when memory growth replaces the ArrayBuffer.
  private replyView?: Float64Array;
  private headerBlockView?: Uint8Array;

  /** reply[0..]: action, two operands, segment count, segments. */
  private reply(): Float64Array {
    if (this.replyView?.buffer !== this.memory) this.replyView = new Float64Array(this.memory, this.exports.replyPointer(), 4 + 2 * 64);
    return this.replyView;
  }

  private call<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw this.translate(err);
    }
  }

  /** A trap becomes ENGINE_OUT_OF_MEMORY when memory is at its cap, else ENGINE_TRAPPED. */
  private translate(err: unknown): unknown {
    if (err instanceof LcowError) return err;
    if (!(err instanceof WebAssembly.RuntimeError || err instanceof RangeError)) return err;
    // The allocator traps when memory.grow fails; any other trap is a bug.
    if (this.memoryBytes + OUT_OF_MEMORY_SLACK >= this.memoryLimit) {
      const mib = Math.round(this.memoryLimit / 2 ** 20);
      const raise = this.memoryLimit < MAX_ENGINE_MEMORY ? ' or raise the limit (lcow convert --engine-memory)' : '';
      return new LcowError('ENGINE_OUT_OF_MEMORY', `the layer's metadata needs more than the engine's ${mib} MiB of memory (too many entries, names or xattrs for one image); split the layer${raise}`, { cause: err });
    }
    return new LcowError('ENGINE_TRAPPED', `internal error: the conversion engine trapped (${(err as Error).message}); please report this with the input that caused it`, { cause: err });
  }

  headerView(): Uint8Array {
    if (this.headerBlockView?.buffer !== this.memory) this.headerBlockView = new Uint8Array(this.memory, this.exports.headerBuffer(), 512);
    return this.headerBlockView;
  }

  pushHeader(inputOffset: number): number {
    return this.exports.pushHeader(inputOffset);
  }

  pushData(): number {
    return this.exports.pushData();
  }

  copyDone(): number {
    return this.exports.copyDone();
  }

  /** End of input inside a header (give its offset) or inside the current entry (-1). */
  inputTruncated(partialHeaderOffset = -1): number {
    return this.exports.inputTruncated(partialHeaderOffset);
  }

  closeStep(): number {
    return this.exports.closeStep();
  }

  /** Operands of the last reply. */
  operand(i: 1 | 2): number {
    return this.reply()[i];
  }

  /** The buffer the engine wants `n` input bytes copied into (after Action.Read). */
  readTarget(): Uint8Array {
    const r = this.reply();
    return new Uint8Array(this.memory, r[2], r[1]);
  }

  /** (output offset, length) pairs of the last Copy reply. */
  segments(): Array<[number, number]> {
    const r = this.reply();
    const out: Array<[number, number]> = [];
    for (let i = 0; i < r[3]; i++) out.push([r[4 + 2 * i], r[5 + 2 * i]]);
    return out;
  }

  /** Metadata writes of the last call; views into engine memory, valid until the next call. */
  writes(): readonly PlannedWrite[] {
    const count = this.exports.pendingWrites();
    if (count === 0) return NO_WRITES;
    const table = new Float64Array(this.memory, this.exports.writesPointer(), count * 3);
    const out: PlannedWrite[] = [];
    for (let i = 0; i < count; i++) {
      out.push({ offset: table[3 * i], bytes: new Uint8Array(this.memory, table[3 * i + 1], table[3 * i + 2]) });
    }
    return out;
  }

  vhdFooter(size: number, uniqueId: Uint8Array): Uint8Array {
    new Uint8Array(this.memory, this.exports.uniqueIdBuffer(), 16).set(uniqueId);
    const ptr = this.exports.vhdFooter(size);
    return new Uint8Array(this.memory, ptr, 512).slice();
  }

  veritySuperblock(dataBlocks: number, uuid: Uint8Array): Uint8Array {
    new Uint8Array(this.memory, this.exports.uniqueIdBuffer(), 16).set(uuid);
    const ptr = this.exports.veritySuperblock(dataBlocks);
    return new Uint8Array(this.memory, ptr, 4096).slice();
  }

  /**
   * Lays out the empty ext4 file system of `sizeBytes` (assembly/mkfs/writer.ts); then
   * call emptyExt4Step until Action.Done, writing writes() after each call.
   */
  emptyExt4Begin(sizeBytes: number, time: number, uuid: Uint8Array, hashSeed: Uint8Array, rootUid: number, rootGid: number): number {
    const parameters = new Uint8Array(this.memory, this.exports.emptyExt4ParameterBuffer(), 40);
    parameters.set(uuid, 0);
    parameters.set(hashSeed, 16);
    const owner = new DataView(parameters.buffer, parameters.byteOffset + 32, 8);
    owner.setUint32(0, rootUid, true);
    owner.setUint32(4, rootGid, true);
    return this.exports.emptyExt4Begin(sizeBytes, time);
  }

  emptyExt4Step(): number {
    return this.exports.emptyExt4Step();
  }

  /** Profile fixed: xattrs left out because Linux cannot hold them, and the first as "<entry>: <name>". */
  skippedXattrs(): { count: number; first?: string } {
    const count = this.exports.skippedXattrCount();
    return count === 0 ? { count } : { count, first: this.text(2) };
  }

  private text(which: 0 | 1 | 2): string {
    const ptr = this.exports.failureText(which);
    const length = this.reply()[1];
    return Buffer.from(new Uint8Array(this.memory, ptr, length)).toString('utf8');
  }

  /** The recorded failure as an LcowError (message is hcsshim's wording). */
  failure(): LcowError {
    const code = this.exports.failureCode();
    const offset = this.exports.failureOffset();
    return new LcowError(engineErrorCode(code), this.text(0), { path: this.text(1) || undefined, offset: offset >= 0 ? offset : undefined });
  }
}

/** A footer builder that needs no conversion (for -only-vhd). */
export function buildVhdFooter(size: number, uniqueId: Uint8Array): Uint8Array {
  return new Engine(0, undefined).vhdFooter(size, uniqueId);
}

export function buildVeritySuperblock(dataBlocks: number, uuid: Uint8Array): Uint8Array {
  return new Engine(0, undefined).veritySuperblock(dataBlocks, uuid);
}
