// The name hashes of htree directories (kernel fs/ext4/hash.c, ext4fs_dirhash): legacy,
// half-MD4 and TEA, each reading name bytes as signed or unsigned chars. All arithmetic
// is on unsigned 32-bit words.

export const DX_HASH_LEGACY = 0;
export const DX_HASH_HALF_MD4 = 1;
export const DX_HASH_TEA = 2;
export const DX_HASH_LEGACY_UNSIGNED = 3;
export const DX_HASH_HALF_MD4_UNSIGNED = 4;
export const DX_HASH_TEA_UNSIGNED = 5;

/** The seed used when s_hash_seed is all zero (MD4's initial state). */
const DEFAULT_SEED = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
/** EXT4_HTREE_EOF_32BIT << 1: a hash may not take this value. */
const HTREE_EOF_HASH = 0xfffffffe;

const charAt = (name: Buffer, i: number, unsigned: boolean): number => (unsigned ? name[i] : (name[i] << 24) >> 24);
const rol = (x: number, s: number): number => ((x << s) | (x >>> (32 - s))) >>> 0;

/** The kernel's str2hashbuf: `num` words of name bytes, padded with the remaining length. */
function hashBuffer(name: Buffer, from: number, num: number, unsigned: boolean): number[] {
  let remaining = name.length - from;
  let pad = (remaining | (remaining << 8)) >>> 0;
  pad = (pad | (pad << 16)) >>> 0;
  const out: number[] = [];
  let value = pad;
  remaining = Math.min(remaining, num * 4);
  for (let i = 0; i < remaining; i++) {
    if (i % 4 === 0) value = pad;
    value = (charAt(name, from + i, unsigned) + ((value << 8) >>> 0)) >>> 0;
    if (i % 4 === 3) {
      out.push(value);
      value = pad;
    }
  }
  if (out.length < num && remaining % 4 !== 0) out.push(value);
  while (out.length < num) out.push(pad);
  return out;
}

function halfMd4(state: number[], input: number[]): void {
  const F = (x: number, y: number, z: number) => (z ^ (x & (y ^ z))) >>> 0;
  const G = (x: number, y: number, z: number) => ((x & y) + ((x ^ y) & z)) >>> 0;
  const H = (x: number, y: number, z: number) => (x ^ y ^ z) >>> 0;
  const K2 = 0x5a827999;
  const K3 = 0x6ed9eba1;
  let [a, b, c, d] = state;
  const round = (f: typeof F, w: number, x: number, y: number, z: number, k: number, s: number): number => rol((w + f(x, y, z) + k) >>> 0, s);
  // Round 1: words in order; round 2: odd then even; round 3: the kernel's permutation.
  for (const i of [0, 4]) {
    a = round(F, a, b, c, d, input[i], 3);
    d = round(F, d, a, b, c, input[i + 1], 7);
    c = round(F, c, d, a, b, input[i + 2], 11);
    b = round(F, b, c, d, a, input[i + 3], 19);
  }
  for (const [w0, w1, w2, w3] of [[1, 3, 5, 7], [0, 2, 4, 6]]) {
    a = round(G, a, b, c, d, (input[w0] + K2) >>> 0, 3);
    d = round(G, d, a, b, c, (input[w1] + K2) >>> 0, 5);
    c = round(G, c, d, a, b, (input[w2] + K2) >>> 0, 9);
    b = round(G, b, c, d, a, (input[w3] + K2) >>> 0, 13);
  }
  for (const [w0, w1, w2, w3] of [[3, 7, 2, 6], [1, 5, 0, 4]]) {
    a = round(H, a, b, c, d, (input[w0] + K3) >>> 0, 3);
    d = round(H, d, a, b, c, (input[w1] + K3) >>> 0, 9);
    c = round(H, c, d, a, b, (input[w2] + K3) >>> 0, 11);
    b = round(H, b, c, d, a, (input[w3] + K3) >>> 0, 15);
  }
  state[0] = (state[0] + a) >>> 0;
  state[1] = (state[1] + b) >>> 0;
  state[2] = (state[2] + c) >>> 0;
  state[3] = (state[3] + d) >>> 0;
}

function tea(state: number[], input: number[]): void {
  let sum = 0;
  let [b0, b1] = state;
  const [a, b, c, d] = input;
  for (let n = 0; n < 16; n++) {
    sum = (sum + 0x9e3779b9) >>> 0;
    b0 = (b0 + ((((b1 << 4) >>> 0) + a) ^ (b1 + sum) ^ ((b1 >>> 5) + b))) >>> 0;
    b1 = (b1 + ((((b0 << 4) >>> 0) + c) ^ (b0 + sum) ^ ((b0 >>> 5) + d))) >>> 0;
  }
  state[0] = (state[0] + b0) >>> 0;
  state[1] = (state[1] + b1) >>> 0;
}

function legacy(name: Buffer, unsigned: boolean): number {
  let hash0 = 0x12a3fe2d;
  let hash1 = 0x37abe8f9;
  for (let i = 0; i < name.length; i++) {
    let hash = (hash1 + ((hash0 ^ Math.imul(charAt(name, i, unsigned), 7152373)) >>> 0)) >>> 0;
    if (hash & 0x80000000) hash = (hash - 0x7fffffff) >>> 0;
    hash1 = hash0;
    hash0 = hash;
  }
  return (hash0 << 1) >>> 0;
}

/**
 * The major hash of `name` (bit 0 clear) for hash version 0-5, or undefined for a version
 * this module does not compute (siphash, unknown). `seed` is s_hash_seed (16 bytes).
 */
export function dxHash(name: Buffer, version: number, seed: Buffer): number | undefined {
  const words = [0, 4, 8, 12].map((at) => seed.readUInt32LE(at));
  const state = words.some((w) => w !== 0) ? words : [...DEFAULT_SEED];
  const unsigned = version >= DX_HASH_LEGACY_UNSIGNED;
  let hash: number;
  switch (version) {
    case DX_HASH_LEGACY:
    case DX_HASH_LEGACY_UNSIGNED:
      hash = legacy(name, unsigned);
      break;
    case DX_HASH_HALF_MD4:
    case DX_HASH_HALF_MD4_UNSIGNED:
      for (let at = 0; at < name.length; at += 32) halfMd4(state, hashBuffer(name, at, 8, unsigned));
      hash = state[1];
      break;
    case DX_HASH_TEA:
    case DX_HASH_TEA_UNSIGNED:
      for (let at = 0; at < name.length; at += 16) tea(state, hashBuffer(name, at, 4, unsigned));
      hash = state[0];
      break;
    default:
      return undefined;
  }
  hash = (hash & ~1) >>> 0;
  return hash === HTREE_EOF_HASH ? (HTREE_EOF_HASH - 2) >>> 0 : hash;
}
