// The careless-user pass over every command and option (issue #10): what a hurried user
// types beyond the eight listed items, each answered with one clear line or done right.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, tmpDir } from './helpers/corpus.js';

const LCOW = path.join(REPO, 'dist/host/cli/lcow.js');
const TAR2EXT4 = path.join(REPO, 'dist/host/cli/tar2ext4.js');
const SAMPLE = path.join(REPO, 'fixtures/sample-layer.tar');
const { convertTar } = await import(path.join(REPO, 'dist/host/convert.js'));

function run(cli, args, options = {}) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000, ...options });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function bash(script, ...args) {
  const r = spawnSync('bash', ['-c', script, 'bash', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a named pipe as input (process substitution, /dev/stdin on a pipe) is streamed, not read at positions', () => {
  const dir = tmpDir();
  const reference = path.join(dir, 'ref.img');
  assert.equal(run(TAR2EXT4, ['-i', SAMPLE, '-o', reference]).status, 0);
  const outputs = ['a.img', 'b.img', 'c.img'].map((n) => path.join(dir, n));
  assert.deepEqual(bash(`"$1" "$2" convert <(cat "$3") -o "$4"`, process.execPath, LCOW, SAMPLE, outputs[0]), { status: 0, stdout: '', stderr: '' });
  assert.deepEqual(bash('cat "$3" | "$1" "$2" -i /dev/stdin -o "$4"', process.execPath, TAR2EXT4, SAMPLE, outputs[1]), { status: 0, stdout: '', stderr: '' });
  assert.deepEqual(bash('gzip -c "$3" | "$1" "$2" convert /dev/stdin -o "$4"', process.execPath, LCOW, SAMPLE, outputs[2]), { status: 0, stdout: '', stderr: '' });
  for (const out of outputs) assert.ok(fs.readFileSync(out).equals(fs.readFileSync(reference)), out);
  const footer = path.join(dir, 'only.vhd');
  assert.equal(bash('"$1" "$2" -i <(cat "$3") -o "$4" -only-vhd', process.execPath, TAR2EXT4, SAMPLE, footer).status, 0);
  assert.equal(fs.statSync(footer).size, fs.statSync(SAMPLE).size + 512);
});

test('options before the command, help for an unknown command, an empty path: one line with a hint', () => {
  const cases = [
    [['--log-level', 'debug', 'convert', SAMPLE, '-o', 'x'], /put the command first and its options after it: lcow convert \.\.\. --log-level debug/],
    [['help', 'bogus'], /no help for "bogus"/],
    [['conver', SAMPLE], /unknown command "conver"; did you mean convert\?/],
    [['convert', '', '-o', 'x'], /the input path is empty \(use - for standard input\)/],
    [['inspect', ''], /the image path is empty/],
    [['convert', SAMPLE, '-o', 'x', 'y'], /takes one input; unexpected "y"/],
    [['convert', SAMPLE], /needs -o\/--output FILE/],
    [['convert', SAMPLE, '-o', 'x', '--no-output'], /has no option "--no-output"/],
    [['convert', SAMPLE, '-o', 'x', '--sync=perhaps'], /--sync is a switch/],
    [['inspect', SAMPLE, '--diff', '--json'], /--diff needs a value, not the option "--json" \(write --diff=--json if you mean it\)/],
    [['verify', SAMPLE, '--root-digest='], /--root-digest must be 64 hex digits/],
    [['convert', SAMPLE, '-o', 'x', '--maxsize', '1G'], /lcow spells it --max-size/],
  ];
  for (const [args, pattern] of cases) {
    const r = run(LCOW, args, { cwd: tmpDir() });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^lcow: USAGE: [^\n]*\n$/);
    assert.match(r.stderr, pattern);
  }
});

test('an image cut after its superblock magic: the summary, then one IMAGE_NOT_EXT4 line, exit 1', () => {
  const dir = tmpDir();
  const vhd = path.join(dir, 'v.vhd');
  assert.equal(run(LCOW, ['convert', SAMPLE, '-o', vhd, '--verity', '--vhd']).status, 0);
  const cut = path.join(dir, 'cut.img');
  fs.writeFileSync(cut, fs.readFileSync(vhd).subarray(0, 1100));
  const r = run(LCOW, ['inspect', cut]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /ext4: +unreadable/);
  assert.match(r.stderr, /^lcow: IMAGE_NOT_EXT4: .*cut\.img: the ext4 superblock or group descriptors cannot be read \([^\n]*\)\n$/);
});

test('mutated images never make inspect or verify report a bug (exit 70)', () => {
  const dir = tmpDir();
  const vhd = path.join(dir, 'v.vhd');
  assert.equal(run(LCOW, ['convert', SAMPLE, '-o', vhd, '--verity', '--vhd']).status, 0);
  const original = fs.readFileSync(vhd);
  let seed = 7;
  const random = (n) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
  const mutated = path.join(dir, 'm.vhd');
  for (let i = 0; i < 25; i++) {
    const bytes = Buffer.from(original);
    for (let k = 0; k <= random(6); k++) {
      const regions = [[0, 8192], [original.length - 600, original.length], [90_000, original.length]];
      const [from, to] = regions[random(regions.length)];
      bytes[from + random(to - from)] = random(256);
    }
    fs.writeFileSync(mutated, bytes);
    for (const args of [['inspect', mutated], ['verify', mutated], ['inspect', mutated, '--diff', vhd]]) {
      const r = run(LCOW, args);
      assert.ok([0, 1].includes(r.status), `${args.join(' ')} (mutation ${i}): exit ${r.status}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /INTERNAL|\n\s+at /);
    }
  }
});

test('the library refuses a missing or non-string target before reading the input', async () => {
  const dir = tmpDir();
  await assert.rejects(convertTar(SAMPLE, undefined), { code: 'INVALID_OPTION', message: 'the output must be a path string, not undefined' });
  await assert.rejects(convertTar(SAMPLE, ''), { code: 'USAGE', message: 'the output path is empty' });
  await assert.rejects(convertTar(SAMPLE, path.join(dir, 'x.img'), { onProgress: 'yes' }), { code: 'INVALID_OPTION', message: /onProgress must be a function/ });
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('help names every delegated command: lcow help image and lcow help driver print their own help', () => {
  for (const [command, pattern] of [['image', /lcow image <command>/], ['driver', /lcow driver --root DIR/], ['plugin', /lcow plugin/]]) {
    const r = spawnSync(process.execPath, [LCOW, 'help', command], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${command}: ${r.stderr}`);
    assert.match(r.stdout, pattern);
  }
  const unknown = spawnSync(process.execPath, [LCOW, 'help', 'bogus'], { encoding: 'utf8' });
  assert.match(unknown.stderr, /the commands are .*driver, plugin, image/);
});
