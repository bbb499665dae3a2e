// Inode timestamps (spec §7): i_?time holds the low 32 bits of a 64-bit value v and
// i_?time_extra its high 32 bits. Two encodings:
// - hcsshim's (profile hcsshim), mis-encodings outside 1970..2038 kept on purpose:
//   dm-verity digests depend on these exact bytes;
// - the kernel's (profile fixed), ext4_encode_extra_time / ext4_decode_extra_time:
//   i_?time is the seconds' low 32 bits, read back as signed; the extra field's low 2
//   bits extend the epoch (seconds += bits << 32) and its upper 30 bits are nanoseconds.

import { TarTime, ABSENT_TIME } from "../tar/header";

/** hcsshim's encoding of t as the 64-bit value v. */
export function encodeTime(t: TarTime): u64 {
  if (t.isAbsent()) return 0;
  const s = t.seconds;
  if (s < -0x80000000) return 0x80000000;
  if (s > 0x37fffffff) return 0x37fffffff;
  return <u64>s | (<u64>t.nanoseconds << 34);
}

/** Decodes a stored value the way hcsshim does before re-encoding it (spec §7.3). */
export function decodeTime(v: u64): TarTime {
  if (v == 0) return ABSENT_TIME;
  let s = <i64>(v & 0x3ffffffff);
  if (s > 0x7fffffff && s < 0x100000000) s = <i64><i32><u32>s;
  return TarTime.unix(s, <i64>(v >> 34));
}

/** The kernel's range: signed 32-bit seconds plus up to 3 epochs of 2^32 s (1901-12-13 .. 2446-05-10). */
export const KERNEL_TIME_MIN: i64 = -0x80000000;
export const KERNEL_TIME_MAX: i64 = 0x7fffffff + 3 * 0x100000000;

/**
 * The kernel's encoding. Times outside the range ext4 holds are clamped the way the
 * kernel clamps what it is asked to store (fs/inode.c timestamp_truncate): seconds to
 * the range, and no nanoseconds at either end. An absent time is stored as 1970-01-01.
 */
export function encodeKernelTime(t: TarTime): u64 {
  if (t.isAbsent()) return 0;
  let s = t.seconds;
  let ns = <u64>t.nanoseconds;
  if (s <= KERNEL_TIME_MIN) { s = KERNEL_TIME_MIN; ns = 0; }
  if (s >= KERNEL_TIME_MAX) { s = KERNEL_TIME_MAX; ns = 0; }
  // (s - (s32)s) >> 32 is the epoch: 0 for [-2^31, 2^31), then 1, 2, 3.
  const epoch = <u64>((s - <i64><i32>s) >> 32) & 3;
  return <u64><u32>s | ((epoch | (ns << 2)) << 32);
}

/** The inverse of encodeKernelTime, as the kernel reads the two fields. */
export function decodeKernelTime(v: u64): TarTime {
  const extra = <u32>(v >> 32);
  const s = <i64><i32><u32>v + (<i64>(extra & 3) << 32);
  return TarTime.unix(s, <i64>(extra >> 2));
}
