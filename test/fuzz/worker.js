// Child process (child_process.fork) that runs one case at a time for the pool in pool.js:
// a conversion in its own process, so the parent can time it out (hang) or see it die
// (crash) without going down itself. Replies {id, outcome, problems}: outcome is 'image' or
// the refusal's code, problems lists what was wrong ([] = the case passed).

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { convertTar } from '../../dist/index.js';
import { describeFailure } from '../../dist/host/cli/failure.js';
import { checkVhdFooter } from '../helpers/corpus.js';
import { checkE2fsck, compareTrees, debugfsBatch, debugfsTree, expectedTree, readTarEntries, cleanPath } from '../helpers/debugfs.js';
import { writeTreeTar } from './arbitraries.js';

// Codes that mean a bug in lcow rather than bad input (the CLI exits 70 for these).
const INTERNAL_CODES = new Set(['ENGINE_TRAPPED', 'ENGINE_BAD_CALL']);
// Codes no case here may produce: inputs are small readable files and outputs go to an
// empty directory, so these would be a host exception wrapped as an I/O error (convertTar
// reports any non-LcowError as INPUT_READ_FAILED), or an allocation driven by a header
// field (the engine cannot legitimately run out of memory on a few kilobytes).
const UNEXPECTED_CODES = new Set(['INPUT_READ_FAILED', 'INPUT_OPEN_FAILED', 'OUTPUT_WRITE_FAILED', 'ENGINE_OUT_OF_MEMORY', 'USAGE']);

const OPTION_NAMES = { overlay: 'overlay', inline: 'inlineData', vhd: 'vhd', backslash: 'convertBackslash' };

function libraryOptions(options) {
  return Object.fromEntries(options.map((o) => [OPTION_NAMES[o], true]));
}

function clearDir(dir) {
  for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
}

/**
 * Converts `input` into outDir/out.img and checks what any input must satisfy: an LcowError
 * with an input-refusal code, a one-line CLI report and nothing left in outDir; or an image
 * of the reported size (with a valid footer for vhd). The image stays for further checks.
 */
async function convertChecked(input, outDir, options) {
  const target = path.join(outDir, 'out.img');
  const problems = [];
  let result = null;
  let error = null;
  try {
    result = await convertTar(input, target, libraryOptions(options));
  } catch (err) {
    error = err;
  }
  const left = fs.readdirSync(outDir);
  if (error) {
    if (error?.name !== 'LcowError') {
      problems.push({ kind: 'exception', message: String(error?.stack ?? error) });
    } else {
      if (INTERNAL_CODES.has(error.code) || error.code.startsWith('ENGINE_ERROR_')) {
        problems.push({ kind: 'internal', code: error.code, message: error.message });
      }
      if (UNEXPECTED_CODES.has(error.code)) {
        problems.push({ kind: 'unexpected', code: error.code, message: `${error.message}${error.cause?.stack ? ` | cause: ${error.cause.stack}` : ''}` });
      }
      // The library keeps hcsshim's wording, name bytes (newlines too) included; the CLI's
      // one stderr line is made by describeFailure, which must escape every control byte.
      const line = describeFailure(error);
      // eslint-disable-next-line no-control-regex
      if (/[\x00-\x1f\x7f-\x9f]/.test(line)) problems.push({ kind: 'control bytes', code: error.code, message: JSON.stringify(line) });
    }
    if (left.length) problems.push({ kind: 'leftover', code: error?.code, message: `files left after a failure: ${left.join(', ')}` });
  } else {
    if (left.length !== 1 || left[0] !== 'out.img') problems.push({ kind: 'leftover', message: `output directory holds ${left.join(', ')}` });
    const size = fs.statSync(target).size;
    const want = result.ext4Bytes + (options.includes('vhd') ? 512 : 0);
    if (size !== result.fileBytes || size !== want) {
      problems.push({ kind: 'size', message: `file is ${size} bytes, fileBytes ${result.fileBytes}, ext4Bytes ${result.ext4Bytes}` });
    }
    if (options.includes('vhd')) for (const m of checkVhdFooter(target)) problems.push({ kind: 'vhd', message: m });
  }
  return { target, result, error, problems };
}

/** Mutation case: any outcome is fine if it is clean, and an image must pass e2fsck -fn. */
async function convertCase({ input, outDir, options }) {
  const { target, result, error, problems } = await convertChecked(input, outDir, options);
  if (result) {
    fs.truncateSync(target, result.ext4Bytes); // e2fsck wants the bare ext4 image
    // Mutated tars can hold the two inputs hcsshim writes as given and e2fsck calls invalid.
    const fsck = checkE2fsck(target, undefined, { allowClean: true, hcsshimQuirks: true });
    for (const p of fsck.problems) problems.push({ kind: 'e2fsck', message: p });
  }
  clearDir(outDir);
  return { outcome: error ? (error.code ?? 'exception') : 'image', error: error ? describeFailure(error) : null, problems };
}

// ---------------------------------------------------------------- xattrs ----

/** Path -> Map<name, Buffer> of SCHILY.xattr records, as hcsshim takes them from the tar. */
function expectedXattrs(tarPath) {
  const out = new Map();
  for (const e of readTarEntries(tarPath)) {
    if (e.typeflag === '1') continue; // Link takes nothing from the link's header
    const x = new Map();
    for (const [k, v] of e.pax ?? []) if (k.startsWith('SCHILY.xattr.')) x.set(k.slice(13), v);
    out.set(cleanPath(e.name), x);
  }
  return out;
}

/** Xattrs of each inode as debugfs reads them (system.data, the inline-data xattr, left out). */
function imageXattrs(image, inos) {
  const { outputs } = debugfsBatch(image, inos.map((i) => `ea_list <${i}>`));
  const names = inos.map((ino, i) => [ino, [...outputs[i].matchAll(/^ {2}(\S+) \((\d+)\)/gm)].map((m) => m[1]).filter((n) => n !== 'system.data')]);
  const dir = fs.mkdtempSync(path.join(path.dirname(image), 'ea-'));
  const cmds = [];
  for (const [ino, list] of names) list.forEach((n, k) => cmds.push(`ea_get -f ${path.join(dir, `${ino}-${k}`)} <${ino}> ${n}`));
  if (cmds.length) debugfsBatch(image, cmds);
  const out = new Map();
  for (const [ino, list] of names) {
    out.set(ino, new Map(list.map((n, k) => [n, fs.readFileSync(path.join(dir, `${ino}-${k}`))])));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return out;
}

function compareXattrs(expected, actualTree, image) {
  // Per inode: a hard link shares its target's inode and xattrs; other inodes have none.
  const want = new Map();
  for (const [p, x] of expected) if (actualTree.has(p)) want.set(actualTree.get(p).ino, { p, x });
  const inos = [...new Set([...actualTree.values()].map((e) => e.ino))];
  const got = imageXattrs(image, inos);
  const show = (m) => JSON.stringify([...m].map(([k, v]) => `${k}=${v.toString('hex')}`).sort());
  const problems = [];
  for (const ino of inos) {
    const w = want.get(ino) ?? { p: `<inode ${ino}>`, x: new Map() };
    if (show(w.x) !== show(got.get(ino))) problems.push(`${JSON.stringify(w.p)}: xattrs ${show(got.get(ino))}, want ${show(w.x)}`);
  }
  return problems;
}

// ----------------------------------------------------------------- trees ----

const INLINE_DATA_FL = 0x10000000;

/**
 * debugfs `dump` of an inline-data file writes the whole inline area (60 bytes and more)
 * whatever i_size says; the kernel reads i_size bytes. Re-hash those files' first i_size
 * bytes (hcsshim's own -inline images read the same way through debugfs).
 */
function fixInlineContents(image, tree) {
  const inline = [...tree.values()].filter((e) => e.kind === 'reg' && e.flags & INLINE_DATA_FL);
  if (!inline.length) return;
  const dir = fs.mkdtempSync(path.join(path.dirname(image), 'inline-'));
  debugfsBatch(image, inline.map((e) => `dump <${e.ino}> ${path.join(dir, String(e.ino))}`));
  for (const e of inline) {
    const data = fs.readFileSync(path.join(dir, String(e.ino))).subarray(0, e.size);
    e.sha256 = createHash('sha256').update(data).digest('hex');
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * Tree case: Python writes the tree as a tar; every option set must convert it, and debugfs
 * must read back the tar's tree (helpers/debugfs.js model) and its xattrs; e2fsck -fn may
 * only say what it says of hcsshim's own images.
 */
async function treeCase({ tree, tarPath, outDir, optionSets }) {
  if (tree) writeTreeTar(tree, tarPath); // else a saved tar, replayed
  const expected = expectedTree(tarPath);
  const xattrs = expectedXattrs(tarPath);
  const problems = [];
  for (const options of optionSets) {
    const c = await convertChecked(tarPath, outDir, options);
    const tag = (kind, message) => ({ kind, options, message });
    if (c.error) problems.push(tag('refused', describeFailure(c.error)));
    problems.push(...c.problems.map((p) => ({ ...p, options })));
    if (c.result) {
      fs.truncateSync(c.target, c.result.ext4Bytes);
      const actual = debugfsTree(c.target);
      fixInlineContents(c.target, actual);
      for (const m of compareTrees(expected, actual)) problems.push(tag('mismatch', m));
      for (const m of compareXattrs(xattrs, actual, c.target)) problems.push(tag('xattrs', m));
      for (const m of checkE2fsck(c.target).problems) problems.push(tag('e2fsck', m));
    }
    clearDir(outDir);
  }
  return { outcome: problems.length ? 'problems' : 'image', problems };
}

process.on('message', async (job) => {
  let reply;
  try {
    reply = job.kind === 'tree' ? await treeCase(job) : await convertCase(job);
  } catch (err) {
    // A failure of the harness itself (debugfs missing, model error): report, never hide.
    reply = { outcome: 'harness', problems: [{ kind: 'harness', message: String(err?.stack ?? err) }] };
  }
  process.send({ id: job.id, ...reply });
});
