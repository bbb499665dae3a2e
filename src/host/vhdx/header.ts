// Headers (MS-VHDX §2.2.2): two 4 KiB copies at 64 KiB and 128 KiB. A header is valid
// when its signature and CRC-32C check; the current one is the valid one, or the valid
// one with the larger sequence number. Updates overwrite the non-current copy.

import { crc32c } from '../crc32c.js';
import { GUID_SIZE } from './guid.js';

export const HEADER_OFFSETS = [64 * 1024, 128 * 1024] as const;
export const HEADER_SIZE = 4096;
const SIGNATURE = 0x64616568; // "head"
const CHECKSUM_OFFSET = 4;
const SEQUENCE_OFFSET = 8;
const FILE_WRITE_GUID_OFFSET = 16;
const DATA_WRITE_GUID_OFFSET = 32;
const LOG_GUID_OFFSET = 48;
const LOG_VERSION_OFFSET = 64;
const VERSION_OFFSET = 66;
const LOG_LENGTH_OFFSET = 68;
const LOG_OFFSET_OFFSET = 72;
export const VHDX_VERSION = 1;

export interface VhdxHeader {
  sequenceNumber: bigint;
  fileWriteGuid: Uint8Array;
  dataWriteGuid: Uint8Array;
  /** Zero: the log is empty and must not be replayed (§2.2.2). */
  logGuid: Uint8Array;
  logVersion: number;
  version: number;
  logLength: number;
  logOffset: number;
}

export function encodeHeader(header: VhdxHeader): Buffer {
  const out = Buffer.alloc(HEADER_SIZE);
  out.writeUInt32LE(SIGNATURE, 0);
  out.writeBigUInt64LE(header.sequenceNumber, SEQUENCE_OFFSET);
  out.set(header.fileWriteGuid, FILE_WRITE_GUID_OFFSET);
  out.set(header.dataWriteGuid, DATA_WRITE_GUID_OFFSET);
  out.set(header.logGuid, LOG_GUID_OFFSET);
  out.writeUInt16LE(header.logVersion, LOG_VERSION_OFFSET);
  out.writeUInt16LE(header.version, VERSION_OFFSET);
  out.writeUInt32LE(header.logLength, LOG_LENGTH_OFFSET);
  out.writeBigUInt64LE(BigInt(header.logOffset), LOG_OFFSET_OFFSET);
  out.writeUInt32LE(crc32c(out), CHECKSUM_OFFSET);
  return out;
}

/** The header in these 4 KiB, or why it is not valid (signature, checksum). */
export function decodeHeader(bytes: Buffer): VhdxHeader | string {
  if (bytes.length < HEADER_SIZE) return 'truncated';
  if (bytes.readUInt32LE(0) !== SIGNATURE) return 'bad signature';
  const stored = bytes.readUInt32LE(CHECKSUM_OFFSET);
  const copy = Buffer.from(bytes.subarray(0, HEADER_SIZE));
  copy.writeUInt32LE(0, CHECKSUM_OFFSET);
  if (crc32c(copy) !== stored) return 'bad CRC-32C';
  const guid = (offset: number) => new Uint8Array(copy.subarray(offset, offset + GUID_SIZE));
  return {
    sequenceNumber: copy.readBigUInt64LE(SEQUENCE_OFFSET),
    fileWriteGuid: guid(FILE_WRITE_GUID_OFFSET),
    dataWriteGuid: guid(DATA_WRITE_GUID_OFFSET),
    logGuid: guid(LOG_GUID_OFFSET),
    logVersion: copy.readUInt16LE(LOG_VERSION_OFFSET),
    version: copy.readUInt16LE(VERSION_OFFSET),
    logLength: copy.readUInt32LE(LOG_LENGTH_OFFSET),
    logOffset: Number(copy.readBigUInt64LE(LOG_OFFSET_OFFSET)),
  };
}

export interface CurrentHeader {
  header: VhdxHeader;
  /** 0 for the copy at 64 KiB, 1 for the one at 128 KiB. */
  index: 0 | 1;
  /** Why the other copy is not valid, when it is not. */
  otherProblem?: string;
}

/**
 * §2.2.2: the current header of the two decoded copies, or why there is none. Two valid
 * copies with equal sequence numbers are accepted only when identical (Disk2VHD writes
 * them so, as qemu notes); otherwise no header is current.
 */
export function currentHeader(first: VhdxHeader | string, second: VhdxHeader | string): CurrentHeader | string {
  if (typeof first === 'string' && typeof second === 'string') {
    return `no valid header (header 1: ${first}; header 2: ${second})`;
  }
  if (typeof second === 'string') return { header: first as VhdxHeader, index: 0, otherProblem: second };
  if (typeof first === 'string') return { header: second, index: 1, otherProblem: first };
  if (first.sequenceNumber > second.sequenceNumber) return { header: first, index: 0 };
  if (second.sequenceNumber > first.sequenceNumber) return { header: second, index: 1 };
  if (encodeHeader(first).equals(encodeHeader(second))) return { header: first, index: 0 };
  return `the two headers differ but have the same sequence number ${first.sequenceNumber}`;
}
