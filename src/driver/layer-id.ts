// Layer ids name folders of the data root. An id must be one path element, so that no
// id (a daemon bug, a hostile plugin request) can name anything outside the root.

import { LcowError } from '../host/errors.js';

/** Longest file name most file systems hold (ext4, NTFS: 255). */
const MAX_ID_LENGTH = 255 - 9; // room for the -removing suffix

/** Names in the data root that are not layers (spec §2, the service VMs' mounts, the plugin's pid file). */
export const RESERVED_FOLDERS: ReadonlySet<string> = new Set(['cache', 'scratch', 'svm', 'plugin.pid']);

export const REMOVING_SUFFIX = '-removing';

/** Refuses an id that is not a single, ordinary path element; returns it unchanged. */
export function checkLayerId(id: unknown, what = 'layer id'): string {
  if (typeof id !== 'string' || id === '') throw invalid(id, what, 'it is empty');
  if (RESERVED_FOLDERS.has(id.toLowerCase())) throw invalid(id, what, 'that name is one of the data root\'s own folders');
  if (id.endsWith(REMOVING_SUFFIX)) throw invalid(id, what, `names ending in ${REMOVING_SUFFIX} are folders being removed`);
  if (id.includes('/') || id.includes('\\')) throw invalid(id, what, 'it contains a path separator');
  if (id === '.' || id === '..') throw invalid(id, what, 'it names a directory, not a layer');
  if (id.includes('\0')) throw invalid(id, what, 'it contains a NUL byte');
  // A Windows drive-relative name ("C:x") or stream ("x:y") would escape too.
  if (id.includes(':')) throw invalid(id, what, 'it contains ":"');
  if (id.length > MAX_ID_LENGTH) throw invalid(id, what, `it is longer than ${MAX_ID_LENGTH} characters`);
  return id;
}

/** A parent may be absent (""), otherwise it follows the id rule. */
export function checkParentId(parent: unknown): string {
  if (parent === undefined || parent === null || parent === '') return '';
  return checkLayerId(parent, 'parent id');
}

function invalid(id: unknown, what: string, why: string): LcowError {
  return new LcowError('DRIVER_INVALID_ID', `lcowdriver: invalid ${what} ${JSON.stringify(id)}: ${why}; an id must be a single path element`);
}
