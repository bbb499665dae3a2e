// -inline: a file re-created over an inline file (found by the fuzzer). hcsshim merges the
// old in-inode xattrs, its system.data placeholder included, and fills only the first
// system.data entry with the data at Close; filling the merged one too overflowed the
// in-inode area, and e2fsck reported "INLINE_DATA_FL flag but extended attribute not found".

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, hasTool, tmpDir, toolPath } from './helpers/corpus.js';
import { checkE2fsck } from './helpers/debugfs.js';
import { entry, paxHeader, paxRecord, tar } from './helpers/raw-tar.js';

const LCOW = path.join(REPO, 'dist', 'host', 'cli', 'lcow.js');

test('an inline file re-created larger, with an xattr, reads back and passes e2fsck', { skip: hasTool('e2fsck') && hasTool('debugfs') ? false : 'needs e2fsprogs' }, () => {
  const second = 'B'.repeat(100); // 60 bytes in i_block, 40 in system.data
  const layer = tar(
    entry({ name: 'f' }, 'A'.repeat(28)),
    paxHeader(paxRecord('SCHILY.xattr.user.i', 'i'.repeat(20))),
    entry({ name: 'f' }, second),
  );
  const dir = tmpDir('lcow-inline-');
  fs.writeFileSync(path.join(dir, 'in.tar'), layer);
  const image = path.join(dir, 'out.img');
  const r = spawnSync(process.execPath, [LCOW, 'convert', path.join(dir, 'in.tar'), '-o', image, '--inline']);
  assert.equal(r.status, 0, r.stderr.toString());
  assert.deepEqual(checkE2fsck(image, undefined, { allowClean: true }).problems, []);
  const cat = spawnSync(toolPath('debugfs'), ['-R', 'cat f', image], { encoding: 'latin1' });
  assert.equal(cat.stdout, second);
  const xattr = spawnSync(toolPath('debugfs'), ['-R', 'ea_get f user.i', image], { encoding: 'latin1' });
  assert.match(xattr.stdout, /i{20}/);
  fs.rmSync(dir, { recursive: true, force: true });
});
