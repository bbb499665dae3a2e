// What a file looks like from its first bytes (and, for a fixed VHD, its last 512): used
// to refuse an image given where a tar is expected, and a tar or text given where an
// image is expected, with a hint instead of a misleading parse error. Only signatures
// that a tar cannot start with are trusted; text is judged only after a tar parse failed.

import { looksLikeVhdFooter } from './vhd-footer.js';

export type FileKind = 'ext4' | 'vhd' | 'vhdx' | 'qcow2' | 'squashfs' | 'iso9660' | 'tar' | 'text' | 'empty' | 'unknown';

export const EXT4_MAGIC_OFFSET = 1080; // superblock at 1024, s_magic at 0x38
export const EXT4_MAGIC = 0xef53;
/** Bytes of the head the checks below look at. */
export const SNIFF_BYTES = 32 * 1024 + 8;

const TAR_MAGIC_OFFSET = 257;

export const KIND_NAMES: Record<FileKind, string> = {
  ext4: 'an ext4 image',
  vhd: 'a VHD',
  vhdx: 'a VHDX',
  qcow2: 'a qcow2 image',
  squashfs: 'a squashfs image',
  iso9660: 'an ISO 9660 image',
  tar: 'a tar',
  text: 'text',
  empty: 'empty',
  unknown: 'unknown',
};

function ascii(buf: Uint8Array, offset: number, text: string): boolean {
  if (buf.length < offset + text.length) return false;
  for (let i = 0; i < text.length; i++) if (buf[offset + i] !== text.charCodeAt(i)) return false;
  return true;
}

function isZero(buf: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Disk image formats recognised from `head` (the file's first bytes) and `tail` (its last
 * 512, when the size is known). An ext4 image counts only with its first 1024 bytes
 * zero: a tar that starts with two zero blocks is an empty archive, so no tar with
 * content can be mistaken for one.
 */
export function imageKind(head: Uint8Array, tail?: Uint8Array): FileKind | undefined {
  if (ascii(head, 0, 'QFI\xfb')) return 'qcow2';
  if (ascii(head, 0, 'vhdxfile')) return 'vhdx';
  if (looksLikeVhdFooter(head)) return 'vhd';
  if (ascii(head, 0, 'hsqs')) return 'squashfs';
  if (head.length >= EXT4_MAGIC_OFFSET + 2 && isZero(head, 0, 1024) && head[EXT4_MAGIC_OFFSET] === (EXT4_MAGIC & 0xff) && head[EXT4_MAGIC_OFFSET + 1] === EXT4_MAGIC >> 8) {
    return tail && looksLikeVhdFooter(tail) ? 'vhd' : 'ext4';
  }
  if (ascii(head, 32769, 'CD001') && isZero(head, 0, 512)) return 'iso9660';
  if (tail && tail.length === 512 && looksLikeVhdFooter(tail) && isZero(head, 0, 1024)) return 'vhd';
  return undefined;
}

/** Text: no NUL and only printable characters and whitespace in the first 512 bytes. */
export function looksLikeText(head: Uint8Array): boolean {
  const n = Math.min(head.length, 512);
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = head[i];
    if (c === 0 || (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return false;
  }
  return true;
}

/** Any kind, for a file expected to be an image: the image formats, a tar, text. */
export function fileKind(head: Uint8Array, tail?: Uint8Array): FileKind {
  if (head.length === 0) return 'empty';
  const image = imageKind(head, tail);
  if (image) return image;
  if (ascii(head, TAR_MAGIC_OFFSET, 'ustar')) return 'tar';
  if (looksLikeText(head)) return 'text';
  return 'unknown';
}

/** The first characters of a text head, quoted for a message. */
export function textExcerpt(head: Uint8Array): string {
  const line = Buffer.from(head.subarray(0, 40)).toString('latin1').split(/[\r\n]/)[0];
  return JSON.stringify(line.length < 40 ? line : `${line}...`);
}
