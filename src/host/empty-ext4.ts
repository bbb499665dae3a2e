// The empty ext4 file system of a sandbox (spec/driver.md §7.3, §8.4), written by the
// engine (assembly/mkfs/): equal to what `mke2fs -t ext4 -E lazy_itable_init=0,nodiscard
// -O ^has_journal,sparse_super2,^resize_inode` (e2fsprogs 1.47.0, Debian 12's
// mke2fs.conf) writes for the same size, UUID, hash seed and creation time.

import { randomUUID } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { Engine, Action } from './engine.js';
import { LcowError } from './errors.js';

/** mke2fs uses its "small" type (1 KiB blocks) below 512 MiB; that layout is not written. */
export const EMPTY_EXT4_MIN_SIZE = 512 * 2 ** 20;
/** From 16 TiB mke2fs uses its "huge" type; not written either. */
export const EMPTY_EXT4_MAX_SIZE = 16 * 2 ** 40;

export interface EmptyExt4Options {
  /** Bytes of the disk; the file system covers whole 4 KiB blocks of it, as mke2fs's does. */
  sizeBytes: number;
  /** 16 bytes (mke2fs -U); a random version-4 UUID by default, as mke2fs. */
  uuid?: Uint8Array;
  /** 16 bytes (mke2fs -E hash_seed=); random by default, as mke2fs. */
  hashSeed?: Uint8Array;
  /** Unix seconds of creation (E2FSPROGS_FAKE_TIME); default now. */
  time?: number;
  /** Owner of the root directory (mke2fs -E root_owner=uid:gid); default 0:0. */
  rootUid?: number;
  rootGid?: number;
}

/** A piece of the file system: `data` goes at byte `offset`; it is the caller's to keep. */
export interface Ext4Piece {
  offset: number;
  data: Uint8Array;
}

function randomUuidBytes(): Uint8Array {
  return Buffer.from(randomUUID().replace(/-/g, ''), 'hex');
}

function checkId(name: string, value: Uint8Array | undefined): Uint8Array {
  if (value === undefined) return randomUuidBytes();
  if (!(value instanceof Uint8Array) || value.length !== 16) {
    throw new LcowError('USAGE', `empty ext4: ${name} must be 16 bytes`);
  }
  return value;
}

function checkU32(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new LcowError('USAGE', `empty ext4: ${name} must be an integer from 0 to 4294967295, not ${v}`);
  }
  return v;
}

function checkSize(sizeBytes: number): void {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < EMPTY_EXT4_MIN_SIZE || sizeBytes >= EMPTY_EXT4_MAX_SIZE) {
    throw new LcowError('EXT4_EMPTY_SIZE_UNSUPPORTED', `empty ext4: size ${sizeBytes} is not supported: it must be a whole number of bytes from 512 MiB up to (not including) 16 TiB`);
  }
}

/**
 * The non-zero pieces of an empty ext4 file system of `sizeBytes`, as mke2fs writes it;
 * everything else is zero. Offsets ascend. The engine emits them a few MiB at a time,
 * so memory stays bounded (a 1 TiB file system has about 3.5 MiB of pieces in all).
 */
export function emptyExt4Writes(options: EmptyExt4Options): Iterable<Ext4Piece> {
  // Checked now, not on the first iteration, so callers fail before they create files.
  checkSize(options.sizeBytes);
  const uuid = checkId('uuid', options.uuid);
  const hashSeed = checkId('hashSeed', options.hashSeed);
  const time = checkU32('time', options.time, Math.floor(Date.now() / 1000));
  const rootUid = checkU32('rootUid', options.rootUid, 0);
  const rootGid = checkU32('rootGid', options.rootGid, 0);
  return pieces(options.sizeBytes, time, uuid, hashSeed, rootUid, rootGid);
}

function* pieces(sizeBytes: number, time: number, uuid: Uint8Array, hashSeed: Uint8Array, rootUid: number, rootGid: number): Generator<Ext4Piece> {
  const engine = new Engine(0, undefined);
  let action = engine.emptyExt4Begin(sizeBytes, time, uuid, hashSeed, rootUid, rootGid);
  for (;;) {
    if (action === Action.Error) throw engine.failure();
    // Copies: the views point into engine memory that the next step reuses.
    yield* engine.writes().map((w) => ({ offset: w.offset, data: w.bytes.slice() }));
    if (action === Action.Done) return;
    action = engine.emptyExt4Step();
  }
}

/**
 * Writes the empty file system into a new sparse raw file of exactly `sizeBytes`
 * (replacing any file there); on failure the file is removed.
 */
export async function writeEmptyExt4Raw(path: string, options: EmptyExt4Options): Promise<void> {
  const writes = emptyExt4Writes(options);
  let file: FileHandle | undefined;
  try {
    file = await open(path, 'w');
    await file.truncate(options.sizeBytes);
    for (const piece of writes) await file.write(piece.data, 0, piece.data.length, piece.offset);
    await file.close();
  } catch (err) {
    await file?.close().catch(() => undefined);
    if (file) await rm(path, { force: true }).catch(() => undefined);
    if (err instanceof LcowError) throw err;
    throw new LcowError('OUTPUT_WRITE_FAILED', `cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
}
