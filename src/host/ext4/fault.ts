// The ext4 reader's errors: one LcowError each, with a stable code and a one-line message
// that names the inode or block concerned and what is wrong with it.

import { LcowError } from '../errors.js';

/** The image is structurally inconsistent (or a checksum does not match). */
export function corrupt(message: string): LcowError {
  return new LcowError('EXT4_CORRUPT', `corrupt ext4 image: ${message}`);
}

/** The bytes are not an ext4 file system at all (no magic, too small). */
export function notExt4(message: string): LcowError {
  return new LcowError('IMAGE_NOT_EXT4', `not an ext4 image: ${message}`);
}

/** A sound image that uses a feature this reader cannot read. */
export function unsupported(message: string): LcowError {
  return new LcowError('EXT4_UNSUPPORTED', `unsupported ext4 image: ${message}`);
}

/** The caller asked for something the inode is not (entries of a file, readlink of a dir). */
export function wrongType(message: string): LcowError {
  return new LcowError('EXT4_WRONG_TYPE', message);
}
