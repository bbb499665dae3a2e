// Machine description, the results table (one row per check), and results.json.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { HCSSHIM_UNSET, hcsshimPath, mke2fsPath } from './commands.js';
import { BENCH_DIR, benchPath } from './inputs.js';
import { RUNS, TIMEOUT_S } from './measure.js';

function firstLine(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0].trim();
}

export function machineInfo() {
  fs.mkdirSync(BENCH_DIR, { recursive: true });
  const df = spawnSync('df', ['-T', BENCH_DIR], { encoding: 'utf8' }).stdout.trim().split('\n').pop().split(/\s+/);
  let mke2fs = 'missing';
  try {
    mke2fs = `${mke2fsPath()}: ${firstLine(mke2fsPath(), ['-V'])}`;
  } catch {
    // reported by the tree scenario
  }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    ramGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    kernel: `${os.type()} ${os.release()} ${os.machine()}`,
    node: process.version,
    benchDir: BENCH_DIR,
    benchFs: `${df[1]} on ${df[0]} (mounted at ${df[6]})`,
    tar: firstLine('tar', ['--version']),
    cp: firstLine('cp', ['--version']),
    mke2fs,
    hcsshim: hcsshimDescription(),
    // Other work on the machine skews every number; recorded so a noisy run can be recognised.
    loadAverage: os.loadavg().map((x) => +x.toFixed(2)),
    runs: RUNS,
    timeoutSeconds: TIMEOUT_S,
  };
}

/** The hcsshim binary compared with: its path and what Go's build info says of it. */
function hcsshimDescription() {
  const binary = hcsshimPath();
  if (!binary) return HCSSHIM_UNSET;
  const built = spawnSync('go', ['version', binary], { encoding: 'utf8' });
  return built.status === 0 ? built.stdout.trim() : binary;
}

export function printMachine(m) {
  const lines = [
    `machine : ${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB RAM`,
    `kernel  : ${m.kernel}`,
    `load    : ${m.loadAverage.join(' ')} (1/5/15-min load average at start)`,
    `node    : ${m.node}`,
    `.bench  : ${m.benchDir}: ${m.benchFs}`,
    `tools   : ${m.tar}; ${m.cp}; ${m.mke2fs}`,
    `hcsshim : ${m.hcsshim}`,
    `method  : warm-up + median of ${m.runs} runs, interleaved with the references; peak RSS = max ` +
      `ru_maxrss over the runs; MB/s = tar bytes / 1e6 / median s; timeout ${m.timeoutSeconds} s per command`,
    'lcow    : tar2ext4 -overlay -vhd, both sides (ours: dist/host/cli/tar2ext4.js); neither fsyncs, nor do cp and tar -xf; mke2fs does flush its image',
  ];
  process.stdout.write(`${lines.join('\n')}\n\n`);
}

// ------------------------------------------------------------------ checks ----

/** 'ok' / 'MISSED' against a target like "<=1.10" or "<1.0"; '-' when there is no target. */
function verdict(value, target) {
  if (!target) return '-';
  if (value == null || Number.isNaN(value)) return 'n/a';
  const [, op, num] = /^(<=|<)\s*([\d.]+)$/.exec(target);
  return (op === '<=' ? value <= +num : value < +num) ? 'ok' : 'MISSED';
}

const COLS = [
  ['scenario', 8], ['case', 20], ['tar MB', 8], ['entries', 9], ['wall s', 8], ['MB/s', 8], ['RSS MiB', 8],
  ['check', 15], ['ref s', 8], ['value', 9], ['target', 8], ['result', 6],
];

function row(cells) {
  return cells.map((c, i) => {
    const [, w] = COLS[i];
    const s = String(c ?? '');
    return i < 2 || i === 7 ? s.padEnd(w) : s.padStart(w);
  }).join('  ').trimEnd();
}

const fix = (x, d) => (x == null ? '' : x.toFixed(d));

export class Report {
  constructor() {
    this.entries = [];
  }

  printHeader() {
    process.stdout.write(`${row(COLS.map(([n]) => n))}\n${row(COLS.map(([, w]) => '-'.repeat(w)))}\n`);
  }

  /**
   * One measured case: subject (from measure()) against references ({ name, m, target }) and
   * absolute limits ({ name, value, target }). Prints its rows at once (the suite is long).
   */
  add({ scenario, case: name, input, subject, refs = [], limits = [] }) {
    const checks = [
      ...refs.map((r) => {
        if (r.skipped) return { check: `vs ${r.name}`, target: r.target, result: 'skip', skipped: r.skipped };
        const ratio = subject.median != null && r.m.median != null ? subject.median / r.m.median : null;
        return { check: `vs ${r.name}`, refSeconds: r.m.median, value: ratio, target: r.target, result: verdict(ratio, r.target), refError: r.m.error };
      }),
      ...limits.map((l) => ({ check: l.name, value: l.value, digits: l.digits, target: l.target, result: verdict(l.value, l.target) })),
    ];
    const mbps = subject.median ? input.bytes / 1e6 / subject.median : null;
    const lead = [scenario, name, fix(input.bytes / 1e6, 1), input.entries, subject.error ? 'FAILED' : fix(subject.median, 3), fix(mbps, 1), fix(subject.rssMiB || null, 1)];
    const blank = lead.map(() => '');
    const lines = (checks.length ? checks : [{}]).map((c, i) => row([
      ...(i ? blank : lead),
      c.check, c.refError ? 'FAILED' : fix(c.refSeconds, 3),
      c.value == null ? '' : c.check?.startsWith('vs ') ? `${c.value.toFixed(2)}x` : c.value.toFixed(c.digits ?? 1),
      c.target ?? '', c.result ?? '',
    ]));
    if (subject.error) lines.push(`    ${name}: lcow failed: ${subject.error}`);
    for (const r of refs) if (r.m?.error) lines.push(`    ${name}: reference ${r.name} failed: ${r.m.error}`);
    process.stdout.write(`${lines.join('\n')}\n`);
    this.entries.push({ scenario, case: name, input, subject, mbps, refs: refs.map((r) => ({ name: r.name, skipped: r.skipped, ...r.m })), checks });
  }

  /** A scenario this machine cannot run (a tool or a privilege missing): said, not failed. */
  skip(scenario, why) {
    process.stdout.write(`${row([scenario, '', '', '', 'skipped'])}\n    ${scenario}: skipped: ${why}\n`);
    this.entries.push({ scenario, skipped: why });
  }

  /** A scenario that could not run at all (missing tool, input generation failed, ...). */
  fail(scenario, err) {
    process.stdout.write(`${row([scenario, '', '', '', 'FAILED'])}\n    ${scenario}: ${err.message}\n`);
    this.entries.push({ scenario, error: err.message });
  }

  /** results.json for a run of every scenario; a subset goes to results-<names>.json beside it. */
  write(extra, subset) {
    const file = benchPath(subset ? `results-${subset.join('-')}.json` : 'results.json');
    // Per-run stdout/stderr are not kept; the parsed lcow "converted" lines are (logs).
    fs.writeFileSync(file, JSON.stringify({ ...extra, results: this.entries }, null, 2));
    return file;
  }
}
