// The engine's one error table. The host mirrors it in src/host/errors.ts; keep the
// numbers stable, they cross the Wasm boundary. The engine never throws: an operation
// that fails records a Failure and returns ACTION_ERROR.

export const OK: i32 = 0;
// Tar stream errors (Go archive/tar's wording is kept in the message).
export const TAR_INVALID_HEADER: i32 = 1; // "archive/tar: invalid tar header"
export const TAR_UNEXPECTED_EOF: i32 = 2; // "unexpected EOF"
export const TAR_FIELD_TOO_LONG: i32 = 3; // "archive/tar: header field too long"
export const TAR_SPARSE_MISSING_DATA: i32 = 4; // "archive/tar: sparse file references non-existent data"
export const TAR_SPARSE_UNREFERENCED_DATA: i32 = 5; // "archive/tar: sparse file contains unreferenced data"
// File-system model errors (hcsshim compactext4's wording).
export const EXT4_INVALID_NAME: i32 = 10;
export const EXT4_PATH_NOT_FOUND: i32 = 11;
export const EXT4_FILE_NOT_FOUND: i32 = 12;
export const EXT4_DIR_REPLACED_BY_FILE: i32 = 13;
export const EXT4_FILE_REPLACED_BY_DIR: i32 = 14;
export const EXT4_OVERWRITE_DATA: i32 = 15;
export const EXT4_DIR_LINK_LIMIT: i32 = 16;
export const EXT4_LINK_ORPHANS: i32 = 17;
export const EXT4_LINK_TO_DIR: i32 = 18;
export const EXT4_LINK_LIMIT: i32 = 19;
export const EXT4_FILE_TOO_BIG: i32 = 20;
export const EXT4_XATTR_NO_ROOM: i32 = 21;
export const EXT4_DISK_FULL: i32 = 22;
export const EXT4_INVALID_MODE: i32 = 23;
// Profile fixed only: what ext4 cannot hold as the tar gives it.
export const EXT4_OWNER_OUT_OF_RANGE: i32 = 24;
export const EXT4_EMPTY_SYMLINK: i32 = 25;
export const EXT4_INVALID_ACL: i32 = 26;
// Engine limits and host protocol errors.
export const ENGINE_OUT_OF_MEMORY: i32 = 30;
export const ENGINE_BAD_CALL: i32 = 31;

/** The recorded failure: a stable code, the full message (bytes as latin1), the entry. */
export class Failure {
  code: i32 = OK;
  message: string = "";
  entry: string = "";
  inputOffset: f64 = -1;
}

export const failure = new Failure();

/** Records the first failure; later ones are ignored so the root cause is kept. */
export function fail(code: i32, message: string): void {
  if (failure.code != OK) return;
  failure.code = code;
  failure.message = message;
}

export function failed(): bool {
  return failure.code != OK;
}

/** Wraps the recorded message in a context prefix, the way Go's errors.Wrapf does. */
export function wrapFailure(prefix: string): void {
  failure.message = prefix + ": " + failure.message;
}
