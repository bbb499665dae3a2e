// Subcommands of `lcow` that live in other parts of the project and own their parsing,
// help and errors: `lcow driver ...`, `lcow plugin ...`, and the hidden
// `lcow docker-lcow-tar2ext4 <dest>` child of the driver's ApplyDiff (moby re-executes
// its own binary under that name). They are dispatched on the first word, before lcow's
// own option parser sees the command line, so its strictness cannot reject them.

import { LcowError } from '../errors.js';

interface Delegate {
  /** Module path relative to this file (dist/host/cli/). */
  module: string;
  /** Name of the exported `(argv: string[]) => Promise<number>`. */
  entry: string;
  /** One line for `lcow --help`; hidden commands have none. */
  summary?: string;
}

export const DELEGATES: Record<string, Delegate> = {
  driver: { module: '../../driver/cli.js', entry: 'runDriverCli', summary: 'Run or manage the LCOW graph driver (see lcow driver --help).' },
  plugin: { module: '../../driver/plugin/cli.js', entry: 'runPluginCli', summary: 'Serve the driver to dockerd as a graph-driver plugin on a socket (see lcow plugin --help).' },
  image: { module: '../../image/cli.js', entry: 'runImageCli', summary: 'Layer VHDs and dm-verity root hashes of a whole image (see lcow image --help).' },
  'docker-lcow-tar2ext4': { module: '../../driver/reexec-child.js', entry: 'runReexecChild' },
};

/** The ApplyDiff child writes its own stderr: lcow adds nothing to it. */
export const SILENT_DELEGATE = 'docker-lcow-tar2ext4';

type Runner = (argv: string[]) => Promise<number>;

/**
 * Loads the module behind `command`. A module that is not part of this build is a
 * usage error (one line, exit 2), not a crash; any other load failure is a bug.
 */
export async function loadDelegate(command: string): Promise<Runner> {
  const delegate = DELEGATES[command];
  const url = new URL(delegate.module, import.meta.url);
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(url.href)) as Record<string, unknown>;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(url.pathname)) {
      throw new LcowError('USAGE', `"lcow ${command}" is not available in this build (${url.pathname} is missing)`, { cause: err });
    }
    throw err;
  }
  const runner = loaded[delegate.entry];
  if (typeof runner !== 'function') {
    throw new LcowError('USAGE', `"lcow ${command}" is not available in this build (${url.pathname} has no ${delegate.entry})`);
  }
  return runner as Runner;
}
