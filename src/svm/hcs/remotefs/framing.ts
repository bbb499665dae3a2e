// The framing of `remotefs openfile` (spec/driver.md §9): every request and answer is a
// 12-byte big-endian header, uint32 command + uint64 size, followed by size bytes.

export const FileCommand = { Read: 0, Write: 1, Seek: 2, Close: 3, Ok: 4, Failed: 5 } as const;

export const HEADER_SIZE = 12;
/** Seek data: int64 offset + int32 whence. */
export const SEEK_SIZE = 12;

export function encodeHeader(command: number, size: number): Buffer {
  const header = Buffer.alloc(HEADER_SIZE);
  header.writeUInt32BE(command, 0);
  header.writeBigUInt64BE(BigInt(size), 4);
  return header;
}

export function decodeHeader(bytes: Buffer): { command: number; size: number } {
  const size = bytes.readBigUInt64BE(4);
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`frame size ${size} is too large`);
  return { command: bytes.readUInt32BE(0), size: Number(size) };
}

export function encodeSeek(offset: bigint, whence: number): Buffer {
  const data = Buffer.alloc(SEEK_SIZE);
  data.writeBigInt64BE(offset, 0);
  data.writeInt32BE(whence, 8);
  return data;
}

/** The 8-byte big-endian length and JSON of the tar options that precede archive streams. */
export function encodeArchiveOptions(options: object): Buffer {
  const json = Buffer.from(JSON.stringify(options), 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64BE(BigInt(json.length));
  return Buffer.concat([length, json]);
}
