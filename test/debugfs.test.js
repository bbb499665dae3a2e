// debugfs (e2fsprogs) reads back every entry of a tar from our image: type, permissions,
// owner, size, content, symlink target, device numbers, hard links, implicit parents, times.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { corpusDir, hasTool, runTar2ext4, tmpDir } from './helpers/corpus.js';
import { checkImageMatchesTar } from './helpers/debugfs.js';

const TREE_CASES = ['basic.tar', 'links.tar', 'devices.tar', 'longnames.tar'];

const skip = hasTool('debugfs') ? false : 'debugfs not installed (apt-get install e2fsprogs)';
const corpus = skip ? null : await corpusDir();
const work = tmpDir('lcow-debugfs-test-');

for (const name of TREE_CASES) {
  test(`debugfs ${name} []`, { skip }, () => {
    const tar = path.join(corpus, name);
    const out = path.join(work, `${name}.img`);
    try {
      const res = runTar2ext4(['-i', tar, '-o', out]);
      assert.equal(res.status, 0, `exit status ${res.status}; stderr: ${res.stderr}`);
      const problems = checkImageMatchesTar(out, tar);
      if (problems.length) assert.fail(`image differs from the tar:\n  ${problems.join('\n  ')}`);
    } finally {
      fs.rmSync(out, { force: true });
    }
  });
}
