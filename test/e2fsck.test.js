// e2fsck -fn on our images (spec §13, §24): the only complaints allowed are the ones the
// oracle's images get too, "Padding at end of inode bitmap is not set" and the pre-1970
// timestamp warnings; exit status and messages must equal golden.json's `e2fsck` record.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { corpusDir, golden, hasOption, hasTool, resultName, runTar2ext4, tmpDir, VHD_FOOTER_BYTES } from './helpers/corpus.js';
import { checkE2fsck } from './helpers/debugfs.js';

const skip = hasTool('e2fsck') ? false : 'e2fsck not installed (apt-get install e2fsprogs)';
const corpus = skip ? null : await corpusDir();
const work = tmpDir('lcow-e2fsck-');

for (const result of golden().results.filter((r) => r.ok)) {
  test(`e2fsck ${resultName(result)}`, { skip }, () => {
    const tar = path.join(corpus, result.case);
    const out = path.join(work, `${result.case}${result.options.join('')}.img`);
    fs.rmSync(out, { force: true });
    try {
      const res = runTar2ext4(['-i', tar, '-o', out, ...result.options]);
      assert.equal(res.status, 0, `exit status ${res.status}; stderr: ${res.stderr}`);
      if (hasOption(result, '-vhd')) {
        const size = fs.statSync(out).size;
        assert.ok(size > VHD_FOOTER_BYTES, `output of ${size} bytes has no room for a VHD footer`);
        fs.truncateSync(out, size - VHD_FOOTER_BYTES);
      }
      const { problems, exit, messages } = checkE2fsck(out, result.e2fsck);
      if (problems.length) assert.fail(`e2fsck exit ${exit}:\n  ${problems.join('\n  ')}\nall messages:\n  ${messages.join('\n  ')}`);
    } finally {
      fs.rmSync(out, { force: true });
    }
  });
}
