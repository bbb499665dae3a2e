// tar2ext4's flag parsing against Go's own flag package (Debian golang-go): a Go program
// declares tar2ext4's flag table (the same names, kinds and usage strings) and every
// command line below must give the same values, arguments, error line, usage text and
// exit status from both.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { REPO, tmpDir } from './helpers/corpus.js';

const { FLAGS } = await import(path.join(REPO, 'dist/host/cli/tar2ext4-flags.js'));
const { parseGoFlags, formatGoUsage, GoFlagError, parseGoInt64, parseGoBool } = await import(path.join(REPO, 'dist/host/cli/go-flag.js'));

const go = spawnSync('go', ['version']).status === 0 ? false : 'go is not installed (Debian golang-go)';
let goBinary;

/** A Go program with tar2ext4's flags that prints what flag.Parse made of its arguments. */
function goSource() {
  const decl = FLAGS.map((f) => {
    const usage = JSON.stringify(f.usage);
    if (f.name === 'log-level') {
      // Our check as a flag.Func, so that Go words the refusal itself.
      return `\tflag.Func("log-level", ${usage}, func(s string) error { for _, l := range []string{${'"fatal","error","warn","info","debug","trace","silent"'}} { if s == l { values["log-level"] = s; return nil } }; return errors.New("must be one of fatal, error, warn, info, debug, trace, silent") })`;
    }
    const ctor = { bool: 'Bool', string: 'String', int64: 'Int64' }[f.kind];
    const zero = { bool: 'false', string: '""', int64: '0' }[f.kind];
    return `\tflag.${ctor}(${JSON.stringify(f.name)}, ${zero}, ${usage})`;
  }).join('\n');
  return `package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
)

var values = map[string]string{}

func main() {
${decl}
	flag.Parse()
	flag.Visit(func(f *flag.Flag) { if f.Name != "log-level" { values[f.Name] = f.Value.String() } })
	out, _ := json.Marshal(map[string]interface{}{"values": values, "args": flag.Args()})
	fmt.Println(string(out))
}
`;
}

before(() => {
  if (go) return;
  const dir = tmpDir('lcow-goflag-');
  mkdirSync(path.join(dir, 'src'));
  writeFileSync(path.join(dir, 'src', 'main.go'), goSource());
  writeFileSync(path.join(dir, 'src', 'go.mod'), 'module goflag\n\ngo 1.19\n');
  goBinary = path.join(dir, 'tar2ext4');
  const built = spawnSync('go', ['build', '-o', goBinary, '.'], { cwd: path.join(dir, 'src'), encoding: 'utf8', env: { ...process.env, GOFLAGS: '-mod=mod', GOCACHE: path.join(dir, 'cache') } });
  assert.equal(built.status, 0, built.stderr);
});

function viaGo(argv) {
  const r = spawnSync(goBinary, argv, { argv0: 'tar2ext4', encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Our parser, reporting as Go's ExitOnError would. */
function viaOurs(argv) {
  try {
    const { values, args } = parseGoFlags(FLAGS, argv);
    const shown = Object.fromEntries([...values].map(([k, v]) => [k, String(v)]));
    return { status: 0, stdout: `${JSON.stringify({ args, values: sortKeys(shown) })}\n`, stderr: '' };
  } catch (err) {
    if (!(err instanceof GoFlagError)) throw err;
    const usage = formatGoUsage('tar2ext4', FLAGS);
    return { status: err.help ? 0 : 2, stdout: '', stderr: err.help ? usage : `${err.message}\n${usage}` };
  }
}

function sortKeys(object) {
  return Object.fromEntries(Object.entries(object).sort(([a], [b]) => (a < b ? -1 : 1)));
}

const CASES = [
  [], ['-h'], ['-help'], ['--help'], ['--h'], ['-bogus'], ['--version'], ['-V'],
  ['-vhd'], ['--vhd'], ['-vhd=true'], ['-vhd=1'], ['-vhd=t'], ['-vhd=T'], ['-vhd=TRUE'], ['-vhd=True'],
  ['-vhd=false'], ['-vhd=0'], ['-vhd=f'], ['-vhd=F'], ['-vhd=FALSE'], ['-vhd=False'], ['-vhd=yes'], ['-vhd='], ['-vhd', 'false'],
  ['-o', 'a', '-o', 'b'], ['-o=a'], ['--o=a'], ['-o'], ['-o', '-vhd'], ['-o', ''], ['-i=', '-o', 'x'],
  ['-maxsize', '128GiB'], ['-maxsize', 'potato'], ['-maxsize=0x10'], ['-maxsize', '0X1f'], ['-maxsize', '0o17'], ['-maxsize', '017'],
  ['-maxsize', '0b101'], ['-maxsize', '1_000'], ['-maxsize', '0x_1F'], ['-maxsize', '_1'], ['-maxsize', '1_'], ['-maxsize', '1__0'],
  ['-maxsize', '-5'], ['-maxsize', '+5'], ['-maxsize', '-'], ['-maxsize', ''], ['-maxsize', '0x'], ['-maxsize', '08'],
  ['-maxsize', '9223372036854775807'], ['-maxsize', '9223372036854775808'], ['-maxsize', '-9223372036854775808'], ['-maxsize', '-9223372036854775809'],
  ['-maxsize', '99999999999999999999'], ['-maxsize', '1e9'], ['-maxsize', ' 5'],
  ['-o', 'x', '--', '-vhd'], ['-o', 'x', 'extra', '-vhd'], ['-', '-o', 'x'], ['---o', 'x'], ['-=x'], ['--=x'], ['-o=x=y'],
  ['-log-level', 'debug'], ['-log-level', 'bogus'], ['--log-level=info'], ['-only-vhd', '-overlay=0', '-inline=1'],
  ['-i', 'in.tar', '-o', 'out.vhd', '-overlay', '-vhd', '-convert-slash', '-verity', '-uuid-from-content', '-digest', '-maxsize', '4096'],
];

test('every command line gives the same values, arguments, errors, usage and exit status as Go', { skip: go }, () => {
  for (const argv of CASES) {
    const expected = viaGo(argv);
    const ours = viaOurs(argv);
    // Go prints its map with sorted keys; ours is sorted the same way.
    if (expected.status === 0 && expected.stdout) {
      const parsed = JSON.parse(expected.stdout);
      expected.stdout = `${JSON.stringify({ args: parsed.args ?? [], values: sortKeys(parsed.values) })}\n`;
    }
    assert.deepEqual(ours, expected, `argv ${JSON.stringify(argv)}`);
  }
});

test('the tar2ext4 binary answers -h, -bogus and -maxsize potato as Go does (exit 0, 2, 2; usage on stderr)', { skip: go }, () => {
  const cli = path.join(REPO, 'dist/host/cli/tar2ext4.js');
  for (const argv of [['-h'], ['-help'], ['--help'], ['-bogus'], ['-maxsize', 'potato', '-o', 'x'], ['-vhd=yes', '-o', 'x']]) {
    const expected = viaGo(argv);
    const r = spawnSync(process.execPath, [cli, ...argv], { encoding: 'utf8' });
    assert.deepEqual({ status: r.status, stdout: r.stdout, stderr: r.stderr }, { ...expected, stdout: '' }, `argv ${JSON.stringify(argv)}`);
  }
});

test('strconv forms without Go: ParseInt base 0 and ParseBool', () => {
  assert.equal(parseGoInt64('0x7fffffffffffffff'), (1n << 63n) - 1n);
  assert.equal(parseGoInt64('-0x8000000000000000'), -(1n << 63n));
  assert.equal(parseGoInt64('0x8000000000000000'), 'value out of range');
  assert.equal(parseGoInt64('1_000_000'), 1000000n);
  assert.equal(parseGoInt64('0_7'), 7n);
  assert.equal(parseGoInt64('9_'), 'parse error');
  assert.equal(parseGoInt64('12a'), 'parse error');
  for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) assert.equal(parseGoBool(t), true);
  for (const f of ['0', 'f', 'F', 'FALSE', 'false', 'False']) assert.equal(parseGoBool(f), false);
  for (const x of ['yes', 'tRUE', '', 'on']) assert.equal(parseGoBool(x), undefined);
});
