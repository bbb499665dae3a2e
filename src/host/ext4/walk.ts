// Walking a directory tree depth first without ever looping: every directory is entered
// once, and one reached again (linked to an ancestor, or with two parents) is corruption.

import { corrupt, wrongType } from './fault.js';
import type { DirEntry } from './directory.js';
import { ROOT_INODE, type Inode } from './inode.js';

export interface WalkEntry {
  /** Path from the walk's root, '/'-separated, without a leading '/', decoded as UTF-8. */
  path: string;
  /** The same path as raw bytes. */
  pathBytes: Buffer;
  entry: DirEntry;
  inode: Inode;
  /** Inode number of the directory holding the entry. */
  parent: number;
  /** 1 for the root's children. */
  depth: number;
}

/** What walkTree needs of the reader. */
export interface WalkSource {
  inode(n: number): Inode;
  entries(dir: Inode): Iterable<DirEntry>;
}

interface Frame {
  entries: Iterator<DirEntry>;
  pathBytes: Buffer;
  dir: number;
  depth: number;
}

const SLASH = Buffer.from('/');

export function* walkTree(reader: WalkSource, root: number): Generator<WalkEntry> {
  const rootInode = reader.inode(root);
  if (rootInode.type !== 'dir') {
    throw root === ROOT_INODE ? corrupt(`the root inode ${root} is not a directory (${rootInode.type})`) : wrongType(`inode ${root} is not a directory (${rootInode.type})`);
  }
  // Directory inode numbers only: memory grows with the number of directories, not entries.
  const seen = new Set<number>([root]);
  const stack: Frame[] = [{ entries: reader.entries(rootInode)[Symbol.iterator](), pathBytes: Buffer.alloc(0), dir: root, depth: 1 }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    const step = frame.entries.next();
    if (step.done) {
      stack.pop();
      continue;
    }
    const entry = step.value;
    if (entry.dot) continue;
    const pathBytes = frame.pathBytes.length ? Buffer.concat([frame.pathBytes, SLASH, entry.nameBytes]) : entry.nameBytes;
    const inode = reader.inode(entry.inode);
    const path = pathBytes.toString('utf8');
    yield { path, pathBytes, entry, inode, parent: frame.dir, depth: frame.depth };
    if (inode.type !== 'dir') continue;
    if (seen.has(inode.number)) {
      throw corrupt(`directory cycle: ${path} is directory inode ${inode.number}, which the walk already entered (linked to an ancestor or from two parents)`);
    }
    seen.add(inode.number);
    stack.push({ entries: reader.entries(inode)[Symbol.iterator](), pathBytes, dir: inode.number, depth: frame.depth + 1 });
  }
}
