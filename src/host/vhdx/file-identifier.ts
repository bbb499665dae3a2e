// File type identifier (MS-VHDX §2.2.1): offset 0, 64 KiB, "vhdxfile" and an optional
// UTF-16 creator string. Written once at creation and never rewritten.

export const FILE_IDENTIFIER_OFFSET = 0;
export const FILE_IDENTIFIER_SIZE = 64 * 1024;
const SIGNATURE = Buffer.from('vhdxfile', 'latin1');
const CREATOR_OFFSET = 8;
const CREATOR_BYTES = 512;

export function encodeFileIdentifier(creator: string): Buffer {
  const out = Buffer.alloc(FILE_IDENTIFIER_SIZE);
  SIGNATURE.copy(out, 0);
  out.write(creator.slice(0, CREATOR_BYTES / 2 - 1), CREATOR_OFFSET, CREATOR_BYTES - 2, 'utf16le');
  return out;
}

export function hasFileSignature(bytes: Buffer): boolean {
  return bytes.length >= SIGNATURE.length && bytes.subarray(0, SIGNATURE.length).equals(SIGNATURE);
}

/** The creator string, diagnostic only (§2.2.1 forbids acting on it). */
export function decodeCreator(bytes: Buffer): string {
  const field = bytes.subarray(CREATOR_OFFSET, CREATOR_OFFSET + CREATOR_BYTES);
  const text = field.toString('utf16le');
  const end = text.indexOf('\0');
  return end < 0 ? text : text.slice(0, end);
}
