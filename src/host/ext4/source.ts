// Byte sources: positional reads over an image file, a layer.vhd (its VHD footer left
// out) or an in-memory buffer. Images can be 16 GiB sparse files, so nothing ever reads a
// whole file; the ext4 reader asks for the blocks it needs.

import { VHD_FOOTER_SIZE, isVhdFooter } from '../vhd-footer.js';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { LcowError } from '../errors.js';

export interface ByteSource {
  readonly size: number;
  /** Reads `length` bytes at `offset`; bytes past the end read as zero. */
  read(offset: number, length: number): Buffer;
  /** Fills `target` from `offset` without zeroing it first; returns the bytes read (short only at the end). */
  readInto?(target: Uint8Array, offset: number): number;
  /** Releases the file; calling it again does nothing. */
  close(): void;
}


function openFailed(path: string, err: unknown): LcowError {
  const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  return new LcowError('INPUT_OPEN_FAILED', `cannot open image ${path}: ${reason}`, { cause: err });
}

function readFailed(path: string, offset: number, err: unknown): LcowError {
  const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  return new LcowError('INPUT_READ_FAILED', `cannot read image ${path} at byte ${offset}: ${reason}`, { cause: err });
}

/** Positional reads of `path` up to `size` (less than the file size when a footer is hidden). */
function fileSource(path: string, fd: number, size: number): ByteSource {
  let closed = false;
  const readInto = (target: Uint8Array, offset: number): number => {
    let done = 0;
    const want = Math.max(0, Math.min(target.length, size - offset));
    try {
      while (done < want) {
        const n = readSync(fd, target, done, want - done, offset + done);
        if (n === 0) break;
        done += n;
      }
    } catch (err) {
      throw readFailed(path, offset + done, err);
    }
    return done;
  };
  return {
    size,
    read(offset, length) {
      const out = Buffer.allocUnsafe(length);
      const done = readInto(out, offset);
      out.fill(0, done);
      return out;
    },
    readInto,
    // Idempotent: a caller may close a source the reader already closed.
    close() {
      if (closed) return;
      closed = true;
      closeSync(fd);
    },
  };
}

function openFd(path: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw openFailed(path, err);
  }
  try {
    return { fd, size: fstatSync(fd).size };
  } catch (err) {
    closeSync(fd);
    throw openFailed(path, err);
  }
}

/** Every byte of the file at `path`. */
export function openFileSource(path: string): ByteSource {
  const { fd, size } = openFd(path);
  return fileSource(path, fd, size);
}

/**
 * A raw ext4 image or a layer.vhd: when the last 512 bytes are a VHD footer (cookie and
 * checksum), the source ends before them. The checksum keeps a raw image whose last
 * sector merely starts with "conectix" whole.
 */
export function openImageSource(path: string): ByteSource {
  const { fd, size } = openFd(path);
  const whole = fileSource(path, fd, size);
  try {
    if (size < VHD_FOOTER_SIZE || !isVhdFooter(whole.read(size - VHD_FOOTER_SIZE, VHD_FOOTER_SIZE))) return whole;
  } catch (err) {
    whole.close();
    throw err;
  }
  return fileSource(path, fd, size - VHD_FOOTER_SIZE);
}

/** An in-memory image (tests, small images). */
export function bufferSource(image: Buffer): ByteSource {
  return {
    size: image.length,
    read(offset, length) {
      const out = Buffer.alloc(length);
      if (offset < image.length) image.copy(out, 0, offset, Math.min(image.length, offset + length));
      return out;
    },
    readInto(target, offset) {
      if (offset >= image.length) return 0;
      return image.copy(target, 0, offset, Math.min(image.length, offset + target.length));
    },
    close() {},
  };
}
