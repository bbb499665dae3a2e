// The VHDX modules' error codes. Every refusal is one LcowError with one of these codes
// and a one-line message naming the file, the structure and why.

import { LcowError } from '../errors.js';

export type VhdxErrorCode =
  /** The file breaks a MUST of MS-VHDX (bad signature or checksum, overlap, out of range). */
  | 'VHDX_CORRUPT'
  /** A valid VHDX this implementation does not handle (differencing disks, unknown required items). */
  | 'VHDX_UNSUPPORTED'
  /** A layout operation needs payload block i at base + i * blockSize and this file is not so. */
  | 'VHDX_NOT_LINEAR'
  /** createVhdx was given options or writes it cannot honour. */
  | 'VHDX_INVALID_ARGUMENT'
  /** The operating system refused a read or write (ENOENT, EACCES, ENOSPC, ...). */
  | 'VHDX_IO_FAILED';

export function vhdxError(code: VhdxErrorCode, path: string, reason: string, cause?: unknown): LcowError {
  return new LcowError(code, `${path}: ${reason}`, { path, cause });
}

/** Runs an fs call, turning an OS error into VHDX_IO_FAILED with what was being done. */
export function ioGuard<T>(path: string, doing: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    if (error instanceof LcowError) throw error;
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw vhdxError('VHDX_IO_FAILED', path, `${doing}: ${reason}`, error);
  }
}
