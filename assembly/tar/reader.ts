// Go archive/tar Reader.Next as a push state machine: the host pushes 512-byte header
// blocks and, on request, payload bytes (PAX records, GNU long names, sparse maps);
// the reader yields TarEntry values. File data never passes through here.

import * as E from "../errors";
import { fail } from "../errors";
import { latin1FromMemory } from "../bytes";
import { BLOCK_SIZE, FORMAT_UNKNOWN, FORMAT_GNU, FieldParser, decodeHeader, detectFormat, isZeroBlock, isHeaderOnlyType, blockPadding, TYPE_XHEADER, TYPE_XGLOBAL, TYPE_GNU_LONGNAME, TYPE_GNU_LONGLINK, TYPE_GNU_SPARSE, TYPE_REGA, TYPE_REG, TYPE_DIR, GNU_SPARSE_OFFSET, GNU_SPARSE_ENTRIES, GNU_ISEXTENDED_OFFSET, GNU_REALSIZE_OFFSET, GNU_REALSIZE_LEN, SPARSE_EXT_ENTRIES, SPARSE_EXT_ISEXTENDED_OFFSET } from "./header";
import { PaxRecords, parsePax, parsePaxTime, PAX_PATH, PAX_LINKPATH, PAX_UID, PAX_GID, PAX_SIZE, PAX_ATIME, PAX_MTIME, PAX_CTIME, GNU_SPARSE_MAJOR, GNU_SPARSE_MINOR, GNU_SPARSE_MAP, GNU_SPARSE_NAME, GNU_SPARSE_SIZE, GNU_SPARSE_REALSIZE } from "./pax";
import { SparseMap, readOldGnuEntries, readPaxMap01, Map1x0Reader } from "./sparse";
import { TarEntry } from "./entry";
import { parseDecimal } from "../bytes";

/**
 * The global records after a new global header: POSIX pax says a record with an empty
 * value deletes the keyword's global value; others set it.
 */
function withGlobals(globals: PaxRecords | null, records: PaxRecords): PaxRecords {
  const out = new PaxRecords();
  if (globals != null) {
    const keys = globals.keys;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      if (!records.has(k)) out.set(k, globals.get(k));
    }
  }
  const keys = records.keys;
  for (let i = 0; i < keys.length; i++) {
    const v = records.get(keys[i]);
    if (v.length != 0) out.set(keys[i], v);
  }
  return out;
}

/**
 * One entry's records: the globals, overridden by its extended header's. An empty
 * extended value deletes a global one (POSIX pax), so the header field applies; where
 * no global has the keyword, the empty record stays (an empty xattr value is a value).
 */
function overGlobals(globals: PaxRecords, records: PaxRecords | null): PaxRecords {
  if (records == null) return globals;
  const local = records;
  const out = new PaxRecords();
  const keys = globals.keys;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (!local.has(k)) out.set(k, globals.get(k));
  }
  const own = local.keys;
  for (let i = 0; i < own.length; i++) {
    const k = own[i];
    const v = local.get(k);
    if (v.length == 0 && globals.has(k)) continue;
    out.set(k, v);
  }
  return out;
}

/** Go's maxSpecialFileSize: PAX and long-name payloads above 1 MiB are refused. */
const MAX_SPECIAL_FILE_SIZE: i64 = 1 << 20;

export const STEP_NEXT_HEADER: i32 = 0;
export const STEP_READ: i32 = 1; // supply `readLength` bytes at `readBuffer`
export const STEP_ENTRY: i32 = 2; // `entry` is ready
export const STEP_SKIP_PADDING: i32 = 3; // skip `skipLength` bytes, then the next header
export const STEP_END: i32 = 4;
export const STEP_ERROR: i32 = 5;

const WAIT_NONE = 0;
const WAIT_PAX = 1;
const WAIT_GLOBAL_PAX = 2;
const WAIT_LONG_NAME = 3;
const WAIT_LONG_LINK = 4;
const WAIT_GNU_SPARSE_EXTENSION = 5;
const WAIT_SPARSE_MAP_BLOCK = 6;

export const INVALID_HEADER = "archive/tar: invalid tar header";
export const UNEXPECTED_EOF = "unexpected EOF";

export class TarReader {
  /**
   * Profile fixed: PAX global headers are defaults for the entries that follow (POSIX
   * pax), not entries of their own as in Go's reader.
   */
  fixed: bool = false;
  readBuffer: Uint8Array = new Uint8Array(BLOCK_SIZE);
  readLength: i32 = 0;
  skipLength: i64 = 0;
  entry: TarEntry = new TarEntry();
  private waiting: i32 = WAIT_NONE;
  private sawZeroBlock: bool = false;
  private pax: PaxRecords | null = null;
  /** The global records in force (profile fixed); null until a global header sets one. */
  private globalPax: PaxRecords | null = null;
  private longName: string = "";
  private longLink: string = "";
  private header: TarEntry = new TarEntry();
  private physical: i64 = 0; // data bytes of the current member still in the stream
  private map1x0: Map1x0Reader | null = null;
  private oldGnuMap: SparseMap | null = null;

  private invalid(): i32 {
    fail(E.TAR_INVALID_HEADER, INVALID_HEADER);
    return STEP_ERROR;
  }

  private request(wait: i32, length: i32): i32 {
    this.waiting = wait;
    if (this.readBuffer.length < length) this.readBuffer = new Uint8Array(length);
    this.readLength = length;
    return STEP_READ;
  }

  pushHeader(block: usize): i32 {
    if (isZeroBlock(block)) {
      if (this.sawZeroBlock) return STEP_END;
      this.sawZeroBlock = true;
      return STEP_NEXT_HEADER;
    }
    if (this.sawZeroBlock) return this.invalid();
    const format = detectFormat(block);
    if (format == FORMAT_UNKNOWN) return this.invalid();
    const p = new FieldParser();
    const h = new TarEntry();
    decodeHeader(block, format, p, h);
    if (p.err) return this.invalid();
    this.header = h;
    const nb = isHeaderOnlyType(h.typeflag) ? 0 : h.size;
    if (nb < 0) return this.invalid();
    this.physical = nb;
    this.skipLength = blockPadding(nb);
    const t = h.typeflag;
    if (t == TYPE_XHEADER || t == TYPE_XGLOBAL || t == TYPE_GNU_LONGNAME || t == TYPE_GNU_LONGLINK) {
      if (nb > MAX_SPECIAL_FILE_SIZE) {
        fail(E.TAR_FIELD_TOO_LONG, "archive/tar: header field too long");
        return STEP_ERROR;
      }
      const wait = t == TYPE_XHEADER ? WAIT_PAX : t == TYPE_XGLOBAL ? WAIT_GLOBAL_PAX : t == TYPE_GNU_LONGNAME ? WAIT_LONG_NAME : WAIT_LONG_LINK;
      return this.request(wait, <i32>nb);
    }
    return this.finishMember(block);
  }

  /** Called after the host filled readBuffer with readLength bytes. */
  pushData(): i32 {
    const ptr = this.readBuffer.dataStart;
    const wait = this.waiting;
    this.waiting = WAIT_NONE;
    switch (wait) {
      case WAIT_PAX: case WAIT_GLOBAL_PAX: {
        const records = parsePax(ptr, this.readLength);
        if (records == null) return this.invalid();
        if (wait == WAIT_PAX) {
          this.pax = records;
          return STEP_SKIP_PADDING;
        }
        if (this.fixed) {
          this.globalPax = withGlobals(this.globalPax, records);
          return STEP_SKIP_PADDING;
        }
        return this.globalHeaderEntry(records);
      }
      case WAIT_LONG_NAME: case WAIT_LONG_LINK: {
        let n = 0;
        while (n < this.readLength && load<u8>(ptr + <usize>n) != 0) n++;
        const text = latin1FromMemory(ptr, n);
        if (wait == WAIT_LONG_NAME) this.longName = text; else this.longLink = text;
        return STEP_SKIP_PADDING;
      }
      case WAIT_GNU_SPARSE_EXTENSION: {
        const p = new FieldParser();
        readOldGnuEntries(ptr, SPARSE_EXT_ENTRIES, this.oldGnuMap!, p);
        if (p.err) return this.invalid();
        if (load<u8>(ptr + SPARSE_EXT_ISEXTENDED_OFFSET) != 0) return this.request(WAIT_GNU_SPARSE_EXTENSION, BLOCK_SIZE);
        return this.completeSparse(this.oldGnuMap!);
      }
      case WAIT_SPARSE_MAP_BLOCK: {
        this.physical -= BLOCK_SIZE;
        const reader = this.map1x0!;
        if (!reader.feed(latin1FromMemory(ptr, BLOCK_SIZE))) return this.requestMapBlock();
        if (reader.failed) return this.invalid();
        return this.completeSparse(reader.map);
      }
    }
    fail(E.ENGINE_BAD_CALL, "pushData called without a pending read");
    return STEP_ERROR;
  }

  /** Go mergePAX: non-empty records override header fields; malformed numbers fail. */
  private mergePax(h: TarEntry, records: PaxRecords): bool {
    const keys = records.keys;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      const v = records.get(k);
      if (v.length == 0) continue;
      if (k == PAX_PATH) h.name = v;
      else if (k == PAX_LINKPATH) h.linkname = v;
      else if (k == PAX_UID || k == PAX_GID || k == PAX_SIZE) {
        const n = parseDecimal(v);
        if (!n.ok) return false;
        if (k == PAX_UID) h.uid = n.value; else if (k == PAX_GID) h.gid = n.value; else h.size = n.value;
      } else if (k == PAX_ATIME || k == PAX_MTIME || k == PAX_CTIME) {
        const t = parsePaxTime(v);
        if (t == null) return false;
        if (k == PAX_ATIME) h.atime = t; else if (k == PAX_MTIME) h.mtime = t; else h.ctime = t;
      }
    }
    return true;
  }

  /** A PAX global header is returned as an entry of its own (spec §2.1). */
  private globalHeaderEntry(records: PaxRecords): i32 {
    const h = this.header;
    if (!this.mergePax(h, records)) return this.invalid();
    const e = new TarEntry();
    e.typeflag = TYPE_XGLOBAL;
    e.name = h.name;
    e.pax = records;
    e.padding = this.skipLength;
    this.physical = 0;
    return this.emit(e);
  }

  private finishMember(block: usize): i32 {
    const h = this.header;
    if (this.globalPax != null) this.pax = overGlobals(this.globalPax!, this.pax);
    if (this.pax != null && !this.mergePax(h, this.pax!)) return this.invalid();
    if (this.longName.length > 0) h.name = this.longName;
    if (this.longLink.length > 0) h.linkname = this.longLink;
    if (h.typeflag == TYPE_REGA) h.typeflag = h.name.endsWith("/") ? TYPE_DIR : TYPE_REG;
    const nb = isHeaderOnlyType(h.typeflag) ? 0 : h.size;
    if (nb < 0) return this.invalid();
    this.physical = nb;
    this.skipLength = blockPadding(nb);
    const e = h;
    if (this.pax != null) e.pax = this.pax!;
    this.entry = e;
    if (h.typeflag == TYPE_GNU_SPARSE) {
      if (detectFormat(block) != FORMAT_GNU) return this.invalid();
      const p = new FieldParser();
      e.size = p.numeric(block + GNU_REALSIZE_OFFSET, GNU_REALSIZE_LEN);
      if (p.err) return this.invalid();
      const map = new SparseMap();
      readOldGnuEntries(block + GNU_SPARSE_OFFSET, GNU_SPARSE_ENTRIES, map, p);
      if (p.err) return this.invalid();
      this.oldGnuMap = map;
      if (load<u8>(block + GNU_ISEXTENDED_OFFSET) != 0) return this.request(WAIT_GNU_SPARSE_EXTENSION, BLOCK_SIZE);
      return this.completeSparse(map);
    }
    return this.paxSparse(e);
  }

  /** Go readGNUSparsePAXHeaders: formats 0.0, 0.1 and 1.0. */
  private paxSparse(e: TarEntry): i32 {
    const records = e.pax;
    const major = records.get(GNU_SPARSE_MAJOR);
    const minor = records.get(GNU_SPARSE_MINOR);
    let is1x0 = false;
    if (major == "0" && (minor == "0" || minor == "1")) is1x0 = false;
    else if (major == "1" && minor == "0") is1x0 = true;
    else if (major.length > 0 || minor.length > 0) return this.emit(this.entry);
    else if (records.get(GNU_SPARSE_MAP).length > 0) is1x0 = false;
    else return this.emit(this.entry);
    const sparseName = records.get(GNU_SPARSE_NAME);
    if (sparseName.length > 0) e.name = sparseName;
    let size = records.get(GNU_SPARSE_SIZE);
    if (size.length == 0) size = records.get(GNU_SPARSE_REALSIZE);
    if (size.length > 0) {
      const n = parseDecimal(size);
      if (!n.ok) return this.invalid();
      e.size = n.value;
    }
    if (is1x0) {
      this.map1x0 = new Map1x0Reader();
      return this.requestMapBlock();
    }
    const map = readPaxMap01(records);
    if (map == null) return this.invalid();
    return this.completeSparse(map);
  }

  private requestMapBlock(): i32 {
    if (this.physical < BLOCK_SIZE) {
      fail(E.TAR_UNEXPECTED_EOF, UNEXPECTED_EOF);
      return STEP_ERROR;
    }
    return this.request(WAIT_SPARSE_MAP_BLOCK, BLOCK_SIZE);
  }

  private completeSparse(map: SparseMap): i32 {
    const e = this.entry;
    if (isHeaderOnlyType(e.typeflag) || !map.isValid(e.size)) return this.invalid();
    e.sparse = map;
    return this.emit(this.entry);
  }

  private emit(e: TarEntry): i32 {
    e.physicalSize = this.physical;
    e.padding = this.skipLength;
    this.entry = e;
    this.pax = null;
    this.longName = "";
    this.longLink = "";
    return STEP_ENTRY;
  }
}

