// Times stored in an inode, turned back into the tar times that produce them.
//
// hcsshim's tar2ext4 stores each time as one 64-bit value v = seconds | nanoseconds << 34,
// split into i_?time (low 32 bits) and i_?time_extra (high 32), with its own clamps and a
// pre-1970 defect (spec/compact-ext4.md §7.1). The kernel uses the documented encoding
// (2 epoch bits, then nanoseconds << 2). A layer.vhd is read with hcsshim's rules so that
// converting the exported tar again stores the same bits; a sandbox with the kernel's.

import type { TarTime } from './tar-header.js';

/** An inode time as stored: the 32-bit seconds field and the 32-bit extra field. */
export interface StoredTime {
  lo: number;
  extra: number;
}

const TWO_32 = 2 ** 32;
const INT32_MIN = -(2 ** 31);
/** hcsshim clamps later times to this value (lo32 0x7FFFFFFF, extra 3, no nanoseconds). */
const HCSSHIM_MAX_SECONDS = 0x37fffffff;
const ALL_ONES = 0xffffffff;

const isZero = (t: StoredTime): boolean => t.lo === 0 && t.extra === 0;
const same = (a: StoredTime, b: StoredTime): boolean => a.lo === b.lo && a.extra === b.extra;

/** hcsshim's encoding (§7.1); `undefined` is Go's zero time, an absent atime or ctime. */
export function hcsshimEncode(t: TarTime | undefined): StoredTime {
  if (!t) return { lo: 0, extra: 0 };
  if (t.seconds < INT32_MIN) return { lo: 0x80000000, extra: 0 };
  if (t.seconds > HCSSHIM_MAX_SECONDS) return { lo: 0x7fffffff, extra: 3 };
  // A negative int64 has its high 32 bits set, and OR-ing the nanoseconds cannot clear them.
  if (t.seconds < 0) return { lo: (t.seconds + TWO_32) >>> 0, extra: ALL_ONES };
  return { lo: t.seconds % TWO_32, extra: (Math.floor(t.seconds / TWO_32) + t.nanoseconds * 4) >>> 0 };
}

/**
 * A time hcsshim would store as `stored`, `undefined` for 0 (absent). Exact for every value
 * hcsshim writes: pre-1970 times come back without their nanoseconds (hcsshim lost them),
 * and the clamped values come back as a time that clamps to the same bits.
 */
export function hcsshimTimeOf(stored: StoredTime): TarTime | undefined {
  if (isZero(stored)) return undefined;
  if (stored.extra === ALL_ONES && stored.lo >= 0x80000000) return { seconds: stored.lo - TWO_32, nanoseconds: 0 };
  const seconds = stored.lo + (stored.extra & 3) * TWO_32;
  const nanoseconds = stored.extra >>> 2;
  // Not a value hcsshim writes (nanoseconds past 1e9): the nearest time, normalised.
  return { seconds: seconds + Math.floor(nanoseconds / 1e9), nanoseconds: nanoseconds % 1e9 };
}

/**
 * hcsshim's decode and re-encode of a stored time (§7.3), which its opaque-directory
 * handling applies to the directory's times: identity for 1970..2038, not otherwise.
 */
export function hcsshimRestat(stored: StoredTime): StoredTime {
  if (isZero(stored)) return stored;
  let seconds = stored.lo + (stored.extra & 3) * TWO_32;
  let nanoseconds = stored.extra >>> 2;
  if (seconds >= 2 ** 31 && seconds < TWO_32) seconds -= TWO_32;
  seconds += Math.floor(nanoseconds / 1e9);
  nanoseconds %= 1e9;
  return hcsshimEncode({ seconds, nanoseconds });
}

/**
 * The time to write on a directory that is followed by its `.wh..wh..opq` marker: the
 * converter re-encodes the directory's times when it handles the marker, so the tar must
 * carry a time whose re-encoding is `stored`. Such a time exists for everything the marker
 * path itself produces (so layers made from OCI tars round-trip); where none exists
 * (an opaque xattr from a PAX record on a directory dated 2038-2106) the plain time is
 * the best there is.
 */
export function hcsshimOpaqueDirTimeOf(stored: StoredTime): TarTime | undefined {
  const plain = hcsshimTimeOf(stored);
  if (same(hcsshimRestat(hcsshimEncode(plain)), stored)) return plain;
  // A 2038-2106 time re-encodes as the pre-1970 pattern with the same low 32 bits.
  if (stored.extra === ALL_ONES && stored.lo >= 0x80000000) {
    const later = { seconds: stored.lo, nanoseconds: 0 };
    if (same(hcsshimRestat(hcsshimEncode(later)), stored)) return later;
  }
  return plain;
}

/** The kernel's decoding (ext4_decode_extra_time), nanoseconds kept within a second. */
export function kernelTimeOf(stored: StoredTime): TarTime {
  return { seconds: (stored.lo | 0) + (stored.extra & 3) * TWO_32, nanoseconds: Math.min(999999999, stored.extra >>> 2) };
}
