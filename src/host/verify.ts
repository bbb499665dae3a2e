// lcow verify: recompute an image's dm-verity tree and check what follows the image.

import { openSync, closeSync, fstatSync } from 'node:fs';
import { checkHashTree, treeLayout, VERITY_BLOCK } from './verity.js';
import { inspectImage } from './inspect.js';
import { requireExt4Image } from './image-file.js';
import { checkRootDigest } from './check-options.js';

export interface Verification {
  /** True when nothing is wrong (and the root digest is the expected one, when given). */
  ok: boolean;
  /** Each thing found wrong, one sentence each; empty when ok. */
  problems: string[];
  /** The recomputed root digest (hex), when the hash tree could be read. */
  rootDigest?: string;
  /** Data blocks the verity superblock covers. */
  dataBlocks?: number;
}

/**
 * Recomputes the hash tree of `path` and checks what surrounds it. A file that cannot be
 * opened throws INPUT_OPEN_FAILED, one that is not an ext4 image IMAGE_NOT_EXT4, and an
 * `expectedRoot` that is not 64 hex digits INVALID_OPTION; everything found wrong with
 * an image is listed in `problems`.
 */
export function verifyImage(path: string, expectedRoot?: string): Verification {
  requireExt4Image(path);
  if (expectedRoot !== undefined) checkRootDigest(expectedRoot);
  const summary = inspectImage(path);
  const problems: string[] = [];
  if (!summary.ext4) return { ok: false, problems: [`${path}: the ext4 superblock or group descriptors cannot be read (${summary.ext4Error ?? 'unknown reason'})`] };
  const ext4Bytes = summary.ext4Bytes ?? 0;
  const verity = summary.verity;
  if (!verity) return { ok: false, problems: [`${path}: no dm-verity superblock at byte ${ext4Bytes}; convert with --verity`] };
  if (verity.dataBlocks * VERITY_BLOCK !== ext4Bytes) problems.push(`verity data blocks ${verity.dataBlocks} do not cover the ext4 image (${ext4Bytes / VERITY_BLOCK} blocks)`);
  if (verity.algorithm !== 'sha256' || verity.hashType !== 1 || verity.dataBlockSize !== VERITY_BLOCK || verity.hashBlockSize !== VERITY_BLOCK) {
    problems.push(`unsupported verity parameters (${verity.algorithm}, hash type ${verity.hashType}, blocks ${verity.dataBlockSize}/${verity.hashBlockSize})`);
  }
  if (verity.saltHex !== '00'.repeat(32)) problems.push('salt is not 32 zero bytes (hcsshim always uses that salt)');
  const fd = openSync(path, 'r');
  let rootDigest: string | undefined;
  try {
    const layout = treeLayout(verity.dataBlocks);
    const treeEnd = ext4Bytes + VERITY_BLOCK * (1 + layout.treeBlocks);
    const size = fstatSync(fd).size;
    const footerBytes = summary.vhdFooter ? 512 : 0;
    if (size - footerBytes < treeEnd) {
      problems.push(`hash tree truncated: needs ${treeEnd} bytes, file has ${size - footerBytes}`);
    } else {
      const check = checkHashTree(fd, verity.dataBlocks, ext4Bytes + VERITY_BLOCK);
      rootDigest = check.rootDigest;
      if (check.mismatch) problems.push(`hash tree level ${check.mismatch.level} block ${check.mismatch.block} does not match the data`);
      if (size - footerBytes !== treeEnd) problems.push(`${size - footerBytes - treeEnd} unexpected bytes after the hash tree`);
    }
    if (summary.vhdFooter) {
      if (!summary.vhdFooter.checksumValid) problems.push('VHD footer checksum is wrong');
      if (summary.vhdFooter.currentSize !== size - 512) problems.push(`VHD footer size ${summary.vhdFooter.currentSize} is not the file size before it (${size - 512})`);
    }
  } finally {
    closeSync(fd);
  }
  if (expectedRoot && rootDigest && expectedRoot.toLowerCase() !== rootDigest) problems.push(`root digest ${rootDigest} is not the expected ${expectedRoot}`);
  return { ok: problems.length === 0, problems, rootDigest, dataBlocks: verity.dataBlocks };
}

export function formatVerification(v: Verification): string {
  const lines = [v.ok ? 'ok' : 'FAILED'];
  if (v.rootDigest) lines.push(`root digest: ${v.rootDigest}`);
  if (v.dataBlocks !== undefined) lines.push(`data blocks: ${v.dataBlocks}`);
  for (const p of v.problems) lines.push(`problem: ${p}`);
  return lines.join('\n');
}
