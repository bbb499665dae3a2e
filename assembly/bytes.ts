// Byte helpers. Names and PAX values are arbitrary bytes (not UTF-8); the engine keeps
// them as "latin1 strings", one char code per byte, so that string comparison is Go's
// byte order and Map<string,...> hashing works unchanged.

export function latin1FromMemory(ptr: usize, len: i32): string {
  if (len <= 0) return "";
  const out = changetype<string>(__new(<usize>len << 1, idof<string>()));
  const dst = changetype<usize>(out);
  for (let i = 0; i < len; i++) store<u16>(dst + (<usize>i << 1), load<u8>(ptr + <usize>i));
  return out;
}



/** Writes the latin1 string's bytes at ptr. */
export function latin1Store(s: string, ptr: usize): void {
  const src = changetype<usize>(s);
  for (let i = 0; i < s.length; i++) store<u8>(ptr + <usize>i, <u8>load<u16>(src + (<usize>i << 1)));
}

export function byteAt(s: string, i: i32): i32 {
  return <i32>load<u16>(changetype<usize>(s) + (<usize>i << 1));
}

export function hasByte(s: string, b: i32): bool {
  for (let i = 0; i < s.length; i++) if (byteAt(s, i) == b) return true;
  return false;
}

/** Go's strconv.ParseInt(s, 10, 64) success flag plus value; no underscores, optional sign. */
export class ParsedInt {
  ok: bool = false;
  value: i64 = 0;
}

export function parseDecimal(s: string): ParsedInt {
  const r = new ParsedInt();
  let i = 0;
  let negative = false;
  if (s.length > 0 && (byteAt(s, 0) == 0x2b || byteAt(s, 0) == 0x2d)) {
    negative = byteAt(s, 0) == 0x2d;
    i = 1;
  }
  if (i >= s.length) return r;
  // Accumulate as unsigned and check the signed range at the end, as Go does.
  let magnitude: u64 = 0;
  const limit: u64 = <u64>1 << 63; // |i64.MIN_VALUE|
  for (; i < s.length; i++) {
    const c = byteAt(s, i);
    if (c < 0x30 || c > 0x39) return r;
    if (magnitude > (limit + 9) / 10) return r;
    magnitude = magnitude * 10 + <u64>(c - 0x30);
    if (magnitude > limit) return r;
  }
  if (!negative && magnitude == limit) return r;
  r.ok = true;
  r.value = negative ? -(<i64>magnitude) : <i64>magnitude;
  return r;
}

export function formatDecimal(v: i64): string {
  return v.toString();
}

export function formatOctal(v: u32): string {
  if (v == 0) return "0";
  let s = "";
  while (v > 0) {
    s = String.fromCharCode(0x30 + <i32>(v & 7)) + s;
    v >>= 3;
  }
  return s;
}
