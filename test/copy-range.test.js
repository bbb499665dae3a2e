// File data of an uncompressed tar file is copied in the kernel (copy_file_range); the
// ordinary read-and-write path must give the same bytes, and a tar cut inside a copied
// body must still fail as a truncated one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, tmpDir, sha256File } from './helpers/corpus.js';
import { entry, tar } from './helpers/raw-tar.js';

const LCOW = path.join(REPO, 'dist', 'host', 'cli', 'lcow.js');

function convert(input, output, env = {}) {
  return spawnSync(process.execPath, [LCOW, 'convert', input, '-o', output, '--vhd', '--uuid-from-content'], { env: { ...process.env, ...env } });
}

/** 3 MiB and 5 MiB files with distinct contents, between small ones. */
function layer() {
  const big = (n, seed) => Buffer.alloc(n << 20).map((_, i) => (i * seed) >>> 7);
  return tar(entry({ name: 'a' }, 'small'), entry({ name: 'b.bin' }, big(3, 31)), entry({ name: 'c' }, 'x'.repeat(5000)), entry({ name: 'd.bin' }, big(5, 17)));
}

test('kernel copies and ordinary copies give the same image', () => {
  const dir = tmpDir('lcow-copy-range-');
  const input = path.join(dir, 'layer.tar');
  fs.writeFileSync(input, layer());
  const fast = convert(input, path.join(dir, 'fast.vhd'));
  assert.equal(fast.status, 0, fast.stderr.toString());
  const plain = convert(input, path.join(dir, 'plain.vhd'), { LCOW_NO_COPY_RANGE: '1' });
  assert.equal(plain.status, 0, plain.stderr.toString());
  assert.equal(sha256File(path.join(dir, 'fast.vhd')), sha256File(path.join(dir, 'plain.vhd')));
  // The same bytes through stdin, where nothing can be copied in the kernel.
  const piped = spawnSync(process.execPath, [LCOW, 'convert', '-', '-o', path.join(dir, 'piped.vhd'), '--vhd', '--uuid-from-content'], { input: fs.readFileSync(input) });
  assert.equal(piped.status, 0, piped.stderr.toString());
  assert.equal(sha256File(path.join(dir, 'fast.vhd')), sha256File(path.join(dir, 'piped.vhd')));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a tar file cut inside a kernel-copied body is a truncated tar', () => {
  const dir = tmpDir('lcow-copy-range-');
  const input = path.join(dir, 'cut.tar');
  // Cut 1 MiB into the 3 MiB body of b.bin (its header is at 1024).
  fs.writeFileSync(input, layer().subarray(0, 1024 + 512 + (1 << 20)));
  const r = convert(input, path.join(dir, 'out.vhd'));
  assert.equal(r.status, 1);
  assert.equal(r.stderr.toString(), 'lcow: TAR_UNEXPECTED_EOF: b.bin: unexpected EOF (at input offset 1024)\n');
  assert.deepEqual(fs.readdirSync(dir), ['cut.tar']);
  fs.rmSync(dir, { recursive: true, force: true });
});
