// Errors of the remotefs guest tool (spec/driver.md §9): on failure it writes
// `{"ErrString": "...", "ErrNum": n}` to stderr. ErrNum is a Linux errno; the ones the
// daemon tests for (os.IsExist, os.IsNotExist, os.IsPermission) get their own codes.

import { LcowError } from '../../../host/errors.js';

const CODE_OF_ERRNO: ReadonlyMap<number, string> = new Map([
  [17, 'REMOTEFS_EXIST'], // EEXIST
  [39, 'REMOTEFS_EXIST'], // ENOTEMPTY: Go's os.IsExist says yes
  [2, 'REMOTEFS_NOT_EXIST'], // ENOENT
  [13, 'REMOTEFS_PERMISSION'], // EACCES
  [1, 'REMOTEFS_PERMISSION'], // EPERM
]);

export class RemoteFsError extends LcowError {
  /** The guest's errno, 0 when it sent only a string. */
  readonly errno: number;

  constructor(command: string, text: string, errno: number) {
    super(CODE_OF_ERRNO.get(errno) ?? 'REMOTEFS_FAILED', `remotefs ${command}: ${text}`);
    this.name = 'RemoteFsError';
    this.errno = errno;
  }
}

/** The first `{...}` in stderr that is an ExportedError, if any. */
export function exportedErrorOf(command: string, stderr: string): RemoteFsError | undefined {
  const start = stderr.indexOf('{');
  if (start < 0) return undefined;
  for (let end = stderr.lastIndexOf('}'); end > start; end = stderr.lastIndexOf('}', end - 1)) {
    try {
      const value = JSON.parse(stderr.slice(start, end + 1)) as { ErrString?: unknown; ErrNum?: unknown };
      if (typeof value.ErrString !== 'string') return undefined;
      return new RemoteFsError(command, value.ErrString, typeof value.ErrNum === 'number' ? value.ErrNum : 0);
    } catch {
      // not yet the end of the object: try the previous brace
    }
  }
  return undefined;
}
