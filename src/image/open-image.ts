// IMAGE as the command line and the library take it: a `docker save` archive or an OCI
// layout tar (a file, optionally gzip-compressed as a whole), an OCI layout or extracted
// archive in a directory, or "-" for standard input. Layers are read by position (see
// tar-archive.ts), so a stream (a pipe, a FIFO, a compressed archive) is first spooled
// to a temporary file in os.tmpdir(), which is removed at the end and on signals.

import { closeSync, createReadStream, createWriteStream, fstatSync, mkdtempSync, openSync, readSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { LcowError } from '../host/errors.js';
import { systemReason } from '../host/output.js';
import { layerCompression } from './digest-stream.js';
import { DirectoryFiles, type ImageFiles } from './image-files.js';
import { TarArchive } from './tar-archive.js';
import { install, removeTracked, track } from './temporaries.js';

export interface OpenedImage {
  files: ImageFiles;
  close(): void;
}

function openFailed(given: string, err: unknown): LcowError {
  return new LcowError('INPUT_OPEN_FAILED', `cannot open the image ${given}: ${systemReason(err)}`, { cause: err });
}

/** Copies a stream (inflating it when `inflate`) into a fresh temporary file; returns its folder and path. */
async function spool(source: NodeJS.ReadableStream, given: string, inflate?: 'gzip' | 'zstd'): Promise<{ folder: string; path: string }> {
  install();
  const folder = mkdtempSync(join(tmpdir(), 'lcow-image-'));
  track(folder);
  const path = join(folder, 'image.tar');
  try {
    const stages: (NodeJS.ReadableStream | NodeJS.WritableStream)[] = [source];
    if (inflate === 'gzip') stages.push(zlib.createGunzip());
    if (inflate === 'zstd') {
      const factory = (zlib as unknown as { createZstdDecompress?: () => zlib.Gunzip }).createZstdDecompress;
      if (!factory) throw new LcowError('INPUT_UNSUPPORTED_COMPRESSION', `${given} is zstd-compressed, which needs Node.js 22.15 or newer (this is ${process.version}); decompress it first`);
      stages.push(factory());
    }
    stages.push(createWriteStream(path));
    await (pipeline as (...streams: unknown[]) => Promise<void>)(...stages);
  } catch (err) {
    removeTracked(folder);
    if (err instanceof LcowError) throw err;
    const code = (err as { code?: string }).code ?? '';
    if (code.startsWith('Z_') || code.startsWith('ERR_ZSTD')) throw new LcowError('INPUT_CORRUPT_COMPRESSION', `${given}: the ${inflate} stream is corrupt: ${(err as Error).message}`, { cause: err });
    if (code === 'ENOSPC') throw new LcowError('OUTPUT_WRITE_FAILED', `cannot spool ${given} to ${tmpdir()}: ${systemReason(err)} (set TMPDIR to a larger file system)`, { cause: err });
    throw new LcowError('INPUT_READ_FAILED', `cannot read ${given}: ${systemReason(err)}`, { cause: err });
  }
  return { folder, path };
}

function archiveAt(given: string, fd: number, ownsFd: boolean, cleanup: () => void = () => {}): OpenedImage {
  const close = () => {
    if (ownsFd) closeSync(fd);
    cleanup();
  };
  try {
    return { files: new TarArchive(given, fd, fstatSync(fd).size), close };
  } catch (err) {
    close();
    throw err;
  }
}

async function spooledArchive(source: NodeJS.ReadableStream, given: string, inflate?: 'gzip' | 'zstd'): Promise<OpenedImage> {
  const { folder, path } = await spool(source, given, inflate);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    removeTracked(folder);
    throw openFailed(given, err);
  }
  return archiveAt(given, fd, true, () => removeTracked(folder));
}

function headOf(fd: number): Buffer {
  const head = Buffer.alloc(4);
  return head.subarray(0, readSync(fd, head, 0, 4, 0));
}

export async function openImage(given: string): Promise<OpenedImage> {
  if (given === '-') {
    const stats = fstatSync(0);
    if (process.stdin.isTTY) throw new LcowError('USAGE', 'standard input is a terminal: pipe an image to it (docker save IMAGE | lcow image roothash -) or give a file');
    if (stats.isFile()) {
      const compression = layerCompression(headOf(0));
      if (compression === 'none') return archiveAt('standard input', 0, false);
      return spooledArchive(createReadStream('', { fd: 0, autoClose: false, start: 0 }), 'standard input', compression);
    }
    return spooledArchive(process.stdin, 'standard input');
  }
  let stats;
  try {
    stats = statSync(given);
  } catch (err) {
    throw openFailed(given, err);
  }
  if (stats.isDirectory()) return { files: new DirectoryFiles(given, given), close: () => {} };
  if (stats.isFIFO() || stats.isSocket()) return spooledArchive(createReadStream(given), given);
  let fd: number;
  try {
    fd = openSync(given, 'r');
  } catch (err) {
    throw openFailed(given, err);
  }
  const compression = layerCompression(headOf(fd));
  if (compression === 'none') return archiveAt(given, fd, true);
  closeSync(fd);
  return spooledArchive(createReadStream(given), given, compression);
}
