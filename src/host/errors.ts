// Mirror of assembly/errors.ts: the engine's numeric codes as stable string codes.
// Keep the numbers in step with the engine.

export const ENGINE_ERROR_CODES: Record<number, string> = {
  1: 'TAR_INVALID_HEADER',
  2: 'TAR_UNEXPECTED_EOF',
  3: 'TAR_FIELD_TOO_LONG',
  4: 'TAR_SPARSE_MISSING_DATA',
  5: 'TAR_SPARSE_UNREFERENCED_DATA',
  10: 'EXT4_INVALID_NAME',
  11: 'EXT4_PATH_NOT_FOUND',
  12: 'EXT4_FILE_NOT_FOUND',
  13: 'EXT4_DIR_REPLACED_BY_FILE',
  14: 'EXT4_FILE_REPLACED_BY_DIR',
  15: 'EXT4_OVERWRITE_DATA',
  16: 'EXT4_DIR_LINK_LIMIT',
  17: 'EXT4_LINK_ORPHANS',
  18: 'EXT4_LINK_TO_DIR',
  19: 'EXT4_LINK_LIMIT',
  20: 'EXT4_FILE_TOO_BIG',
  21: 'EXT4_XATTR_NO_ROOM',
  22: 'EXT4_DISK_FULL',
  23: 'EXT4_INVALID_MODE',
  24: 'EXT4_OWNER_OUT_OF_RANGE',
  25: 'EXT4_EMPTY_SYMLINK',
  26: 'EXT4_INVALID_ACL',
  30: 'ENGINE_OUT_OF_MEMORY',
  31: 'ENGINE_BAD_CALL',
};

/** Errors of the host itself, outside the engine's table. */
export type HostErrorCode =
  | 'INPUT_UNSUPPORTED_COMPRESSION'
  | 'INPUT_OPEN_FAILED'
  | 'INPUT_READ_FAILED'
  | 'INPUT_CORRUPT_COMPRESSION'
  | 'EXT4_CORRUPT'
  | 'EXT4_UNSUPPORTED'
  | 'EXT4_WRONG_TYPE'
  | 'INPUT_NOT_TAR'
  | 'IMAGE_NOT_EXT4'
  | 'INVALID_OPTION'
  | 'OUTPUT_WRITE_FAILED'
  | 'ENGINE_TRAPPED'
  | 'USAGE';

/**
 * One error type for everything the converter reports. `message` is exactly the text
 * hcsshim would print for engine errors, so scripts that match on it keep working.
 */
export class LcowError extends Error {
  readonly code: string;
  readonly path?: string;
  readonly offset?: number;

  constructor(code: string, message: string, details: { path?: string; offset?: number; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'LcowError';
    this.code = code;
    this.path = details.path;
    this.offset = details.offset;
  }
}

export function engineErrorCode(code: number): string {
  return ENGINE_ERROR_CODES[code] ?? `ENGINE_ERROR_${code}`;
}
