// lcow's option parser: GNU-style and strict. `--name VALUE`, `--name=VALUE`, `-o VALUE`,
// `-oVALUE`; booleans as `--vhd`, `--no-vhd` or `--vhd=true|false|yes|no|1|0`; `--`
// ends the options. Every mistake is a one-line LcowError('USAGE') naming the option:
// unknown options (with the nearest known name), a missing value, a value that looks
// like an option, a boolean value that is not one, an option given twice, a value
// outside its choices.

import { LcowError } from '../errors.js';
import { closest } from '../nearest-name.js';

export interface OptionSpec {
  /** Long name without dashes: `output`. */
  name: string;
  /** One-letter alias: `o`. */
  short?: string;
  /** Booleans take no value; strings one. */
  kind: 'boolean' | 'string';
  /** Placeholder in help: FILE, SIZE. */
  placeholder?: string;
  description: string;
  choices?: readonly string[];
  /** Shown in help. */
  defaultText?: string;
}

export interface CommandSpec {
  name: string;
  /** `<input>` words, in order; all required. */
  positionals: readonly { name: string; description: string }[];
  summary: string;
  options: readonly OptionSpec[];
}

export type OptionValues = Map<string, string | boolean>;

export interface ParsedCommand {
  options: OptionValues;
  positionals: string[];
}

const TRUE_WORDS = ['true', 'yes', '1'];
const FALSE_WORDS = ['false', 'no', '0'];

function usage(message: string, command: string): LcowError {
  return new LcowError('USAGE', `${message} (see lcow ${command === '' ? '' : `${command} `}--help)`);
}

/** `-o/--output` as messages name an option. */
export function optionLabel(spec: OptionSpec): string {
  return spec.short ? `-${spec.short}/--${spec.name}` : `--${spec.name}`;
}

/** Parses the words after the command name. */
export function parseCommand(command: CommandSpec, argv: readonly string[]): ParsedCommand {
  const byLong = new Map(command.options.map((o) => [o.name, o]));
  const byShort = new Map(command.options.filter((o) => o.short).map((o) => [o.short!, o]));
  const options: OptionValues = new Map();
  const positionals: string[] = [];
  const set = (spec: OptionSpec, value: string | boolean) => {
    if (options.has(spec.name)) throw usage(`${optionLabel(spec)} is given more than once`, command.name);
    if (spec.choices && !spec.choices.includes(value as string)) {
      throw usage(`${optionLabel(spec)} must be one of ${spec.choices.join(', ')} (got ${JSON.stringify(value)})`, command.name);
    }
    options.set(spec.name, value);
  };
  let i = 0;
  const takeValue = (spec: OptionSpec, inline: string | undefined): string => {
    if (inline !== undefined) return inline;
    const next = argv[i];
    if (next === undefined) throw usage(`${optionLabel(spec)} needs a value`, command.name);
    if (next.startsWith('-') && next !== '-') {
      throw usage(`${optionLabel(spec)} needs a value, not the option ${JSON.stringify(next)} (write --${spec.name}=${next} if you mean it)`, command.name);
    }
    i++;
    return next;
  };
  let optionsEnded = false;
  while (i < argv.length) {
    const arg = argv[i++];
    if (optionsEnded || arg === '-' || !arg.startsWith('-')) {
      positionals.push(arg);
    } else if (arg === '--') {
      optionsEnded = true;
    } else if (arg.startsWith('--')) {
      const equals = arg.indexOf('=');
      const name = equals < 0 ? arg.slice(2) : arg.slice(2, equals);
      const inline = equals < 0 ? undefined : arg.slice(equals + 1);
      const negated = name.startsWith('no-') ? byLong.get(name.slice(3)) : undefined;
      const spec = byLong.get(name);
      if (spec?.kind === 'string') {
        set(spec, takeValue(spec, inline));
      } else if (spec) {
        set(spec, parseBoolean(spec, inline, command.name));
      } else if (negated?.kind === 'boolean') {
        if (inline !== undefined) throw usage(`--${name} takes no value`, command.name);
        set(negated, false);
      } else {
        throw unknownOption(`--${name}`, command);
      }
    } else {
      const long = byLong.get(arg.slice(1).split('=')[0]) ?? byLong.get(arg.slice(1).split('=')[0].replace(/^no-/, ''));
      if (long && arg.length > 2) throw usage(`write --${arg.slice(1)} with two dashes (${arg} is not an lcow option)`, command.name);
      const spec = byShort.get(arg[1]);
      if (!spec) throw unknownOption(arg.length === 2 ? arg : arg.slice(0, 2), command);
      if (spec.kind === 'boolean') {
        if (arg.length > 2) throw unknownOption(arg, command);
        set(spec, true);
      } else {
        set(spec, takeValue(spec, arg.length > 2 ? arg.slice(2).replace(/^=/, '') : undefined));
      }
    }
  }
  return { options, positionals };
}

function parseBoolean(spec: OptionSpec, inline: string | undefined, command: string): boolean {
  if (inline === undefined) return true;
  const word = inline.toLowerCase();
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  throw usage(`--${spec.name} is a switch: give it alone, as --no-${spec.name}, or as --${spec.name}=true|false (got ${JSON.stringify(inline)})`, command);
}

/** tar2ext4's flags that lcow spells otherwise or not at all. */
const TAR2EXT4_HINTS: Record<string, string> = {
  '--only-vhd': 'lcow converts only; tar2ext4 -only-vhd appends a footer to a file as it is',
  '--convert-slash': 'lcow spells it --convert-backslash',
  '--maxsize': 'lcow spells it --max-size',
  '--digest': 'use lcow root-digest',
  '--i': 'lcow takes the input as an argument: lcow convert layer.tar -o layer.vhd',
};

function unknownOption(given: string, command: CommandSpec): LcowError {
  const known = TAR2EXT4_HINTS[given.split('=')[0]];
  if (known) return usage(`lcow ${command.name} has no option ${JSON.stringify(given)}: ${known}`, command.name);
  const names = command.options.flatMap((o) => [`--${o.name}`, ...(o.kind === 'boolean' ? [`--no-${o.name}`] : []), ...(o.short ? [`-${o.short}`] : [])]);
  const nearest = closest(given, names);
  const hint = nearest ? `; did you mean ${nearest}?` : '';
  const where = command.name === '' ? 'lcow' : `lcow ${command.name}`;
  return usage(`${where} has no option ${JSON.stringify(given)}${hint}`, command.name);
}

/** Help text of one command. */
export function formatCommandHelp(command: CommandSpec): string {
  const words = command.positionals.map((p) => `<${p.name}>`).join(' ');
  const lines = [`Usage: lcow ${command.name}${words ? ` ${words}` : ''} [options]`, '', command.summary, ''];
  if (command.positionals.length > 0) {
    lines.push('Arguments:');
    for (const p of command.positionals) lines.push(`  ${p.name.padEnd(26)} ${p.description}`);
    lines.push('');
  }
  lines.push('Options:');
  for (const o of command.options) {
    const label = `${o.short ? `-${o.short}, ` : '    '}--${o.kind === 'boolean' && o.defaultText === 'on' ? `[no-]${o.name}` : o.name}${o.placeholder ? ` ${o.placeholder}` : ''}`;
    const extra = [o.choices ? `one of ${o.choices.join(', ')}` : '', o.defaultText && o.kind === 'string' ? `default ${o.defaultText}` : ''].filter(Boolean).join('; ');
    lines.push(`  ${label.padEnd(26)} ${o.description}${extra ? ` (${extra})` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}
