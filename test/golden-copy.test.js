// The golden reference data (hcsshim's results, fixtures/golden/) and the corpus generator
// (fixtures/corpus/make_corpus.py) live in this repository (issue #10 item 10): the tests
// need nothing beside it. Where the project's shared folder is beside the repository, the
// copy must still equal it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CORPUS_GENERATOR, GOLDEN_DIR, REPO, SHARED, hasTool, tmpDir } from './helpers/corpus.js';

const HELPER = pathToFileURL(path.join(REPO, 'test', 'helpers', 'corpus.js')).href;

// Run in a child whose shared folder points at nothing, from a directory outside the
// repository: every golden result, image and corpus tar must still be found and match.
const CHILD = `
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as h from ${JSON.stringify(HELPER)};

const inside = (p) => !path.relative(h.REPO, p).startsWith('..');
for (const [name, p] of Object.entries({ GOLDEN_JSON: h.GOLDEN_JSON, GOLDEN_IMAGES: h.GOLDEN_IMAGES, CORPUS_GENERATOR: h.CORPUS_GENERATOR })) {
  assert.ok(inside(p), name + ' is outside the repository: ' + p);
}
assert.ok(!fs.existsSync(h.SHARED), 'the shared folder should be hidden here: ' + h.SHARED);
const g = h.golden();
assert.equal(g.cases.length, 22, 'corpus cases in golden.json');
assert.equal(g.results.length, 110, 'results in golden.json');
const missing = g.results.filter((r) => r.image && !h.goldenImagePath(r)).map((r) => r.image);
assert.deepEqual(missing, [], 'golden images not found');

const out = process.argv[1];
h.generateCorpus(out);
h.verifyCorpus(out);
// A tar that is not the oracle's input is named, with both digests.
const basic = path.join(out, 'basic.tar');
const fd = fs.openSync(basic, 'r+');
fs.writeSync(fd, Buffer.from([0xff]), 0, 1, 600);
fs.closeSync(fd);
assert.throws(() => h.verifyCorpus(out), /basic\\.tar: sha256 [0-9a-f]{64}, golden\\.json says b05bac3bd2932348/);
console.log('cases ' + g.cases.length + ', results ' + g.results.length + ', images ' + g.results.filter((r) => r.image).length);
`;

test('item 10: golden tests need nothing outside the repository', { skip: !hasTool('python3') && 'python3 is needed to generate the corpus' }, (t) => {
  const work = tmpDir('lcow-golden-alone-');
  const out = path.join(work, 'corpus');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, out], {
    cwd: work,
    env: { ...process.env, LCOW_SHARED_DIR: path.join(work, 'no-shared-here') },
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  t.diagnostic(r.stdout.trim());
  fs.rmSync(work, { recursive: true, force: true });
});

/** Files (relative paths) under `dir`, sorted. */
function listFiles(dir) {
  return fs.readdirSync(dir, { recursive: true }).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
}

test('the golden copy in fixtures/ still equals the shared folder beside the repository', (t) => {
  if (!fs.existsSync(SHARED)) {
    t.skip(`no shared folder at ${SHARED}: nothing to compare the copy with`);
    return;
  }
  const pairs = [[path.join(SHARED, 'corpus', 'make_corpus.py'), CORPUS_GENERATOR]];
  const sharedGolden = path.join(SHARED, 'golden');
  const ours = listFiles(GOLDEN_DIR).filter((f) => f !== 'PROVENANCE.md');
  const theirs = listFiles(sharedGolden);
  const onlyOurs = ours.filter((f) => !theirs.includes(f));
  const onlyTheirs = theirs.filter((f) => !ours.includes(f));
  assert.deepEqual({ onlyInRepo: onlyOurs, onlyInShared: onlyTheirs }, { onlyInRepo: [], onlyInShared: [] }, `files of ${sharedGolden} and ${GOLDEN_DIR} differ`);
  for (const f of theirs) pairs.push([path.join(sharedGolden, f), path.join(GOLDEN_DIR, f)]);
  const differing = pairs
    .filter(([shared, copy]) => !fs.readFileSync(shared).equals(fs.readFileSync(copy)))
    .map(([shared, copy]) => `${path.relative(REPO, copy)} differs from ${shared}`);
  assert.deepEqual(differing, [], 'copy out of date: copy the shared files again and update fixtures/golden/PROVENANCE.md');
  t.diagnostic(`${pairs.length} files equal`);
});
