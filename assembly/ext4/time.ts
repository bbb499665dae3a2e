// hcsshim's timestamp encoding (spec §7), mis-encodings outside 1970..2038 kept on
// purpose: dm-verity digests depend on these exact bytes.

import { TarTime, ABSENT_TIME } from "../tar/header";

/** Encodes to the 64-bit value v: lo32 goes in i_?time, v >> 32 in i_?time_extra. */
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
