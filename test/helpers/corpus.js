// Shared test helpers: the tar corpus, the golden results of hcsshim's tar2ext4 (the oracle),
// running our tar2ext4 CLI, and output normalization as golden.json's `schema` defines it.
// Everything they read is in this repository (fixtures/golden/, fixtures/corpus/; see
// fixtures/golden/PROVENANCE.md), so the tests run from a clone with nothing beside it.
// No side effects on import: node --test runs every .js file under test/ as a test file.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const GOLDEN_DIR = path.join(REPO, 'fixtures', 'golden');
export const GOLDEN_JSON = path.join(GOLDEN_DIR, 'golden.json');
export const GOLDEN_IMAGES = path.join(GOLDEN_DIR, 'images');
export const CORPUS_GENERATOR = path.join(REPO, 'fixtures', 'corpus', 'make_corpus.py');
export const CORPUS_DIR = path.join(REPO, '.corpus');
// The project's shared folder the golden copy came from (../shared beside the repository;
// LCOW_SHARED_DIR moves it). Only test/golden-copy.test.js reads it, to check the copy.
export const SHARED = process.env.LCOW_SHARED_DIR ? path.resolve(process.env.LCOW_SHARED_DIR) : path.join(REPO, '..', 'shared');
// LCOW_TAR2EXT4 overrides the converter under test: a .js/.mjs file is run with node, anything
// else is executed directly (for example hcsshim's own tar2ext4, to check the harness).
export const TAR2EXT4 = process.env.LCOW_TAR2EXT4 || path.join(REPO, 'dist', 'host', 'cli', 'tar2ext4.js');

export const VHD_FOOTER_BYTES = 512;

let goldenCache = null;

/** golden.json, parsed (cached). */
export function golden() {
  if (!goldenCache) goldenCache = JSON.parse(fs.readFileSync(GOLDEN_JSON, 'utf8'));
  return goldenCache;
}

/** "basic.tar [-overlay,-vhd]" */
export function resultName(result) {
  return `${result.case} [${result.options.join(',')}]`;
}

export function hasOption(result, opt) {
  return result.options.includes(opt);
}

// ---------------------------------------------------------------- tools ----

const EXTRA_PATH = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Full path of an executable found on PATH (or in the sbin dirs), else null. */
export function toolPath(name) {
  const dirs = (process.env.PATH || '').split(path.delimiter).filter(Boolean).concat(EXTRA_PATH);
  for (const dir of dirs) {
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return null;
}

export function hasTool(name) {
  return toolPath(name) !== null;
}

// ----------------------------------------------------------------- temp ----

const tmpDirs = new Set();
let exitHookInstalled = false;

/** A fresh temp directory, removed when the process exits (or earlier with rmSync). */
export function tmpDir(prefix = 'lcow-test-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.add(dir);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const d of tmpDirs) {
        try {
          fs.rmSync(d, { recursive: true, force: true });
        } catch {
          // best effort
        }
      }
    });
  }
  return dir;
}

// --------------------------------------------------------------- corpus ----

export function sha256File(file) {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

const STAMP = '.verified.json';

function goldenId() {
  return createHash('sha256').update(fs.readFileSync(GOLDEN_JSON)).digest('hex');
}

/**
 * What is wrong with the corpus tars in `dir` against golden.json (missing, size, sha256),
 * [] when all are right; a stamp of (size, mtime, inode) per tar caches the hashing.
 */
function corpusProblems(dir, { useStamp }) {
  const cases = golden().cases;
  const id = goldenId();
  let stamp = null;
  if (useStamp) {
    try {
      stamp = JSON.parse(fs.readFileSync(path.join(dir, STAMP), 'utf8'));
    } catch {
      stamp = null;
    }
  }
  const files = {};
  const problems = [];
  for (const c of cases) {
    const p = path.join(dir, c.case);
    let st;
    try {
      st = fs.statSync(p);
    } catch {
      problems.push(`${c.case}: missing`);
      continue;
    }
    if (st.size !== c.tar_bytes) {
      problems.push(`${c.case}: ${st.size} bytes, golden.json says ${c.tar_bytes}`);
      continue;
    }
    const key = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
    const s = stamp && stamp.golden === id && stamp.files && stamp.files[c.case];
    if (!(s && s.size === key.size && s.mtimeMs === key.mtimeMs && s.ino === key.ino)) {
      const sha = sha256File(p);
      if (sha !== c.tar_sha256) {
        problems.push(`${c.case}: sha256 ${sha}, golden.json says ${c.tar_sha256}`);
        continue;
      }
    }
    files[c.case] = key;
  }
  if (problems.length > 0) return problems;
  // Refresh the stamp (atomically) so the next process skips hashing.
  const tmp = path.join(dir, `${STAMP}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify({ golden: id, files }));
  fs.renameSync(tmp, path.join(dir, STAMP));
  return [];
}

const corpusValid = (dir) => corpusProblems(dir, { useStamp: true }).length === 0;

/**
 * Runs the repository's corpus generator, writing the 22 tars into `outDir`. Throws with the
 * generator's message if it fails; it refuses to finish itself when a tar it wrote differs
 * from golden.json's tar_sha256.
 */
export function generateCorpus(outDir) {
  const python = toolPath('python3');
  if (!python) throw new Error(`corpus: python3 is needed to generate the corpus (${path.relative(REPO, CORPUS_GENERATOR)})`);
  const r = spawnSync(python, [CORPUS_GENERATOR, outDir], {
    encoding: 'utf8',
    maxBuffer: 16 << 20,
  });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`corpus: ${path.relative(REPO, CORPUS_GENERATOR)} exited ${r.status}: ${(r.stderr || '').trim()}`);
  }
}

/** Checks every corpus tar in `dir` against golden.json's size and sha256 (no stamp); throws naming each that differs. */
export function verifyCorpus(dir) {
  const problems = corpusProblems(dir, { useStamp: false });
  if (problems.length > 0) {
    throw new Error(`corpus: the tars in ${dir} are not the ones golden.json was made from:\n  ${problems.join('\n  ')}`);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Directory holding the 22 corpus tars, byte-identical to those golden.json was made from.
 * Generated once into <repo>/.corpus/ with fixtures/corpus/make_corpus.py. Safe across test
 * files running in parallel processes: a mkdir lock serializes generation, the tars are
 * generated into a temp dir and renamed into place one by one (the bytes are deterministic,
 * so a reader never sees a partial or different file).
 */
export async function corpusDir() {
  fs.mkdirSync(CORPUS_DIR, { recursive: true });
  if (corpusValid(CORPUS_DIR)) return CORPUS_DIR;

  const lock = path.join(CORPUS_DIR, '.lock');
  const deadline = Date.now() + 10 * 60 * 1000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      // Someone else is generating. Take over a lock older than 5 minutes (a killed run).
      try {
        if (Date.now() - fs.statSync(lock).mtimeMs > 5 * 60 * 1000) {
          fs.rmSync(lock, { recursive: true, force: true });
          continue;
        }
      } catch {
        continue;
      }
      if (Date.now() > deadline) throw new Error(`corpus: timed out waiting for ${lock}`);
      await sleep(200);
      if (corpusValid(CORPUS_DIR)) return CORPUS_DIR;
    }
  }
  try {
    if (corpusValid(CORPUS_DIR)) return CORPUS_DIR;
    const tmp = fs.mkdtempSync(path.join(CORPUS_DIR, '.tmp-'));
    try {
      generateCorpus(tmp);
      for (const c of golden().cases) {
        fs.renameSync(path.join(tmp, c.case), path.join(CORPUS_DIR, c.case));
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    verifyCorpus(CORPUS_DIR);
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
  return CORPUS_DIR;
}

// ------------------------------------------------------------ converter ----

/** Run our tar2ext4 CLI: node dist/host/cli/tar2ext4.js ...args (or LCOW_TAR2EXT4). */
export function runTar2ext4(args, opts = {}) {
  const viaNode = /\.[cm]?js$/.test(TAR2EXT4);
  const r = spawnSync(viaNode ? process.execPath : TAR2EXT4, viaNode ? [TAR2EXT4, ...args] : args, {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    timeout: opts.timeout ?? 10 * 60 * 1000,
  });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stderr: r.stderr, stdout: r.stdout };
}

// ---------------------------------------------------------- normalizing ----

/** ext4 size in bytes from the superblock (s_blocks_count_lo/hi * 4096 at block size 4096). */
export function ext4BytesOf(buf) {
  if (buf.length < 2048) return null;
  const lo = buf.readUInt32LE(1024 + 4);
  const hi = buf.readUInt32LE(1024 + 0x150);
  const logBlock = buf.readUInt32LE(1024 + 24);
  if (buf.readUInt16LE(1024 + 56) !== 0xef53 || logBlock > 6) return null;
  // hi is only meaningful with the 64bit feature; compact images never set it.
  const incompat = buf.readUInt32LE(1024 + 0x60);
  const blocks = (incompat & 0x80 ? hi * 2 ** 32 : 0) + lo;
  return blocks * (1024 << logBlock);
}

/** Up to `len` bytes at `pos` of fd (fewer at end of file). */
/** Overwrites `bytes` at `offset` of `file` in place (damaging an image on purpose). */
export function patch(file, offset, bytes) {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

export function readRange(fd, pos, len) {
  const b = Buffer.alloc(len);
  let off = 0;
  while (off < len) {
    const n = fs.readSync(fd, b, off, len - off, pos + off);
    if (n === 0) break;
    off += n;
  }
  return b.subarray(0, off);
}

/**
 * The byte ranges that golden.json hashes, for an output of `result`'s options:
 * the VHD footer is dropped with -vhd, and the dm-verity superblock UUID
 * (16 bytes at ext4_bytes+16, ext4_bytes from the file's own superblock) is zeroed with -verity.
 */
function normalization(fd, fileSize, result) {
  let end = fileSize;
  if (hasOption(result, '-vhd')) end = Math.max(0, fileSize - VHD_FOOTER_BYTES);
  let zero = null;
  if (hasOption(result, '-verity')) {
    const ext4 = ext4BytesOf(readRange(fd, 0, 2048)) ?? result.ext4_bytes;
    if (ext4 != null && ext4 + 32 <= end) zero = [ext4 + 16, ext4 + 32];
  }
  return { end, zero };
}

function normalizedHash(fd, fileSize, result) {
  const { end, zero } = normalization(fd, fileSize, result);
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(4 << 20);
  for (let pos = 0; pos < end; ) {
    const n = fs.readSync(fd, buf, 0, Math.min(buf.length, end - pos), pos);
    if (n === 0) break;
    const chunk = buf.subarray(0, n);
    if (zero && zero[0] < pos + n && zero[1] > pos) {
      chunk.fill(0, Math.max(0, zero[0] - pos), Math.min(n, zero[1] - pos));
    }
    h.update(chunk);
    pos += n;
  }
  return h.digest('hex');
}

/** sha256 (hex) of `file` normalized as golden.json's schema says, for `result`'s options. */
export function normalizedSha256(file, result) {
  const fd = fs.openSync(file, 'r');
  try {
    return normalizedHash(fd, fs.fstatSync(fd).size, result);
  } finally {
    fs.closeSync(fd);
  }
}

/** The same normalization applied to an in-memory image; returns a new Buffer. */
export function normalizeBuffer(buf, result) {
  let end = buf.length;
  if (hasOption(result, '-vhd')) end = Math.max(0, buf.length - VHD_FOOTER_BYTES);
  const out = Buffer.from(buf.subarray(0, end));
  if (hasOption(result, '-verity')) {
    const ext4 = ext4BytesOf(out) ?? result.ext4_bytes;
    if (ext4 != null && ext4 + 32 <= end) out.fill(0, ext4 + 16, ext4 + 32);
  }
  return out;
}

/** Normalized contents of a file (only for small files: failure diagnostics). */
export function normalizedFile(file, result) {
  return normalizeBuffer(fs.readFileSync(file), result);
}

/** Path of the gzipped raw oracle image for `result`, or null if golden has none. */
export function goldenImagePath(result) {
  if (!result.image) return null;
  const p = path.join(GOLDEN_IMAGES, result.image);
  return fs.existsSync(p) ? p : null;
}

/** The raw oracle output for `result` (gunzipped), or null. */
export function goldenImage(result) {
  const p = goldenImagePath(result);
  return p ? gunzipSync(fs.readFileSync(p)) : null;
}

// ------------------------------------------------------------ VHD footer ----

/**
 * Problems (strings) with the fixed VHD footer in the last 512 bytes of `file`; [] if fine.
 * Checks cookie, checksum, disk type 2, and current/original size == file size - 512.
 * With `expectedNormalizedSha256`, also the footer with checksum and unique id zeroed.
 */
export function checkVhdFooter(file, expectedNormalizedSha256) {
  const fd = fs.openSync(file, 'r');
  let footer;
  let size;
  try {
    size = fs.fstatSync(fd).size;
    if (size < VHD_FOOTER_BYTES) return [`file is ${size} bytes, too small for a VHD footer`];
    footer = readRange(fd, size - VHD_FOOTER_BYTES, VHD_FOOTER_BYTES);
  } finally {
    fs.closeSync(fd);
  }
  return checkVhdFooterBuffer(footer, size - VHD_FOOTER_BYTES, expectedNormalizedSha256);
}

export function checkVhdFooterBuffer(footer, dataBytes, expectedNormalizedSha256) {
  const problems = [];
  const cookie = footer.toString('latin1', 0, 8);
  if (cookie !== 'conectix') problems.push(`cookie is ${JSON.stringify(cookie)}, want "conectix"`);
  let sum = 0;
  for (let i = 0; i < VHD_FOOTER_BYTES; i++) if (i < 64 || i >= 68) sum += footer[i];
  const want = ~sum >>> 0;
  const got = footer.readUInt32BE(64);
  if (got !== want) problems.push(`checksum is 0x${got.toString(16)}, want 0x${want.toString(16)}`);
  const diskType = footer.readUInt32BE(60);
  if (diskType !== 2) problems.push(`disk type is ${diskType}, want 2 (fixed)`);
  const current = Number(footer.readBigUInt64BE(48));
  if (current !== dataBytes) problems.push(`current size is ${current}, want ${dataBytes} (file size - 512)`);
  const original = Number(footer.readBigUInt64BE(40));
  if (original !== dataBytes) problems.push(`original size is ${original}, want ${dataBytes}`);
  if (expectedNormalizedSha256) {
    const z = Buffer.from(footer);
    z.fill(0, 64, 84);
    const sha = createHash('sha256').update(z).digest('hex');
    if (sha !== expectedNormalizedSha256) {
      problems.push(`footer (checksum and unique id zeroed) sha256 ${sha}, golden ${expectedNormalizedSha256}`);
    }
  }
  return problems;
}

// ------------------------------------------------------------- selection ----

/** The option sets the golden/e2fsck tests cover (exactly as golden.json spells them). */
export const TESTED_OPTION_SETS = [[], ['-overlay'], ['-overlay', '-vhd']];

/**
 * golden.json results with options exactly one of TESTED_OPTION_SETS, xattrs* cases left out
 * (unless `includeXattrs`).
 */
export function goldenSubset({ includeXattrs = false } = {}) {
  const wanted = new Set(TESTED_OPTION_SETS.map((o) => JSON.stringify(o)));
  return golden().results.filter(
    (r) => wanted.has(JSON.stringify(r.options)) && (includeXattrs || !r.case.startsWith('xattrs')),
  );
}

/** Offset of the first differing byte of two buffers (or of the shorter length), -1 if equal. */
export function firstDifference(a, b) {
  const n = Math.min(a.length, b.length);
  const step = 4096;
  for (let off = 0; off < n; off += step) {
    const end = Math.min(n, off + step);
    if (Buffer.compare(a.subarray(off, end), b.subarray(off, end)) !== 0) {
      for (let i = off; i < end; i++) if (a[i] !== b[i]) return i;
    }
  }
  return a.length === b.length ? -1 : n;
}
