// The engine's exports. One instance converts one tar stream. See README.md in this
// folder for the memory contract between host and engine.

import * as E from "./errors";
import { failure, fail, failed } from "./errors";
import { latin1Store, latin1FromMemory } from "./bytes";
import { BLOCK_SIZE as TAR_BLOCK } from "./tar/header";
import { TarReader, STEP_NEXT_HEADER, STEP_READ, STEP_ENTRY, STEP_SKIP_PADDING, STEP_END, UNEXPECTED_EOF } from "./tar/reader";
import { TarEntry } from "./tar/entry";
import { Writer } from "./ext4/writer";
import { Closer } from "./ext4/close";
import { effectiveMaxDiskSize } from "./ext4/layout";
import { INODE_FLAG_INLINE_DATA } from "./ext4/constants";
import { convertEntry, OPTION_INLINE_DATA, OPTION_FIXED } from "./convert";
import { skippedXattrs, firstSkippedXattr } from "./fixed";
import { putVhdFooter, FOOTER_SIZE } from "./vhd/footer";
import { putVeritySuperblock, VERITY_BLOCK_SIZE } from "./vhd/verity";
import { EmptyExt4Writer } from "./mkfs/writer";
import { geometryFor } from "./mkfs/geometry";
import { ACTION_NEXT_HEADER, ACTION_READ, ACTION_COPY, ACTION_END, ACTION_ERROR, ACTION_MORE, ACTION_DONE, MAX_SEGMENTS, resetPlan, setReply, addSegment, reply, writeCount } from "./plan";

export { replyPointer, writesPointer } from "./plan";

const headerBlock = new StaticArray<u8>(TAR_BLOCK);
const uniqueId = new StaticArray<u8>(16);
const footer = new StaticArray<u8>(FOOTER_SIZE);
const veritySuperblockBlock = new StaticArray<u8>(VERITY_BLOCK_SIZE);
let textBuffer = new Uint8Array(0);

let options: i32 = 0;
let writer: Writer | null = null;
let reader: TarReader = new TarReader();
let closer: Closer | null = null;
let headerOffset: f64 = 0;
// Sparse members copied in several rounds of at most MAX_SEGMENTS fragments.
let pendingEntry: TarEntry | null = null;
let pendingFragment: i32 = 0;
/** Sum of the map lengths before pendingFragment (kept, not recomputed: maps can be long). */
let pendingMapBytes: i64 = 0;
let pendingDataOffset: f64 = 0;
let pendingFailure: i32 = E.OK;
let readingInline: bool = false;

/** Starts a conversion. maxDiskSize < 0 means "not given" (16 GiB). */
export function begin(conversionOptions: i32, maxDiskSize: f64): void {
  options = conversionOptions;
  const limit = maxDiskSize < 0 ? effectiveMaxDiskSize(0) : effectiveMaxDiskSize(<i64>maxDiskSize);
  const fixed = (conversionOptions & OPTION_FIXED) != 0;
  writer = new Writer(limit, (conversionOptions & OPTION_INLINE_DATA) != 0, fixed);
  reader.fixed = fixed;
}

/** Profile fixed: how many xattrs were left out because Linux cannot hold them. */
export function skippedXattrCount(): i32 {
  return skippedXattrs;
}

export function headerBuffer(): usize {
  return changetype<usize>(headerBlock);
}

export function uniqueIdBuffer(): usize {
  return changetype<usize>(uniqueId);
}

export function pendingWrites(): i32 {
  return writeCount;
}

function error(): i32 {
  if (failure.inputOffset < 0) failure.inputOffset = headerOffset;
  return setReply(ACTION_ERROR, <f64>failure.code, 0);
}

function fromReader(step: i32): i32 {
  switch (step) {
    case STEP_NEXT_HEADER: return setReply(ACTION_NEXT_HEADER, 0, 0);
    case STEP_READ: return setReply(ACTION_READ, <f64>reader.readLength, <f64>reader.readBuffer.dataStart);
    case STEP_SKIP_PADDING: return copyPlan(0, <f64>reader.skipLength);
    case STEP_END: return setReply(ACTION_END, 0, 0);
    case STEP_ENTRY: return processEntry(reader.entry);
  }
  return error();
}

/** reply[1] = data bytes to consume (segments, then skipped), reply[2] = padding to skip. */
function copyPlan(dataBytes: f64, paddingBytes: f64): i32 {
  return setReply(ACTION_COPY, dataBytes, paddingBytes);
}

export function pushHeader(inputOffset: f64): i32 {
  resetPlan();
  if (failed()) return error();
  headerOffset = inputOffset;
  return fromReader(reader.pushHeader(changetype<usize>(headerBlock)));
}

export function pushData(): i32 {
  resetPlan();
  if (failed()) return error();
  if (readingInline) return finishInline();
  return fromReader(reader.pushData());
}

function processEntry(e: TarEntry): i32 {
  const w = writer!;
  failure.entry = e.name;
  if (!convertEntry(w, e, options)) return error();
  const node = w.dataInode;
  if (node == null || e.typeflag == 0x31) return copyPlan(<f64>e.physicalSize, <f64>e.padding);
  if ((node.flags & INODE_FLAG_INLINE_DATA) != 0) return startInline(e);
  if (w.dataOffset < 0) return copyPlan(<f64>e.physicalSize, <f64>e.padding);
  pendingEntry = e;
  pendingFragment = 0;
  pendingMapBytes = 0;
  pendingDataOffset = <f64>w.dataOffset;
  return nextCopyRound();
}

/** Segments of file data: one for a plain member, the fragments for a sparse one. */
function nextCopyRound(): i32 {
  const e = pendingEntry!;
  if (e.sparse == null) {
    pendingEntry = null;
    addSegment(pendingDataOffset, <f64>e.size);
    return copyPlan(<f64>e.physicalSize, <f64>e.padding);
  }
  const map = e.sparse!;
  let consumed: i64 = 0;
  let available = e.physicalSize - pendingMapBytes;
  if (available < 0) available = 0;
  let n = 0;
  while (pendingFragment < map.count && n < MAX_SEGMENTS) {
    let length = map.lengths[pendingFragment];
    const left = available - consumed;
    if (length > left) length = left > 0 ? left : 0;
    if (length > 0) {
      addSegment(pendingDataOffset + <f64>map.offsets[pendingFragment], <f64>length);
      n++;
    }
    consumed += length;
    pendingMapBytes += map.lengths[pendingFragment];
    pendingFragment++;
  }
  if (pendingFragment < map.count) return setReply(ACTION_COPY, <f64>consumed, -1); // more rounds follow
  pendingEntry = null;
  pendingFailure = sparseMismatch(e);
  return copyPlan(<f64>available, <f64>e.padding);
}

/** Go's sparse reader fails after the data when the map and the stored bytes disagree. */
function sparseMismatch(e: TarEntry): i32 {
  const referenced = e.sparse!.dataBytes();
  if (referenced > e.physicalSize) return E.TAR_SPARSE_MISSING_DATA;
  if (referenced < e.physicalSize) return E.TAR_SPARSE_UNREFERENCED_DATA;
  return E.OK;
}

/** Called when the host finished a COPY: more sparse rounds, or the next header. */
export function copyDone(): i32 {
  resetPlan();
  if (failed()) return error();
  if (pendingEntry != null) return nextCopyRound();
  if (pendingFailure == E.TAR_SPARSE_MISSING_DATA) {
    fail(pendingFailure, "archive/tar: sparse file references non-existent data");
    return error();
  }
  if (pendingFailure == E.TAR_SPARSE_UNREFERENCED_DATA) {
    fail(pendingFailure, "archive/tar: sparse file contains unreferenced data");
    return error();
  }
  return setReply(ACTION_NEXT_HEADER, 0, 0);
}

let inlineEntry: TarEntry | null = null;

/** Small files stored in the inode are read into the engine (at most 136 bytes). */
function startInline(e: TarEntry): i32 {
  inlineEntry = e;
  let want = e.physicalSize;
  if (e.sparse != null && e.sparse!.dataBytes() < want) want = e.sparse!.dataBytes();
  if (want == 0) return finishInline();
  readingInline = true;
  if (reader.readBuffer.length < <i32>want) reader.readBuffer = new Uint8Array(<i32>want);
  return setReply(ACTION_READ, <f64>want, <f64>reader.readBuffer.dataStart);
}

function finishInline(): i32 {
  readingInline = false;
  const e = inlineEntry!;
  const node = writer!.dataInode!;
  const size = <i32>e.size;
  const bytes = new Uint8Array(size);
  let consumed: i64 = 0;
  if (e.sparse == null) {
    if (size > 0) memory.copy(bytes.dataStart, reader.readBuffer.dataStart, <usize>size);
    consumed = e.size;
  } else {
    const map = e.sparse!;
    for (let i = 0; i < map.count; i++) {
      let length = map.lengths[i];
      if (consumed + length > e.physicalSize) length = e.physicalSize - consumed;
      if (length > 0) memory.copy(bytes.dataStart + <usize>map.offsets[i], reader.readBuffer.dataStart + <usize>consumed, <usize>length);
      consumed += length;
    }
    pendingFailure = sparseMismatch(e);
  }
  const data = latin1FromMemory(bytes.dataStart, size);
  node.data = data;
  // The reserved system.data is always the first in-inode entry (spec §9); hcsshim
  // rewrites that entry alone with the data. A second system.data, merged from an older
  // version of a re-created file (spec §3.5), keeps its placeholder value.
  const xattrs = node.inodeXattrs;
  if (xattrs != null && xattrs.length > 0 && xattrs[0].fullName == "system.data") {
    xattrs[0].value = size > 60 ? data.substring(60) : "";
  }
  return copyPlan(<f64>(e.physicalSize - consumed), <f64>e.padding);
}

/**
 * The host reached the end of input in the middle of a header (headerOffset >= 0: where
 * that header starts) or of the current entry's payload or data (headerOffset < 0).
 */
export function inputTruncated(partialHeaderOffset: f64): i32 {
  resetPlan();
  if (partialHeaderOffset >= 0) {
    headerOffset = partialHeaderOffset;
    failure.entry = "";
  }
  fail(E.TAR_UNEXPECTED_EOF, UNEXPECTED_EOF);
  return error();
}

/** Writes directories, inode table, bitmaps, descriptors and superblock, in rounds. */
export function closeStep(): i32 {
  resetPlan();
  if (failed()) return error();
  if (closer == null) {
    const w = writer!;
    if (!w.begin()) return error();
    closer = new Closer(w);
  }
  const c = closer!;
  const done = c.step();
  if (failed()) return error();
  if (!done) return setReply(ACTION_MORE, 0, 0);
  return setReply(ACTION_DONE, c.imageBytes, 0);
}

/** Builds the VHD footer for `size` bytes using the 16 bytes in uniqueIdBuffer. */
export function vhdFooter(size: f64): usize {
  const ptr = changetype<usize>(footer);
  memory.fill(ptr, 0, FOOTER_SIZE);
  putVhdFooter(ptr, <u64>size, changetype<usize>(uniqueId));
  return ptr;
}

/** Builds the dm-verity superblock block using the 16 bytes in uniqueIdBuffer as its UUID. */
export function veritySuperblock(dataBlocks: f64): usize {
  const ptr = changetype<usize>(veritySuperblockBlock);
  memory.fill(ptr, 0, VERITY_BLOCK_SIZE);
  putVeritySuperblock(ptr, <u64>dataBlocks, changetype<usize>(uniqueId));
  return ptr;
}

export function failureCode(): i32 {
  return failure.code;
}

export function failureOffset(): f64 {
  return failure.inputOffset;
}

/**
 * Encodes the failure message (which = 0), its entry name (1), or the first xattr left
 * out in profile fixed (2, "<entry>: <name>") as bytes; reply[1] = length.
 */
export function failureText(which: i32): usize {
  const text = which == 0 ? failure.message : which == 1 ? failure.entry : firstSkippedXattr;
  textBuffer = new Uint8Array(text.length);
  latin1Store(text, textBuffer.dataStart);
  reply[1] = <f64>text.length;
  return textBuffer.dataStart;
}


// The empty ext4 file system of a sandbox (mkfs/writer.ts), driven like closeStep:
// emptyExt4Begin, then emptyExt4Step until DONE, writing the planned writes after each.

// [0, 16) UUID, [16, 32) directory hash seed, [32, 36) root uid, [36, 40) root gid.
const EMPTY_EXT4_PARAMETER_BYTES: i32 = 40;
const emptyExt4Parameters = new StaticArray<u8>(EMPTY_EXT4_PARAMETER_BYTES);
let emptyExt4: EmptyExt4Writer | null = null;

/** The 40 bytes the host fills before emptyExt4Begin (layout above). */
export function emptyExt4ParameterBuffer(): usize {
  return changetype<usize>(emptyExt4Parameters);
}

function emptyExt4Refused(message: string): i32 {
  fail(E.ENGINE_BAD_CALL, "empty ext4: " + message);
  return setReply(ACTION_ERROR, <f64>failure.code, 0);
}

/**
 * Lays out the file system mke2fs makes for `sizeBytes` (at least 512 MiB, below 16 TiB:
 * the host checks) created at unix time `time`, with the parameters in the buffer.
 */
export function emptyExt4Begin(sizeBytes: f64, time: f64): i32 {
  resetPlan();
  if (failed()) return setReply(ACTION_ERROR, <f64>failure.code, 0);
  const geometry = geometryFor(<i64>sizeBytes);
  if (geometry == null) return emptyExt4Refused("unsupported size " + (<i64>sizeBytes).toString());
  const parameters = changetype<usize>(emptyExt4Parameters);
  const w = new EmptyExt4Writer(geometry, <u32>time, load<u32>(parameters + 32), load<u32>(parameters + 36), parameters);
  if (!w.prepare()) return emptyExt4Refused("the group tables do not fit in " + (<i64>sizeBytes).toString() + " bytes");
  emptyExt4 = w;
  return setReply(ACTION_MORE, 0, 0);
}

/** MORE: write the planned writes and call again; DONE: reply[1] = the file system's bytes. */
export function emptyExt4Step(): i32 {
  resetPlan();
  if (failed()) return setReply(ACTION_ERROR, <f64>failure.code, 0);
  if (emptyExt4 == null) return emptyExt4Refused("emptyExt4Step before emptyExt4Begin");
  const w = emptyExt4!;
  if (!w.step()) return setReply(ACTION_MORE, 0, 0);
  return setReply(ACTION_DONE, <f64>w.sizeBytes, 0);
}
