// VerityHasher (src/host/verity-stream.ts): hashing blocks as they are written must give the
// tree that reading the finished image back gives (writeHashTree), whatever the write pattern:
// whole blocks, file data cut at any byte and ended by endOfEntry, metadata part-blocks,
// blocks never written, blocks rewritten whole or in part after they were hashed, and images
// large enough to go through the worker threads.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir } from './helpers/corpus.js';
import { VerityHasher } from '../dist/host/verity-stream.js';
import { writeHashTree, treeFromLevel0 } from '../dist/host/verity.js';

const BLOCK = 4096;

/** A small deterministic PRNG (xorshift32), so a failure names a seed that replays it. */
function rng(seed) {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x % n;
  };
}

function bytes(random, n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = random(256);
  return b;
}

/**
 * Replays `writes` ([bytes, position, data, endOfEntry]) into a file and into a hasher, and
 * compares the hasher's root with the one read back from the file.
 */
async function compare(writes, blocks, { readBack = true } = {}) {
  const file = path.join(tmpDir('lcow-verity-stream-'), 'image');
  const fd = fs.openSync(file, 'w+');
  const hasher = new VerityHasher();
  try {
    for (const [b, position, data, end] of writes) {
      fs.writeSync(fd, b, 0, b.length, position);
      hasher.write(b, position, data);
      if (end) hasher.endOfEntry();
    }
    fs.ftruncateSync(fd, blocks * BLOCK);
    const read = (block) => {
      const out = Buffer.alloc(BLOCK);
      fs.readSync(fd, out, 0, BLOCK, block * BLOCK);
      return out;
    };
    const level0 = await hasher.finish(blocks, readBack ? read : undefined);
    const streamed = treeFromLevel0(level0, blocks).rootDigest.toString('hex');
    const readBackRoot = (await writeHashTree(fd, blocks, blocks * BLOCK)).toString('hex');
    assert.equal(streamed, readBackRoot);
  } finally {
    hasher.close();
    fs.closeSync(fd);
  }
}

test('file data cut at random bytes, entries ended, gaps never written, metadata part-blocks at the end', async () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const random = rng(seed);
    const writes = [];
    let block = 4;
    for (let file = 0; file < 200; file++) {
      const size = random(3) === 0 ? random(20000) : random(3000);
      const data = bytes(random, size);
      // Cut as input chunks would cut it.
      for (let at = 0; at < size;) {
        const n = Math.min(size - at, 1 + random(5000));
        writes.push([data.subarray(at, at + n), block * BLOCK + at, true, false]);
        at += n;
      }
      if (writes.length) writes[writes.length - 1][3] = true;
      else writes.push([Buffer.alloc(0), 0, true, true]);
      block += Math.ceil(size / BLOCK) + random(3); // holes between files
    }
    writes.push([bytes(random, 1024), 1024, false, false]); // the superblock
    writes.push([bytes(random, 64), BLOCK, false, false]); // group descriptors
    writes.push([bytes(random, 3 * BLOCK), 2 * BLOCK, false, false]);
    await compare(writes, block + 3, { readBack: false }); // nothing here may need the image
  }
});

test('blocks rewritten whole or in part after they were hashed are hashed in their final form', async () => {
  const random = rng(7);
  const writes = [];
  for (let b = 0; b < 64; b++) writes.push([bytes(random, BLOCK), b * BLOCK, false, false]);
  writes.push([bytes(random, BLOCK), 5 * BLOCK, false, false]); // whole rewrite
  writes.push([bytes(random, 100), 5 * BLOCK + 7, false, false]); // then a part of it
  writes.push([bytes(random, 2 * BLOCK), 9 * BLOCK, false, false]);
  writes.push([bytes(random, 10), 20 * BLOCK + 4000, false, false]); // part-rewrite of a hashed block: read back
  await compare(writes, 64);
});

test('a part-rewritten block without an image to read back is an internal error, not a wrong digest', async () => {
  const hasher = new VerityHasher();
  try {
    hasher.write(Buffer.alloc(BLOCK, 1), 0, false);
    hasher.write(Buffer.alloc(10, 2), 100, false);
    await assert.rejects(hasher.finish(1), (err) => err.code === 'INTERNAL' && /partly rewritten/.test(err.message));
  } finally {
    hasher.close();
  }
});

test('images past the inline slabs go through the worker threads and give the same tree (sparse member rounds too)', async () => {
  const random = rng(11);
  const writes = [];
  // 24 MiB of whole and cut data, in entries of up to 1 MiB, with zero blocks written explicitly.
  let block = 1;
  while (block < 6144) {
    const size = 1 + random(1 << 20);
    const data = random(4) === 0 ? Buffer.alloc(size) : bytes(random, size);
    for (let at = 0; at < size;) {
      const n = Math.min(size - at, 1 + random(1 << 20));
      writes.push([data.subarray(at, at + n), block * BLOCK + at, true, false]);
      at += n;
    }
    writes[writes.length - 1][3] = true;
    block += Math.ceil(size / BLOCK);
  }
  writes.push([bytes(random, 1024), 1024, false, false]);
  await compare(writes, block, { readBack: false });
});
