// The fixed VHD footer (spec/compact-ext4.md §19): 512 big-endian bytes at the very end
// of a layer.vhd. The one place that reads it: the ext4 source that leaves it out,
// inspect, input recognition and the linux backend's attach all ask here. (The engine
// builds footers; this is the host's reading side.)

export const VHD_FOOTER_SIZE = 512;
export const VHD_COOKIE = 'conectix';

export const VHD = {
  cookie: 0,
  features: 8,
  fileFormatVersion: 12,
  dataOffset: 16,
  timestamp: 24,
  creatorApplication: 28,
  creatorVersion: 32,
  creatorHostOs: 36,
  originalSize: 40,
  currentSize: 48,
  diskGeometry: 56,
  diskType: 60,
  checksum: 64,
  uniqueId: 68,
  savedState: 84,
} as const;

export interface VhdFooter {
  cookie: string;
  features: number;
  fileFormatVersion: number;
  timestamp: number;
  creatorApplicationHex: string;
  creatorVersion: number;
  originalSize: number;
  currentSize: number;
  diskGeometry: number;
  diskType: number;
  checksum: number;
  checksumValid: boolean;
  uniqueIdHex: string;
}

/** Ones' complement of the byte sum with the checksum field counted as zero (§19). */
export function vhdChecksum(footer: Buffer): number {
  let sum = 0;
  for (let i = 0; i < VHD_FOOTER_SIZE; i++) {
    if (i < VHD.checksum || i >= VHD.checksum + 4) sum += footer[i];
  }
  return ~sum >>> 0;
}

/** Parses the last 512 bytes of a file; null when they do not start with `conectix`. */
export function parseVhdFooter(footer: Buffer): VhdFooter | null {
  if (footer.length !== VHD_FOOTER_SIZE) return null;
  const cookie = footer.toString('latin1', VHD.cookie, VHD.cookie + 8);
  if (cookie !== VHD_COOKIE) return null;
  const checksum = footer.readUInt32BE(VHD.checksum);
  return {
    cookie,
    features: footer.readUInt32BE(VHD.features),
    fileFormatVersion: footer.readUInt32BE(VHD.fileFormatVersion),
    timestamp: footer.readUInt32BE(VHD.timestamp),
    creatorApplicationHex: footer.toString('hex', VHD.creatorApplication, VHD.creatorApplication + 4),
    creatorVersion: footer.readUInt32BE(VHD.creatorVersion),
    originalSize: Number(footer.readBigUInt64BE(VHD.originalSize)),
    currentSize: Number(footer.readBigUInt64BE(VHD.currentSize)),
    diskGeometry: footer.readUInt32BE(VHD.diskGeometry),
    diskType: footer.readUInt32BE(VHD.diskType),
    checksum,
    checksumValid: checksum === vhdChecksum(footer),
    uniqueIdHex: footer.toString('hex', VHD.uniqueId, VHD.uniqueId + 16),
  };
}

/** True when `footer` is a VHD footer: the cookie and a correct checksum. */
export function isVhdFooter(footer: Uint8Array): boolean {
  if (footer.length !== VHD_FOOTER_SIZE) return false;
  const bytes = Buffer.from(footer.buffer, footer.byteOffset, footer.length);
  return bytes.toString('latin1', VHD.cookie, VHD.cookie + 8) === VHD_COOKIE && bytes.readUInt32BE(VHD.checksum) === vhdChecksum(bytes);
}

/** The cookie and file format version 1.0 at `offset`: enough to recognise a VHD (a dynamic VHD repeats its footer at byte 0), checksum or not. */
export function looksLikeVhdFooter(bytes: Uint8Array, offset = 0): boolean {
  if (bytes.length < offset + 16) return false;
  for (let i = 0; i < VHD_COOKIE.length; i++) if (bytes[offset + i] !== VHD_COOKIE.charCodeAt(i)) return false;
  return bytes[offset + 12] === 0 && bytes[offset + 13] === 1 && bytes[offset + 14] === 0 && bytes[offset + 15] === 0;
}
