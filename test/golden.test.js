// Golden parity with hcsshim's tar2ext4: for every corpus tar and the option sets [],
// [-overlay], [-overlay,-vhd] (xattrs* cases aside), our CLI must give the oracle's exact
// bytes (normalized as golden.json's schema says), or fail with the oracle's error message.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import {
  checkVhdFooter,
  corpusDir,
  firstDifference,
  goldenImage,
  golden,
  goldenSubset,
  hasOption,
  normalizeBuffer,
  normalizedFile,
  normalizedSha256,
  resultName,
  runTar2ext4,
  tmpDir,
} from './helpers/corpus.js';

const corpus = await corpusDir();
const work = tmpDir('lcow-golden-');

let imageDiff = null;
let imageDiffError = null;
try {
  imageDiff = await import('../dist/host/image-diff.js');
} catch (e) {
  imageDiffError = e;
}

const MAX_DIFF_BYTES = 64 << 20; // diff in memory only below this

/** One line saying where our normalized output first differs from the oracle's. */
function describeDifference(out, result) {
  const theirsRaw = goldenImage(result);
  if (!theirsRaw) return `no golden image to diff against (golden.json image: ${JSON.stringify(result.image ?? null)})`;
  if (fs.statSync(out).size > MAX_DIFF_BYTES) return 'output too large to diff in memory';
  const ours = normalizedFile(out, result);
  const theirs = normalizeBuffer(theirsRaw, result);
  if (imageDiff) {
    // diffImages takes file paths: write both normalized images out.
    const a = `${out}.ours.norm`;
    const b = `${out}.oracle.norm`;
    try {
      fs.writeFileSync(a, ours);
      fs.writeFileSync(b, theirs);
      const d = imageDiff.diffImages(a, b);
      return d === null ? 'image-diff finds no difference in the normalized images' : imageDiff.formatDiff(d);
    } catch (e) {
      return `image-diff failed: ${e.message}`;
    } finally {
      fs.rmSync(a, { force: true });
      fs.rmSync(b, { force: true });
    }
  }
  const at = firstDifference(ours, theirs);
  return (
    `first differing byte at ${at} (block ${Math.floor(at / 4096)}, +${at % 4096}); ` +
    `ours ${ours.length} bytes, oracle ${theirs.length} bytes ` +
    `(dist/host/image-diff.js unavailable: ${imageDiffError?.message?.split('\n')[0]})`
  );
}

for (const result of golden().results) {
  const name = resultName(result);
  test(name, () => {
    const tar = path.join(corpus, result.case);
    const out = path.join(work, `${result.case}${result.options.join('')}.out`);
    fs.rmSync(out, { force: true });
    try {
      const res = runTar2ext4(['-i', tar, '-o', out, ...result.options]);
      if (!result.ok) {
        assert.equal(res.status, result.exit_status, `exit status ${res.status} (oracle ${result.exit_status}); stderr: ${res.stderr}`);
        assert.equal(res.stderr.trim(), result.error.trim(), 'error message differs from the oracle');
        assert.ok(!fs.existsSync(out), `output file left behind after a failed conversion: ${out}`);
        return;
      }
      assert.equal(res.status, 0, `exit status ${res.status}; stderr: ${res.stderr}`);
      assert.ok(fs.existsSync(out), 'no output file');
      const problems = [];
      const size = fs.statSync(out).size;
      if (size !== result.raw_file_bytes) problems.push(`file size ${size}, oracle ${result.raw_file_bytes}`);
      const sha = normalizedSha256(out, result);
      if (sha !== result.sha256) {
        problems.push(`normalized sha256 ${sha}, oracle ${result.sha256}: ${describeDifference(out, result)}`);
      }
      if (hasOption(result, '-vhd')) {
        for (const p of checkVhdFooter(out, result.vhd_footer?.normalized_sha256)) problems.push(`VHD footer: ${p}`);
      }
      if (problems.length) assert.fail(`${name}:\n  ${problems.join('\n  ')}`);
    } finally {
      fs.rmSync(out, { force: true });
    }
  });
}
