// Measuring child processes: wall time and peak RSS, median over interleaved runs.

import { spawnSync } from 'node:child_process';

export const RUNS = Math.max(1, Number(process.env.BENCH_RUNS) || 5);
// Generous per-command limit so a stuck or pathologically slow case fails instead of hanging the suite.
export const TIMEOUT_S = Number(process.env.BENCH_TIMEOUT) || 600;

// Node cannot read a child's ru_maxrss, so a tiny python wrapper runs the command and reports
// perf_counter wall time (taken after python's own start-up, so that is not counted) and
// getrusage(RUSAGE_CHILDREN).ru_maxrss (KiB on Linux) on fd 3, which the command does not inherit.
const WRAPPER = `
import json, os, resource, subprocess, sys, time
timeout, cmd = float(sys.argv[1]), sys.argv[2:]
res = {}
t0 = time.perf_counter()
try:
    p = subprocess.Popen(cmd)
    try:
        res["status"] = p.wait(timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM first so the converter can delete its temporary output, then SIGKILL.
        res["timeout"] = True
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
except OSError as e:
    res["spawnError"] = str(e)
res["seconds"] = time.perf_counter() - t0
res["maxrssKiB"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
os.write(3, json.dumps(res).encode())
`;

let python = null;
/** The real python3 binary (resolved once: pyenv-style shims are slow shell scripts). */
function pythonPath() {
  if (!python) {
    const r = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error('bench: python3 is needed to measure peak RSS');
    python = r.stdout.trim();
  }
  return python;
}

/** Run argv once under the wrapper: { seconds, rssMiB, stdout, stderr, error? }. */
export function measureOnce(argv, { timeoutS = TIMEOUT_S, cwd, env } = {}) {
  const r = spawnSync(pythonPath(), ['-c', WRAPPER, String(timeoutS), ...argv], {
    cwd,
    env: env ? { ...process.env, ...env } : undefined,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    maxBuffer: 256 << 20,
    timeout: (timeoutS + 120) * 1000, // backstop should the wrapper itself wedge
  });
  const stdout = r.output?.[1]?.toString() ?? '';
  const stderr = r.output?.[2]?.toString() ?? '';
  let res;
  try {
    res = JSON.parse(r.output[3].toString());
  } catch {
    return { stdout, stderr, error: `wrapper failed: ${r.error?.message ?? `exit ${r.status}`} ${lastLine(stderr)}` };
  }
  const out = { seconds: res.seconds, rssMiB: res.maxrssKiB / 1024, stdout, stderr };
  if (res.timeout) out.error = `timed out after ${timeoutS} s`;
  else if (res.spawnError) out.error = res.spawnError;
  else if (res.status !== 0) out.error = `exit ${res.status}: ${lastLine(stderr) || lastLine(stdout)}`;
  return out;
}

function lastLine(text) {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.length ? lines[lines.length - 1].slice(0, 300) : '';
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The pino "converted" line of an lcow run, parsed, or null. */
export function convertedLog(stderr) {
  for (const line of stderr.split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    try {
      const j = JSON.parse(line);
      if (j.msg === 'converted') return j;
    } catch {
      // not JSON: ignore
    }
  }
  return null;
}

const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

/** One untimed run of spec.probe (the command with its info log on) for the "converted" line. */
function probe(s, o, prefix) {
  s.before?.();
  log(`${prefix}${s.name} (log probe)`);
  const r = measureOnce(s.probe, { env: s.env });
  s.after?.();
  spawnSync('sync');
  const j = r.error ? null : convertedLog(r.stderr);
  if (j) o.logs.push(j);
  else log(`${prefix}${s.name} log probe gave no "converted" line${r.error ? `: ${r.error}` : ''}`);
}

/**
 * Measure commands: each spec is { name, argv, env?, probe?, before?(), after?() } where before/after are
 * the untimed set-up and clean-up of every run (fresh output dir, deleting outputs) and probe an
 * argv run once more, untimed, for its log (the timed runs log nothing). Every spec gets a
 * warm-up run, then RUNS rounds run the specs in turn, so drift (thermal, page cache, other load)
 * touches all of them alike. A spec that fails is dropped from later rounds and reported with
 * its error line. Returns { [name]: { argv, median, times, rssMiB (max over runs), logs, error? } }.
 */
export function measure(specs, label = '') {
  const prefix = label ? `${label}: ` : '';
  const out = {};
  for (const s of specs) out[s.name] = { argv: s.argv, times: [], rssMiB: 0, logs: [] };
  const runOne = (s, run) => {
    const o = out[s.name];
    if (o.error) return;
    s.before?.();
    log(`${prefix}${s.name} (${run})`);
    const r = measureOnce(s.argv, { env: s.env });
    s.after?.();
    // Flush dirty pages now, untimed, so one run's write-back does not land in the next's time.
    spawnSync('sync');
    if (r.error) {
      o.error = r.error;
      log(`${prefix}${s.name} FAILED: ${r.error}`);
      return;
    }
    if (run === 'warm-up') return;
    o.times.push(r.seconds);
    o.rssMiB = Math.max(o.rssMiB, r.rssMiB);
    const j = convertedLog(r.stderr);
    if (j) o.logs.push(j);
  };
  for (const s of specs) runOne(s, 'warm-up');
  for (let i = 1; i <= RUNS; i++) for (const s of specs) runOne(s, `run ${i}/${RUNS}`);
  for (const s of specs) if (s.probe && !out[s.name].error) probe(s, out[s.name], prefix);
  for (const o of Object.values(out)) {
    o.median = o.error || !o.times.length ? null : median(o.times);
    o.engineMemoryBytes = o.logs.length ? Math.max(...o.logs.map((j) => j.engineMemoryBytes ?? 0)) : null;
  }
  return out;
}
