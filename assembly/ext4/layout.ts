// Sizes derived from the maximum disk size (spec §6.1) and hcsshim's group-count
// search (spec §12), with its unsigned 32-bit wrapping kept.

import { BLOCK_SIZE, BLOCKS_PER_GROUP, DESCRIPTORS_PER_BLOCK, INODES_PER_BLOCK, MAX_INODES_PER_GROUP, DEFAULT_MAX_DISK_SIZE, LARGEST_MAX_DISK_SIZE } from "./constants";

/** MaximumDiskSize(n): negative or above 16 TiB means 16 TiB, 0 means 16 GiB, else round up to 4096. */
export function effectiveMaxDiskSize(requested: i64): i64 {
  if (requested < 0 || requested > LARGEST_MAX_DISK_SIZE) return LARGEST_MAX_DISK_SIZE;
  if (requested == 0) return DEFAULT_MAX_DISK_SIZE;
  return (requested + BLOCK_SIZE - 1) & ~(<i64>BLOCK_SIZE - 1);
}

export function groupDescriptorBlocks(maxDiskSize: i64): u32 {
  const maxBlocks = (maxDiskSize + BLOCK_SIZE - 1) / BLOCK_SIZE;
  const maxGroups = (maxBlocks + BLOCKS_PER_GROUP - 1) / BLOCKS_PER_GROUP;
  return <u32>((maxGroups + DESCRIPTORS_PER_BLOCK - 1) / DESCRIPTORS_PER_BLOCK);
}

function groupCount(usedBlocks: u32, inodeCount: u32, inodesPerGroup: u32): u32 {
  const inodeTableBlocks = inodesPerGroup * 256 / BLOCK_SIZE;
  const dataPerGroup = BLOCKS_PER_GROUP - inodeTableBlocks - 2;
  const minBlocks = ((inodeCount - 1) / inodesPerGroup) * dataPerGroup + 1;
  const blocks = usedBlocks > minBlocks ? usedBlocks : minBlocks;
  return (blocks + dataPerGroup - 1) / dataPerGroup;
}

export class GroupChoice {
  groups: u32 = 0;
  inodesPerGroup: u32 = 0;
}

export function bestGroupCount(usedBlocks: u32, inodeCount: u32): GroupChoice {
  const choice = new GroupChoice();
  let best: u32 = 0xffffffff;
  for (let ipg: u32 = INODES_PER_BLOCK; ipg <= MAX_INODES_PER_GROUP; ipg += INODES_PER_BLOCK) {
    const g = groupCount(usedBlocks, inodeCount, ipg);
    if (g < best) {
      best = g;
      choice.inodesPerGroup = ipg;
    }
  }
  choice.groups = best;
  return choice;
}
