// tar2ext4's flags: hcsshim cmd/tar2ext4's, with its usage strings, then ours. A module
// of its own so that tests can hand the same table to Go's flag package.

import { isLogLevel, LOG_LEVELS } from '../log.js';
import { compressionNote } from '../input.js';
import type { GoFlag } from './go-flag.js';
import { PROFILES } from '../check-options.js';

const isProfile = (v: string): boolean => (PROFILES as readonly string[]).includes(v);

export const FLAGS: readonly GoFlag[] = [
  { name: 'i', kind: 'string', usage: `input file (default standard input; ${compressionNote()})` },
  { name: 'o', kind: 'string', usage: 'output file' },
  { name: 'overlay', kind: 'bool', usage: 'produce overlayfs-compatible layer image' },
  { name: 'convert-slash', kind: 'bool', usage: "convert backslashes ('\\') in path names to slashes ('/')" },
  { name: 'vhd', kind: 'bool', usage: 'add a VHD footer to the end of the image' },
  { name: 'only-vhd', kind: 'bool', usage: "adds a VHD footer to the end of the file but does not convert to ext4; this implies '-vhd' and ignores all other options" },
  { name: 'inline', kind: 'bool', usage: 'write small file data into the inode; not compatible with DAX' },
  { name: 'verity', kind: 'bool', usage: 'append a dm-verity superblock and hash tree after the image (before any VHD footer)' },
  { name: 'digest', kind: 'bool', usage: 'print the dm-verity root digest of the layer as hcsshim ConvertAndComputeRootDigest computes it, and write nothing' },
  { name: 'sync', kind: 'bool', usage: 'flush the image to disk (fsync) before it is renamed into place; off by default, as in hcsshim, cp and tar' },
  { name: 'uuid-from-content', kind: 'bool', usage: 'derive the VHD and verity ids from the content, so the same input gives the same file' },
  { name: 'profile', kind: 'string', usage: 'output `profile`: hcsshim (byte-identical to hcsshim) or fixed (its defects corrected) (default hcsshim)', check: (v) => (isProfile(v) ? undefined : `must be one of ${PROFILES.join(', ')}`) },
  { name: 'maxsize', kind: 'int64', usage: 'maximum disk size in `bytes` (hcsshim MaximumDiskSize: 0 means 16 GiB, negative or over 16 TiB means 16 TiB)' },
  { name: 'log-level', kind: 'string', usage: `pino log \`level\` for JSON lines on stderr: ${LOG_LEVELS.join(', ')} (default warn)`, check: (v) => (isLogLevel(v) ? undefined : `must be one of ${LOG_LEVELS.join(', ')}`) },
];

