// Windows paths for Win32 calls that must work past MAX_PATH (260): `\\?\C:\...` and
// `\\?\UNC\server\share\...`. The `\\?\` prefix switches off Windows' own normalisation,
// so the path is made absolute and normalised here first (slashes, `.` and `..`).

import { win32 } from 'node:path';

export function longPath(path: string): string {
  if (path.startsWith('\\\\?\\') || path.startsWith('\\\\.\\')) return path;
  const absolute = win32.resolve(path);
  if (absolute.startsWith('\\\\')) return `\\\\?\\UNC\\${absolute.slice(2)}`;
  return `\\\\?\\${absolute}`;
}
