// The one naming rule for files written under a temporary name and renamed into place
// (converter output, driver files, sparse copies): ".NAME.XXXXXXXX.tmp" beside the
// target, so a crash leaves something recognisable that the next run can delete.

import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

export function temporaryNameFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
}

/** True for names temporaryNameFor makes. */
export function isTemporaryName(name: string): boolean {
  return /^\..+\.[0-9a-f]{8}\.tmp$/.test(name);
}
