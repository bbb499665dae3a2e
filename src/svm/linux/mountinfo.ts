// /proc/self/mountinfo (proc(5)): what is mounted where, so that the mounts of one data
// root can be found by path after a crash.

import { readFileSync } from 'node:fs';

export interface MountEntry {
  mountId: number;
  parentId: number;
  mountPoint: string;
  fsType: string;
  /** The mounted device or "overlay". */
  source: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** `36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue` */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (separator < 0 || fields.length < separator + 3) continue;
    entries.push({
      mountId: Number(fields[0]),
      parentId: Number(fields[1]),
      mountPoint: unescape(fields[4]),
      fsType: unescape(fields[separator + 1]),
      source: unescape(fields[separator + 2]),
    });
  }
  return entries;
}

export function readMountInfo(): MountEntry[] {
  return parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
}

/** Whether `path` is `directory` or inside it (by whole path elements). */
export function isWithin(path: string, directory: string): boolean {
  return path === directory || path.startsWith(directory.endsWith('/') ? directory : `${directory}/`);
}

/** The mounts at or below `directory`, innermost first (the order to unmount them in). */
export function mountsWithin(directory: string, entries: MountEntry[] = readMountInfo()): MountEntry[] {
  // Deeper paths first; at one path, mountinfo lists the mount on top last.
  const depth = (entry: MountEntry) => entry.mountPoint.split('/').length;
  return entries
    .filter((entry) => isWithin(entry.mountPoint, directory))
    .reverse()
    .sort((a, b) => depth(b) - depth(a));
}
