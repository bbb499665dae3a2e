// The conversion loop: feeds headers and small payloads to the engine, and carries out
// its plan. File data goes from the input chunk straight to the output file with
// positional writes; it never enters Wasm memory.

import { randomBytes } from 'node:crypto';
import { Engine, Action, ConvertOption, MAX_ENGINE_MEMORY } from './engine.js';
import { ChunkReader, openInput, CHUNK_SIZE, type OpenedInput, type TarInput, type BeforeRead } from './input.js';
import { copyRange, COPY_RANGE_MIN } from './copy-range.js';
import { OutputFile, outputTarget, sameFile, systemReason, type OutputTarget } from './output.js';
import { checkConvertOptions, checkTarInput } from './check-options.js';
import { imageKind, looksLikeText, textExcerpt, KIND_NAMES, type FileKind } from './file-kind.js';
import type { Log } from './log.js';
import { LcowError } from './errors.js';
import { writeHashTree, treeLayout, treeFromLevel0, contentId, hashFile, VERITY_BLOCK } from './verity.js';
import { VerityHasher } from './verity-stream.js';
import { readSync } from 'node:fs';

/**
 * `hcsshim` (the default): byte-identical to hcsshim's tar2ext4, its defects included, so
 * root digests match Windows hosts. `fixed`: the same layout with those defects corrected
 * (README, "The fixed profile").
 */
export type Profile = 'hcsshim' | 'fixed';

export interface ConvertOptions {
  /** Output profile; default 'hcsshim'. */
  profile?: Profile;
  /** Convert OCI whiteouts (.wh.*) to overlayfs form (hcsshim ConvertWhiteout, -overlay). */
  overlay?: boolean;
  /** Replace "\" with "/" in names and link targets (-convert-slash). */
  convertBackslash?: boolean;
  /** Store files of at most 136 bytes inside their inode (-inline). */
  inlineData?: boolean;
  /** Append a fixed VHD footer, giving a layer.vhd (-vhd). */
  vhd?: boolean;
  /** hcsshim MaximumDiskSize(n); default 16 GiB. Negative or > 16 TiB means 16 TiB. */
  maxDiskSize?: number;
  /** Append the dm-verity superblock and hash tree after the image (-verity). */
  verity?: boolean;
  /** 16 bytes for the VHD footer's unique id; random when absent (as hcsshim). */
  vhdUniqueId?: Uint8Array;
  /** 16 bytes for the dm-verity superblock UUID; random when absent (as hcsshim). */
  verityUuid?: Uint8Array;
  /**
   * Derive the VHD unique id and the verity UUID from the image content instead of
   * random bytes, so the same input gives the same file (overrides the two above).
   */
  uuidFromContent?: boolean;
  /** Flush the image to disk before renaming it into place (default true). */
  sync?: boolean;
  /** Cap on the engine's Wasm memory in bytes: 10 MiB to 4 GiB (the default). */
  engineMemoryLimit?: number;
  /** Called with (bytes of input consumed) as the conversion goes. */
  onProgress?: (inputBytes: number) => void;
}

export interface ConvertResult {
  /** Bytes of the ext4 image (before any footer). */
  ext4Bytes: number;
  /** Bytes of the output file. */
  fileBytes: number;
  /** Bytes of tar stream read (after decompression). */
  tarBytes: number;
  /** dm-verity root digest (hex) when verity was appended. */
  rootDigest?: string;
  /** Size of the engine's Wasm memory at the end: its peak, since Wasm memory never shrinks. */
  engineMemoryBytes: number;
  /** Profile fixed: xattrs left out because Linux cannot hold them (0 in profile hcsshim). */
  skippedXattrs: number;
}

/** What convertStream produced. */
export interface StreamResult {
  ext4Bytes: number;
  engineMemoryBytes: number;
  /** Profile fixed: xattrs left out because Linux cannot hold them, and the first as "<entry>: <name>". */
  skippedXattrs: { count: number; first?: string };
}

function engineOptions(o: ConvertOptions): number {
  return (o.overlay ? ConvertOption.Overlay : 0)
    | (o.convertBackslash ? ConvertOption.ConvertBackslash : 0)
    | (o.inlineData ? ConvertOption.InlineData : 0)
    | (o.profile === 'fixed' ? ConvertOption.Fixed : 0);
}

/** Opens the input; a file that cannot be opened is the caller's mistake, not bad input. */
async function openInputOrFail(input: TarInput, beforeRead?: BeforeRead): Promise<OpenedInput> {
  try {
    return await openInput(input, beforeRead);
  } catch (err) {
    if (err instanceof LcowError) throw err;
    throw new LcowError('INPUT_OPEN_FAILED', `cannot open ${inputName(input)}: ${systemReason(err)}`, { cause: err });
  }
}

/** Engine failures pass through; anything else is a failure to read the input. */
function asLcowError(err: unknown, input: TarInput): LcowError {
  if (err instanceof LcowError) return err;
  return new LcowError('INPUT_READ_FAILED', `cannot read ${inputName(input)}: ${systemReason(err)}`, { cause: err });
}

/** How messages name an input. */
function inputName(input: TarInput): string {
  if (typeof input !== 'string') return 'the input stream';
  return input === '-' ? 'standard input' : input;
}

/** How a conversion treats input that is recognisably not a tar (file-kind.ts). */
export interface ConvertBehaviour {
  /**
   * `refuse` (lcow and the library): an image is refused before any output is created,
   * and a tar parse failure on text says so (INPUT_NOT_TAR). `as-go` (tar2ext4): Go's
   * outcome (an ext4 image starts with two zero blocks, which Go's reader takes for an
   * empty archive), with what was seen appended to a failure and passed to `onNotTar`.
   */
  notTar: 'refuse' | 'as-go';
  onNotTar?: (seen: string) => void;
  /** Debug lines: stages, their times, engine memory; trace: progress samples. */
  log?: Log;
}

const LIBRARY_BEHAVIOUR: ConvertBehaviour = { notTar: 'refuse' };

/** What the input is when recognisably not a tar: "an ext4 image", or "text" with its first characters. */
function notTarDescription(opened: OpenedInput, afterFailure: boolean): { kind: FileKind; name: string; excerpt: string } | undefined {
  if (opened.compression !== 'none') return undefined;
  const kind = imageKind(opened.head, opened.tail) ?? (afterFailure && looksLikeText(opened.head) ? 'text' : undefined);
  if (!kind) return undefined;
  return { kind, name: KIND_NAMES[kind], excerpt: kind === 'text' ? `it starts ${textExcerpt(opened.head)}` : '' };
}

/** Refuses (or, as Go, reports) an image given as the tar, before anything is written. */
function checkIsTar(opened: OpenedInput, behaviour: ConvertBehaviour): void {
  const found = notTarDescription(opened, false);
  if (!found) return;
  if (behaviour.notTar === 'as-go') {
    behaviour.onNotTar?.(`the input looks like ${found.name}, not a tar`);
    return;
  }
  const hint = found.kind === 'ext4' || found.kind === 'vhd' ? ': did you mean lcow inspect?' : '';
  throw new LcowError('INPUT_NOT_TAR', `the input is ${found.name}, not a tar${hint}`);
}

/** A tar failure at the very first header of something that is not a tar says what it is. */
function explainNotTar(err: LcowError, opened: OpenedInput, behaviour: ConvertBehaviour): LcowError {
  if (!err.code.startsWith('TAR_') || (err.offset ?? 0) !== 0) return err;
  const found = notTarDescription(opened, true);
  if (!found) return err;
  const excerpt = found.excerpt ? `: ${found.excerpt}` : '';
  if (behaviour.notTar === 'as-go') {
    return new LcowError(err.code, `${err.message} (the input looks like ${found.name}, not a tar${excerpt})`, { path: err.path, offset: err.offset, cause: err });
  }
  return new LcowError('INPUT_NOT_TAR', `the input is ${found.name}, not a tar${excerpt}`, { cause: err });
}

/** Refuses an output that is the input: converting would destroy the input. */
function refuseSameFile(input: TarInput, target: OutputTarget): BeforeRead {
  return (identity) => {
    if (identity && target.identity && sameFile(identity, target.identity)) {
      throw new LcowError('USAGE', `the output ${target.given} is the input ${inputName(input)}: converting would destroy it; choose another output`);
    }
  };
}

/** Where the engine's plan is carried out: an OutputFile, or nowhere when only a root digest is wanted. */
type ImageSink = Pick<OutputFile, 'write' | 'writeData' | 'descriptor'>;

/** Writes nothing: computeRootDigest hashes the image as it is produced and keeps none of it. */
const DISCARD: ImageSink = {
  write() {},
  writeData() {},
  get descriptor(): number {
    throw new LcowError('INTERNAL', 'internal error: the discarded image has no file');
  },
};

function writePlanned(engine: Engine, out: ImageSink, hasher: VerityHasher | undefined): void {
  for (const w of engine.writes()) {
    out.write(w.bytes, w.offset);
    hasher?.write(w.bytes, w.offset, false);
  }
}

/** Copies `length` input bytes to the output at `position`; false on end of input. */
async function copyData(reader: ChunkReader, out: ImageSink, position: number, length: number, hasher: VerityHasher | undefined): Promise<boolean> {
  let done = 0;
  // The kernel copy keeps the bytes out of this process; hashing needs them here.
  if (reader.file && length >= COPY_RANGE_MIN && !hasher) {
    // Uncompressed tar file: the stream offset is the file offset.
    done = copyRange(reader.file.fd, reader.consumed, out.descriptor, position, length);
    reader.skipCopied(done);
  }
  while (done < length) {
    let view = reader.takeBuffered(length - done);
    if (view.length === 0) view = await reader.take(Math.min(length - done, CHUNK_SIZE));
    if (view.length === 0) return false;
    out.writeData(view, position + done);
    done += view.length;
    if (hasher) {
      hasher.write(view, position + done - view.length, true);
      // A large body fills many slabs in one COPY: wait here too, or they pile up in memory.
      if (hasher.backlogged) await hasher.drained();
    }
  }
  return true;
}

/**
 * Runs the engine over a tar stream into `out`. Returns the ext4 size, or throws an
 * LcowError carrying hcsshim's message.
 */
export async function convertStream(reader: ChunkReader, out: OutputFile, options: ConvertOptions): Promise<StreamResult> {
  return runEngine(newEngine(options), reader, out, options);
}

function newEngine(options: ConvertOptions): Engine {
  return new Engine(engineOptions(options), options.maxDiskSize, options.engineMemoryLimit);
}

/**
 * convertStream on an engine the caller made (and keeps, for the footer and the verity
 * superblock); every byte written also goes to `hasher` when there is one.
 */
async function runEngine(engine: Engine, reader: ChunkReader, out: ImageSink, options: ConvertOptions, hasher?: VerityHasher): Promise<StreamResult> {
  let action: number = Action.NextHeader;
  let lastProgress = 0;
  for (;;) {
    writePlanned(engine, out, hasher);
    if (hasher?.backlogged) await hasher.drained();
    if (options.onProgress && reader.consumed - lastProgress >= CHUNK_SIZE) {
      lastProgress = reader.consumed;
      options.onProgress(reader.consumed);
    }
    switch (action) {
      case Action.NextHeader: {
        const offset = reader.consumed;
        const header = engine.headerView();
        const got = reader.readIntoBuffered(header) ? 512 : await reader.readInto(header);
        if (got === 0) {
          action = Action.End; // a clean end exactly on a header boundary
        } else if (got < 512) {
          action = engine.inputTruncated(offset);
        } else {
          action = engine.pushHeader(offset);
        }
        break;
      }
      case Action.Read: {
        const target = engine.readTarget();
        const got = await reader.readInto(target);
        action = got < target.length ? engine.inputTruncated() : engine.pushData();
        break;
      }
      case Action.Copy: {
        const dataBytes = engine.operand(1);
        const paddingBytes = engine.operand(2);
        let consumed = 0;
        let truncated = false;
        for (const [position, length] of engine.segments()) {
          if (!(await copyData(reader, out, position, length, hasher))) { truncated = true; break; }
          consumed += length;
        }
        const rest = dataBytes - consumed;
        if (!truncated && rest > 0 && !reader.skipBuffered(rest) && (await reader.skip(rest)) < rest) truncated = true;
        if (truncated) {
          action = engine.inputTruncated();
          break;
        }
        // A short read in the padding ends the archive cleanly, as in Go's reader.
        if (paddingBytes > 0 && !reader.skipBuffered(paddingBytes) && (await reader.skip(paddingBytes)) < paddingBytes) {
          action = engine.copyDone();
          if (action !== Action.Copy) hasher?.endOfEntry();
          if (action === Action.NextHeader) action = Action.End;
          break;
        }
        action = engine.copyDone();
        // A sparse member may take several COPY rounds: its last block is final after the last.
        if (action !== Action.Copy) hasher?.endOfEntry();
        break;
      }
      case Action.End:
      case Action.More:
        action = engine.closeStep();
        break;
      case Action.Done:
        return { ext4Bytes: engine.operand(1), engineMemoryBytes: engine.memoryBytes, skippedXattrs: engine.skippedXattrs() };
      case Action.Error:
        throw engine.failure();
      default:
        throw new LcowError('ENGINE_BAD_CALL', `internal error: unknown engine action ${action}`);
    }
  }
}

/**
 * Converts a tar (file path, "-" for stdin, or a stream of bytes) into an ext4 image or
 * layer.vhd at `target`. The options are checked first, then the output target (before
 * any input is read), then the input.
 */
export async function convertTar(input: TarInput, target: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  checkTarInput(input);
  checkConvertOptions(options);
  return convertTarAs(input, target, options, LIBRARY_BEHAVIOUR);
}

/** convertTar with the CLIs' policies (for lcow and tar2ext4; options already checked). */
export async function convertTarAs(input: TarInput, target: string, options: ConvertOptions, behaviour: ConvertBehaviour): Promise<ConvertResult> {
  const log = behaviour.log;
  const destination = outputTarget(target);
  if (destination.characterDevice && (options.verity || options.uuidFromContent)) {
    throw new LcowError('USAGE', `cannot read the image back from ${target}, a character device, as dm-verity and ids derived from the content need; write to a file`);
  }
  log?.debug({ output: target, path: destination.path, how: destination.how }, 'output target');
  const opened = await openInputOrFail(input, refuseSameFile(input, destination));
  log?.debug({ input: inputName(input), compression: opened.compression, size: opened.size }, 'input opened');
  let out: OutputFile;
  try {
    checkIsTar(opened, behaviour);
    out = new OutputFile(destination);
  } catch (err) {
    opened.close();
    throw err;
  }
  // A device keeps what it held where the image writes nothing, so its blocks are read back
  // (writeHashTree); a new or replaced file reads zeros there, so it is hashed as it is written.
  const hasher = options.verity && destination.how !== 'device' ? new VerityHasher() : undefined;
  try {
    let started = performance.now();
    const onProgress = options.onProgress || log ? () => {
      const n = opened.bytesRead();
      options.onProgress?.(n);
      log?.trace({ inputBytes: n, tarBytes: opened.reader.consumed }, 'progress');
    } : undefined;
    // One engine instance for the image and its tail: instantiating one costs milliseconds.
    const engine = newEngine(options);
    const { ext4Bytes, engineMemoryBytes, skippedXattrs } = await runEngine(engine, opened.reader, out, { ...options, onProgress }, hasher);
    log?.debug({ ext4Bytes, tarBytes: opened.reader.consumed, engineMemoryBytes, engineMemoryLimit: options.engineMemoryLimit ?? MAX_ENGINE_MEMORY, ms: elapsed(started) }, 'tar converted');
    warnSkippedXattrs(log, skippedXattrs);
    started = performance.now();
    out.truncate(ext4Bytes);
    const tail = await appendTail(engine, out, ext4Bytes, options, hasher);
    if (options.verity || options.vhd) log?.debug({ verity: Boolean(options.verity), vhd: Boolean(options.vhd), fileBytes: tail.fileBytes, ms: elapsed(started) }, 'tail appended');
    const fileBytes = tail.fileBytes;
    const tarBytes = opened.reader.consumed;
    started = performance.now();
    await opened.reader.drain();
    out.commit(options.sync ?? true);
    log?.debug({ sync: options.sync ?? true, ms: elapsed(started) }, 'output committed');
    return { ext4Bytes, fileBytes, tarBytes, rootDigest: tail.rootDigest, engineMemoryBytes, skippedXattrs: skippedXattrs.count };
  } catch (err) {
    out.abandon();
    throw explainNotTar(asLcowError(err, input), opened, behaviour);
  } finally {
    hasher?.close();
    opened.close();
  }
}

/** Profile fixed leaves out xattrs Linux cannot hold (as GNU tar's extraction does); say so. */
function warnSkippedXattrs(log: Log | undefined, skipped: StreamResult['skippedXattrs']): void {
  if (skipped.count === 0) return;
  log?.warn({ skippedXattrs: skipped.count, first: skipped.first }, `left out ${skipped.count} xattr(s) Linux cannot hold on their file type (first: ${skipped.first})`);
}

function elapsed(since: number): number {
  return Math.round((performance.now() - since) * 10) / 10;
}

/** Appends what follows the ext4 image: dm-verity superblock and tree, then the VHD footer. */
async function appendTail(engine: Engine, out: OutputFile, ext4Bytes: number, options: ConvertOptions, hasher?: VerityHasher): Promise<{ fileBytes: number; rootDigest?: string }> {
  let fileBytes = ext4Bytes;
  let rootDigest: Buffer | undefined;
  let verityUuid: Uint8Array | undefined;
  if (options.verity) {
    const dataBlocks = ext4Bytes / VERITY_BLOCK;
    rootDigest = hasher
      ? writeTree(out, await hasher.finish(dataBlocks, (block) => readBlock(out.descriptor, block)), dataBlocks, ext4Bytes + VERITY_BLOCK)
      : await writeHashTree(out.descriptor, dataBlocks, ext4Bytes + VERITY_BLOCK);
    verityUuid = options.uuidFromContent ? contentId('verity uuid', rootDigest) : (options.verityUuid ?? randomBytes(16));
    out.write(engine.veritySuperblock(dataBlocks, verityUuid), ext4Bytes);
    fileBytes += VERITY_BLOCK * (1 + treeLayout(dataBlocks).treeBlocks);
  }
  if (options.vhd) {
    let uniqueId = options.vhdUniqueId ?? randomBytes(16);
    if (options.uuidFromContent) {
      // The root digest already covers every image byte; without verity, hash the file.
      uniqueId = rootDigest ? contentId('vhd unique id', rootDigest, verityUuid!) : contentId('vhd unique id', hashFile(out.descriptor, fileBytes));
    }
    out.write(engine.vhdFooter(fileBytes, uniqueId), fileBytes);
    fileBytes += 512;
  }
  return { fileBytes, rootDigest: rootDigest?.toString('hex') };
}

/** Writes the levels over `level0` from `treeOffset` (top level first); returns the root digest. */
function writeTree(out: OutputFile, level0: Buffer, dataBlocks: number, treeOffset: number): Buffer {
  const { levels, rootDigest } = treeFromLevel0(level0, dataBlocks);
  const { levelOffsets } = treeLayout(dataBlocks);
  levels.forEach((level, i) => out.write(level, treeOffset + levelOffsets[i]));
  return rootDigest;
}

/** One image block read back from the output (for a block the hasher could not rebuild). */
function readBlock(fd: number, block: number): Buffer {
  const bytes = Buffer.alloc(VERITY_BLOCK);
  for (let done = 0; done < VERITY_BLOCK;) {
    const n = readSync(fd, bytes, done, VERITY_BLOCK - done, block * VERITY_BLOCK + done);
    if (n === 0) break; // past the end: zeros
    done += n;
  }
  return bytes;
}

/** What computeRootDigest takes: the profile only (the layout is ConvertAndComputeRootDigest's). */
export interface RootDigestOptions {
  profile?: Profile;
}

/**
 * hcsshim ConvertAndComputeRootDigest: converts with whiteout conversion and a 128 GiB
 * maximum size and returns the digest. hcsshim writes a temporary file and hashes it; here
 * the image is hashed as it is produced and written nowhere (memory: 32 bytes per block).
 */
export async function computeRootDigest(input: TarInput, options: RootDigestOptions = {}): Promise<string> {
  checkTarInput(input);
  checkConvertOptions(options, ['profile']);
  return computeRootDigestAs(input, LIBRARY_BEHAVIOUR, options);
}

/** computeRootDigest with the CLIs' policies. */
export async function computeRootDigestAs(input: TarInput, behaviour: ConvertBehaviour, options: RootDigestOptions = {}): Promise<string> {
  const opened = await openInputOrFail(input);
  const hasher = new VerityHasher();
  try {
    checkIsTar(opened, behaviour);
    const convert: ConvertOptions = { overlay: true, maxDiskSize: 128 * 1024 ** 3, profile: options.profile };
    const { ext4Bytes, skippedXattrs } = await runEngine(newEngine(convert), opened.reader, DISCARD, convert, hasher);
    warnSkippedXattrs(behaviour.log, skippedXattrs);
    const dataBlocks = ext4Bytes / VERITY_BLOCK;
    return treeFromLevel0(await hasher.finish(dataBlocks), dataBlocks).rootDigest.toString('hex');
  } catch (err) {
    // hcsshim wraps every conversion failure here; keep its wording.
    const e = explainNotTar(asLcowError(err, input), opened, behaviour);
    if (e.code === 'INPUT_NOT_TAR') throw e;
    throw new LcowError(e.code, `failed to convert tar to ext4: ${e.message}`, { path: e.path, offset: e.offset, cause: e });
  } finally {
    hasher.close();
    opened.close();
  }
}
