// Go's `flag` package (go1.19 src/flag/flag.go), reproduced for tar2ext4 so that scripts
// written for hcsshim's Go CLI get the same answers: one or two dashes, `-name=value` or
// `-name value` for non-bools, only `-name` or `-name=value` for bools (`-vhd false`
// sets -vhd and leaves "false" as an argument), the last of repeated flags wins,
// parsing stops at the first non-flag or after `--`, `-h`/`-help` print the usage, and
// errors use Go's wording.

export type GoFlagKind = 'bool' | 'string' | 'int64';

export interface GoFlag {
  name: string;
  kind: GoFlagKind;
  /** Go's usage string; a `back-quoted` word names the value in the usage text. */
  usage: string;
  /** Checks a string value after Go's own parsing (our -log-level); returns an error text. */
  check?: (value: string) => string | undefined;
}

export type GoFlagValue = boolean | string | bigint;

/** Parse failures. `help` is Go's ErrHelp (exit 0); anything else exits 2. */
export class GoFlagError extends Error {
  constructor(message: string, readonly help = false) {
    super(message);
    this.name = 'GoFlagError';
  }
}

export interface GoFlagResult {
  /** Values of the flags that were set, by name; unset flags are absent. */
  values: Map<string, GoFlagValue>;
  /** flag.Args(): what follows the flags. */
  args: string[];
}

/** strconv.ParseBool. */
export function parseGoBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}

const INT64_LIMIT = 1n << 63n;

/**
 * strconv.ParseInt(text, 0, 64) as flag.Int64 calls it: optional sign, then a 0x/0o/0b
 * prefix or a leading 0 for octal, underscores only between digits (or after a
 * prefix). Returns the value or Go's error text ("parse error", "value out of range").
 */
export function parseGoInt64(text: string): bigint | 'parse error' | 'value out of range' {
  let rest = text;
  let negative = false;
  if (rest.startsWith('+') || rest.startsWith('-')) {
    negative = rest[0] === '-';
    rest = rest.slice(1);
  }
  if (rest === '') return 'parse error';
  let base = 10;
  let digits = rest;
  if (rest[0] === '0') {
    const prefix = rest.length >= 3 ? rest[1].toLowerCase() : '';
    base = ({ b: 2, o: 8, x: 16 } as Record<string, number>)[prefix] ?? 8;
    digits = prefix in { b: 1, o: 1, x: 1 } ? rest.slice(2) : rest.slice(1);
  }
  let value = 0n;
  let underscores = false;
  for (const c of digits) {
    if (c === '_') {
      underscores = true;
      continue;
    }
    const digit = parseInt(c, 36);
    if (Number.isNaN(digit) || digit >= base) return 'parse error';
    value = value * BigInt(base) + BigInt(digit);
  }
  if (underscores && !underscoresAllowed(rest)) return 'parse error';
  if (negative ? value > INT64_LIMIT : value >= INT64_LIMIT) return 'value out of range';
  return negative ? -value : value;
}

/** strconv's underscoreOK on the unsigned text: "_" only between digits or after a base prefix. */
function underscoresAllowed(text: string): boolean {
  let saw = '^';
  let i = 0;
  let hex = false;
  if (text.length >= 2 && text[0] === '0' && 'box'.includes(text[1].toLowerCase())) {
    i = 2;
    saw = '0';
    hex = text[1].toLowerCase() === 'x';
  }
  for (; i < text.length; i++) {
    const c = text[i];
    if ((c >= '0' && c <= '9') || (hex && /[a-f]/i.test(c))) {
      saw = '0';
    } else if (c === '_') {
      if (saw !== '0') return false;
      saw = '_';
    } else {
      if (saw === '_') return false;
      saw = '!';
    }
  }
  return saw !== '_';
}

/** flag.FlagSet.Parse for `flags`; throws GoFlagError with Go's message. */
export function parseGoFlags(flags: readonly GoFlag[], argv: readonly string[]): GoFlagResult {
  const byName = new Map(flags.map((f) => [f.name, f]));
  const values = new Map<string, GoFlagValue>();
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i];
    if (arg.length < 2 || arg[0] !== '-') break;
    const dashes = arg[1] === '-' ? 2 : 1;
    if (dashes === 2 && arg.length === 2) {
      i++; // "--" ends the flags
      break;
    }
    let name = arg.slice(dashes);
    if (name === '' || name[0] === '-' || name[0] === '=') throw new GoFlagError(`bad flag syntax: ${arg}`);
    i++;
    let value: string | undefined;
    const equals = name.indexOf('=', 1);
    if (equals > 0) {
      value = name.slice(equals + 1);
      name = name.slice(0, equals);
    }
    const flag = byName.get(name);
    if (!flag) {
      if (name === 'help' || name === 'h') throw new GoFlagError('', true);
      throw new GoFlagError(`flag provided but not defined: -${name}`);
    }
    if (flag.kind === 'bool') {
      const parsed = value === undefined ? true : parseGoBool(value);
      if (parsed === undefined) throw new GoFlagError(`invalid boolean value ${goQuote(value!)} for -${name}: parse error`);
      values.set(name, parsed);
      continue;
    }
    if (value === undefined) {
      if (i >= argv.length) throw new GoFlagError(`flag needs an argument: -${name}`);
      value = argv[i++];
    }
    if (flag.kind === 'int64') {
      const parsed = parseGoInt64(value);
      if (typeof parsed === 'string') throw new GoFlagError(`invalid value ${goQuote(value)} for flag -${name}: ${parsed}`);
      values.set(name, parsed);
    } else {
      const problem = flag.check?.(value);
      if (problem) throw new GoFlagError(`invalid value ${goQuote(value)} for flag -${name}: ${problem}`);
      values.set(name, value);
    }
  }
  return { values, args: argv.slice(i) };
}

/** flag.PrintDefaults after "Usage of NAME:", flags sorted by name as Go sorts them. */
export function formatGoUsage(program: string, flags: readonly GoFlag[]): string {
  const lines = [`Usage of ${program}:`];
  for (const flag of [...flags].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const { valueName, usage } = unquoteUsage(flag);
    let line = `  -${flag.name}${valueName ? ` ${valueName}` : ''}`;
    // Go puts the usage of a one-letter bool on the same line.
    line += line.length <= 4 ? '\t' : '\n    \t';
    lines.push(line + usage.replace(/\n/g, '\n    \t'));
  }
  return `${lines.join('\n')}\n`;
}

/** flag.UnquoteUsage: a `back-quoted` word is the value's name, else the type's name. */
function unquoteUsage(flag: GoFlag): { valueName: string; usage: string } {
  const quoted = /`([^`]*)`/.exec(flag.usage);
  if (quoted) return { valueName: quoted[1], usage: flag.usage.replace(/`/, '').replace(/`/, '') };
  return { valueName: { bool: '', string: 'string', int64: 'int' }[flag.kind], usage: flag.usage };
}

const GO_ESCAPES: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '\\': '\\\\', '"': '\\"' };

/** Go's %q (strconv.Quote): printable characters as they are, the rest escaped. */
function goQuote(text: string): string {
  // eslint-disable-next-line no-control-regex
  const escaped = text.replace(/[\x00-\x1f\x7f-\x9f\\"]/g, (c) => GO_ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `"${escaped}"`;
}
