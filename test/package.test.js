// lcow installs as a package (issue #10 item 9). `npm pack` of this tree, and `npm install
// git+file://` of a clone of this repository (npm then installs the dev dependencies and
// runs `prepare`, which builds dist/ and build/release.wasm), each give a project the
// `lcow` and `tar2ext4` bins, an importable ESM library, and its types. Dependencies come
// from npm's cache where it has them (--prefer-offline): `npm ci` has put them there.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, sha256File, tmpDir, toolPath } from './helpers/corpus.js';

const SAMPLE = path.join(REPO, 'fixtures', 'sample-layer.tar');
const TSC = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
const NPM = toolPath('npm');
const GIT = toolPath('git');
const NPM_TIMEOUT = 5 * 60 * 1000;

// The npm that runs `npm test` exports its lifecycle state (npm_package_*, npm_lifecycle_*);
// the npm commands here must not see it. Its configuration (npm_config_*) is kept.
const childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') || k.startsWith('npm_config_')));

function run(command, args, cwd) {
  const r = spawnSync(command, args, { cwd, env: childEnv, encoding: 'utf8', timeout: NPM_TIMEOUT, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return r;
}

function runOk(command, args, cwd) {
  const r = run(command, args, cwd);
  assert.equal(r.status, 0, `${command} ${args.join(' ')} (in ${cwd}) exited ${r.status}:\n${r.stdout}${r.stderr}`);
  return r;
}

/** An empty ESM project to install into. */
function consumerProject(name) {
  const dir = tmpDir(`lcow-${name}-`);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `lcow-${name}`, private: true, type: 'module' }));
  return dir;
}

function npmInstall(project, spec) {
  runOk(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', spec], project);
}

/** The reference image: this repository's own tar2ext4 on the sample layer (no random bytes without -vhd/-verity). */
function referenceImage(dir) {
  const out = path.join(dir, 'reference.img');
  runOk(process.execPath, [path.join(REPO, 'dist', 'host', 'cli', 'tar2ext4.js'), '-i', SAMPLE, '-o', out, '-overlay'], dir);
  return sha256File(out);
}

const CONSUMER_MJS = `
import { convertTar, LcowError } from 'lcow';
const [input, output] = process.argv.slice(2);
const result = await convertTar(input, output, { overlay: true });
if (typeof LcowError !== 'function') throw new Error('LcowError is not exported');
console.log(JSON.stringify(result));
`;

// Compiles only if the package's declarations resolve and are typed: the @ts-expect-error
// line is itself an error when convertTar is untyped (any).
const CONSUMER_TS = `
import { convertTar, type LcowError } from 'lcow';
const result: { ext4Bytes: number; fileBytes: number } = await convertTar('in.tar', 'out.img', { overlay: true });
// @ts-expect-error: the input must be a path
await convertTar(42, 'out.img');
export const failure: LcowError | undefined = undefined;
export const size: number = result.ext4Bytes;
`;

/** Everything an installed lcow must do, in `project` (lcow already installed there). */
function checkInstalled(t, project) {
  const bin = path.join(project, 'node_modules', '.bin');
  for (const name of ['lcow', 'tar2ext4']) {
    const target = fs.realpathSync(path.join(bin, name));
    fs.accessSync(target, fs.constants.X_OK);
    assert.match(fs.readFileSync(target, 'utf8'), /^#!\/usr\/bin\/env node\n/, `${name} has a node shebang`);
  }
  // Run the bins as a shell would (shebang, exec bit), then through npx.
  assert.match(runOk(path.join(bin, 'lcow'), ['--help'], project).stdout, /^ +convert\b/m);
  const want = referenceImage(project);
  runOk(NPM, ['exec', '--offline', '--', 'tar2ext4', '-i', SAMPLE, '-o', 'bin.img', '-overlay'], project);
  assert.equal(sha256File(path.join(project, 'bin.img')), want, 'npx tar2ext4 gives the image this repository gives');
  runOk(NPM, ['exec', '--offline', '--', 'lcow', 'convert', SAMPLE, '-o', 'layer.vhd', '--overlay', '--vhd'], project);
  assert.match(runOk(NPM, ['exec', '--offline', '--', 'lcow', 'inspect', 'layer.vhd'], project).stdout, /VHD footer: +present/);

  fs.writeFileSync(path.join(project, 'consumer.mjs'), CONSUMER_MJS);
  const result = JSON.parse(runOk(process.execPath, ['consumer.mjs', SAMPLE, 'library.img'], project).stdout);
  assert.equal(result.ext4Bytes, fs.statSync(path.join(project, 'library.img')).size);
  assert.equal(sha256File(path.join(project, 'library.img')), want, "import('lcow') convertTar gives the same image");

  fs.writeFileSync(path.join(project, 'consumer.ts'), CONSUMER_TS);
  runOk(process.execPath, [TSC, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext',
    '--skipLibCheck', '--typeRoots', path.join(REPO, 'node_modules', '@types'), '--types', 'node', 'consumer.ts'], project);
  t.diagnostic('bins, npx, import and types checked');
}

test('item 9: npm pack installs working bins and an importable library with types', { skip: !NPM && 'npm is not on PATH' }, (t) => {
  const dist = tmpDir('lcow-pack-');
  // --ignore-scripts: `prepare` would rebuild this tree while other test files use it;
  // `npm test` has just built it. The git test below runs `prepare` in a clone.
  const [packed] = JSON.parse(runOk(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', dist], REPO).stdout);
  const files = packed.files.map((f) => f.path);
  for (const needed of ['package.json', 'README.md', 'build/release.wasm', 'dist/index.js', 'dist/index.d.ts', 'dist/host/verity-worker.js', 'dist/host/cli/lcow.js', 'dist/host/cli/tar2ext4.js']) {
    assert.ok(files.includes(needed), `the package holds ${needed}`);
  }
  const stray = files.filter((f) => !/^(dist\/|build\/release\.wasm$|package\.json$|README\.md$|LICENSE)/.test(f) || f.endsWith('.tsbuildinfo'));
  assert.deepEqual(stray, [], 'nothing but the runtime in the package');
  const project = consumerProject('from-pack');
  npmInstall(project, path.join(dist, packed.filename));
  checkInstalled(t, project);
});

test('item 9: npm install git+file:// of a clone builds (prepare) and installs the same', { skip: (!NPM && 'npm is not on PATH') || (!GIT && 'git is not on PATH') }, (t) => {
  // A clone holds what is committed: this checks HEAD, as CI's fresh clone would.
  const clone = path.join(tmpDir('lcow-clone-'), 'lcow');
  runOk(GIT, ['clone', '--quiet', REPO, clone], REPO);
  const project = consumerProject('from-git');
  const started = Date.now();
  npmInstall(project, `git+file://${clone}`);
  t.diagnostic(`npm install from git (with prepare) took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  checkInstalled(t, project);
});
