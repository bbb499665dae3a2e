// What an inode's block map (extent tree or indirect blocks) yields, in logical order.

export interface BlockRun {
  /** data: file blocks; unwritten: allocated but reading as zeros; tree: an extent node or indirect block. */
  kind: 'data' | 'unwritten' | 'tree';
  /** First logical block of the run (for tree blocks: the first logical block they map). */
  logical: number;
  /** First physical block. */
  physical: number;
  /** Blocks in the run (1 for tree blocks). */
  length: number;
}

/** How a block map reads and checks the blocks it points at. */
export interface BlockMapContext {
  inode: number;
  blockSize: number;
  /** Reads one block the map points at; throws EXT4_CORRUPT if it is out of range. */
  readBlock(block: number, what: string): Buffer;
  /** Throws EXT4_CORRUPT unless blocks start..start+length-1 are inside the file system. */
  checkRange(start: number, length: number, what: string): void;
  /** With metadata_csum: the inode's checksum seed for extent block tails. */
  checksumSeed?: number;
}
