// A layer's entries in inode-number order, which is the order hcsshim's tar2ext4 created
// them in (it numbers inodes as the tar's entries arrive, spec/compact-ext4.md §3.2), so a
// tar written in this order is converted back into the same numbers and block placement.
//
// Every directory of a compact image lists its children by inode number (§11), so the
// global order is a k-way merge of the open directories' listings: a heap holds the next
// entry of every directory entered so far, and a directory's listing opens only once the
// directory itself has been handed out. Memory grows with the directories (a lazy listing per
// open one, the numbers of those entered), not with the files. Directories written by the kernel (htree,
// insertion order) come out in a valid order too (parents first), just not sorted.

import { corrupt } from '../../host/ext4/fault.js';
import type { DirEntry } from '../../host/ext4/directory.js';
import type { Inode } from '../../host/ext4/inode.js';
import { childPath } from './whiteouts.js';

/** What the walk needs of the ext4 reader. */
export interface DirectorySource {
  inode(n: number): Inode;
  entries(dir: Inode): Iterable<DirEntry>;
}

export interface OrderedEntry {
  /** The parent directory's path from the layer root ('' for the root's children). */
  dirPath: Buffer;
  name: Buffer;
  inode: Inode;
}

interface Listing {
  dirPath: Buffer;
  dirInode: number;
  entries: Iterator<DirEntry>;
  head: DirEntry;
}

const SLASH = 0x2f;

/** Heap order: inode number, then the listing's directory, then the name (deterministic ties). */
function before(a: Listing, b: Listing): boolean {
  if (a.head.inode !== b.head.inode) return a.head.inode < b.head.inode;
  if (a.dirInode !== b.dirInode) return a.dirInode < b.dirInode;
  return Buffer.compare(a.head.nameBytes, b.head.nameBytes) < 0;
}

class ListingHeap {
  private readonly items: Listing[] = [];

  get size(): number {
    return this.items.length;
  }

  push(item: Listing): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i], items[parent])) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }

  pop(): Listing {
    const items = this.items;
    const top = items[0];
    const last = items.pop() as Listing;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let least = i;
        if (left < items.length && before(items[left], items[least])) least = left;
        if (right < items.length && before(items[right], items[least])) least = right;
        if (least === i) break;
        [items[i], items[least]] = [items[least], items[i]];
        i = least;
      }
    }
    return top;
  }
}

/** The listing's next entry other than '.' and '..', checked to be a usable name. */
function nextEntry(entries: Iterator<DirEntry>, dirInode: number): DirEntry | undefined {
  for (;;) {
    const step = entries.next();
    if (step.done) return undefined;
    const entry = step.value;
    if (entry.dot) continue;
    const name = entry.nameBytes;
    if (name.length === 0 || name.includes(SLASH) || name.includes(0)) {
      throw corrupt(`directory inode ${dirInode} has an entry named ${JSON.stringify(name.toString('latin1'))} (empty, or with '/' or NUL)`);
    }
    return entry;
  }
}

/**
 * Every entry below the directory `root` (not the root itself), in inode order. A
 * directory met a second time (a cycle, or a directory with two names) is EXT4_CORRUPT,
 * so the walk always ends.
 */
export function* inodeOrder(reader: DirectorySource, root: Inode): Generator<OrderedEntry> {
  const heap = new ListingHeap();
  const entered = new Set<number>([root.number]);
  const open = (dir: Inode, dirPath: Buffer): void => {
    const entries = reader.entries(dir)[Symbol.iterator]();
    const head = nextEntry(entries, dir.number);
    if (head) heap.push({ dirPath, dirInode: dir.number, entries, head });
  };
  open(root, Buffer.alloc(0));
  while (heap.size > 0) {
    const listing = heap.pop();
    const entry = listing.head;
    const next = nextEntry(listing.entries, listing.dirInode);
    if (next) {
      listing.head = next;
      heap.push(listing);
    }
    const inode = reader.inode(entry.inode);
    yield { dirPath: listing.dirPath, name: entry.nameBytes, inode };
    if (inode.type !== 'dir') continue;
    if (entered.has(inode.number)) {
      throw corrupt(`directory cycle: ${childPath(listing.dirPath, entry.nameBytes).toString('utf8')} is directory inode ${inode.number}, which was already entered`);
    }
    entered.add(inode.number);
    open(inode, childPath(listing.dirPath, entry.nameBytes));
  }
}
