#!/usr/bin/env node
// Usage: node scripts/build-if-stale.mjs --from INPUT... --to OUTPUT... || <build command>
//
// Exits 0, printing why, when every OUTPUT exists and is newer than every INPUT (a file, or
// a directory and everything under it); exits 1, printing the first reason found, when the
// build must run. So `npm start` and `npm test` do not rebuild what has not changed.
//
// Directories count with their own mtime as well as their files': deleting or renaming a
// file changes only its directory's mtime. An input as new as an output counts as newer,
// so equal timestamps rebuild rather than risk a stale output. Changes that keep an old
// mtime (cp -p, tar -x of old files) are not seen: touch the file, or delete the outputs.

import fs from 'node:fs';
import path from 'node:path';

function parseArgs(argv) {
  const lists = { '--from': [], '--to': [] };
  let current = null;
  for (const arg of argv) {
    if (arg in lists) current = lists[arg];
    else if (current) current.push(arg);
    else throw new Error(`unexpected argument ${JSON.stringify(arg)} before --from or --to`);
  }
  if (lists['--from'].length === 0 || lists['--to'].length === 0) throw new Error('needs --from INPUT... and --to OUTPUT...');
  return { inputs: lists['--from'], outputs: lists['--to'] };
}

/** The newest mtime among `input` and, for a directory, everything under it: [mtimeMs, path]. */
function newest(input) {
  const stat = fs.statSync(input);
  let best = [stat.mtimeMs, input];
  if (stat.isDirectory()) {
    for (const entry of fs.readdirSync(input)) {
      const candidate = newest(path.join(input, entry));
      if (candidate[0] > best[0]) best = candidate;
    }
  }
  return best;
}

/** Why the outputs must be rebuilt, or null when they are up to date. */
function staleness(inputs, outputs) {
  let oldest = null;
  for (const output of outputs) {
    let mtimeMs;
    try {
      mtimeMs = fs.statSync(output).mtimeMs;
    } catch {
      return `${output} is missing`;
    }
    if (!oldest || mtimeMs < oldest[0]) oldest = [mtimeMs, output];
  }
  for (const input of inputs) {
    const [mtimeMs, changed] = newest(input);
    if (mtimeMs >= oldest[0]) return `${changed} is newer than ${oldest[1]}`;
  }
  return null;
}

try {
  const { inputs, outputs } = parseArgs(process.argv.slice(2));
  const why = staleness(inputs, outputs);
  if (why) {
    console.error(`build: ${why}: rebuilding ${outputs.join(', ')}`);
    process.exit(1);
  }
  console.error(`build: ${outputs.join(', ')} up to date (newer than ${inputs.join(', ')})`);
} catch (err) {
  // Whatever went wrong here, building is the safe answer.
  console.error(`build-if-stale: ${err.message}: rebuilding`);
  process.exit(1);
}
