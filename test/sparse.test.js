// GNU and PAX sparse members expand to the same image as the plain file (hcsshim
// writes real zero blocks for holes). Made with GNU tar; skipped where it is missing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync, openSync, writeSync, closeSync, ftruncateSync, utimesSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { REPO, tmpDir, hasTool } from './helpers/corpus.js';

const TAR2EXT4 = path.join(REPO, 'dist/host/cli/tar2ext4.js');

function makeSparseFile(file) {
  const fd = openSync(file, 'w');
  ftruncateSync(fd, 3 * 1024 * 1024 + 123);
  writeSync(fd, Buffer.from('start'), 0, 5, 0);
  writeSync(fd, Buffer.alloc(9000, 0x5a), 0, 9000, 1024 * 1024);
  writeSync(fd, Buffer.from('end'), 0, 3, 3 * 1024 * 1024 + 120);
  closeSync(fd);
  utimesSync(file, 1700000000, 1700000000);
}

function tarOf(dir, out, extra) {
  const r = spawnSync('tar', ['-C', dir, '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1700000000', ...extra, '-cf', out, 'sparse.bin'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

function convert(tar, out) {
  const r = spawnSync(process.execPath, [TAR2EXT4, '-i', tar, '-o', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return createHash('sha256').update(readFileSync(out)).digest('hex');
}

const formats = [
  ['old GNU sparse (type S)', ['--format=gnu']],
  ['PAX sparse 0.1', ['--format=pax', '--sparse-version=0.1', '--pax-option=delete=atime,delete=ctime']],
  ['PAX sparse 1.0', ['--format=pax', '--sparse-version=1.0', '--pax-option=delete=atime,delete=ctime']],
];

for (const [name, flags] of formats) {
  test(`${name} expands to the same image as the plain member`, { skip: !hasTool('tar') && 'GNU tar is not installed' }, () => {
    const dir = tmpDir();
    const src = path.join(dir, 'src');
    mkdirSync(src);
    makeSparseFile(path.join(src, 'sparse.bin'));
    const sparseTar = path.join(dir, 'sparse.tar');
    const plainTar = path.join(dir, 'plain.tar');
    tarOf(src, sparseTar, ['--sparse', ...flags]);
    tarOf(src, plainTar, flags.filter((f) => !f.startsWith('--sparse')));
    assert.ok(readFileSync(sparseTar).length < readFileSync(plainTar).length, 'tar did not store the file sparsely');
    assert.equal(convert(sparseTar, path.join(dir, 'sparse.img')), convert(plainTar, path.join(dir, 'plain.img')));
  });
}
