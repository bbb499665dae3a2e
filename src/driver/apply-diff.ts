// ApplyDiff's conversion (spec/driver.md §7.12): an uncompressed layer tar becomes
// <id>/layer.vhd with whiteouts converted, a VHD footer and hcsshim's 128 GiB layout.
// By default it runs in a child process (the lcow binary re-executed with the
// `docker-lcow-tar2ext4 DEST` child protocol), so that a crash in the converter cannot
// take the driver down (moby issue 37955); DOCKER_LCOW_NOREEXEC runs it in-process.
// Either way the image is written under a temporary name, flushed and renamed, so after
// a kill -9 at any moment there is either no layer.vhd or a complete one.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { convertTar, type ConvertOptions } from '../host/convert.js';
import { LcowError } from '../host/errors.js';

/** hcsshim's MaximumDiskSize for layers: a layout limit, unrelated to sandbox sizes. */
const LAYER_MAX_DISK_SIZE = 128 * 1024 ** 3;

export const LAYER_CONVERSION: ConvertOptions = { overlay: true, vhd: true, maxDiskSize: LAYER_MAX_DISK_SIZE, sync: true };

/** The child's stderr is kept up to this size: enough for any one-line error. */
const MAX_CHILD_STDERR = 64 * 1024;

export const REEXEC_COMMAND = 'docker-lcow-tar2ext4';

const LCOW_BIN = fileURLToPath(new URL('../host/cli/lcow.js', import.meta.url));

/** Converts `diff` into `dest`; resolves to the size of the written file. */
export async function convertLayer(dest: string, diff: Readable, reexec: boolean): Promise<number> {
  if (!reexec) return (await convertTar(diff, dest, LAYER_CONVERSION)).fileBytes;
  return convertInChild(dest, diff);
}

function convertInChild(dest: string, diff: Readable): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LCOW_BIN, REEXEC_COMMAND, dest], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let inputError: Error | undefined;
    child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      if (stderr.length < MAX_CHILD_STDERR) stderr += text.slice(0, MAX_CHILD_STDERR - stderr.length);
    });
    // The child may stop reading early (a refused tar): that is its error to report,
    // not a broken pipe of ours.
    child.stdin.on('error', () => {});
    diff.on('error', (err) => {
      inputError = err;
      child.kill('SIGKILL');
    });
    diff.pipe(child.stdin);
    child.on('error', (err) => reject(new LcowError('DRIVER_APPLY_FAILED', `re-exec error: ${err.message}`, { cause: err })));
    child.on('close', (status, signal) => {
      diff.unpipe(child.stdin);
      if (inputError) {
        reject(new LcowError('INPUT_READ_FAILED', `re-exec error: reading the layer failed: ${inputError.message}`, { cause: inputError }));
        return;
      }
      if (status !== 0) {
        const exit = signal ? `signal: ${signal === 'SIGKILL' ? 'killed' : signal}` : `exit status ${status}`;
        // The child's line starts with the converter's stable code: keep it.
        const code = /^([A-Z][A-Z0-9_]+): /.exec(stderr)?.[1] ?? 'DRIVER_APPLY_FAILED';
        reject(new LcowError(code, `re-exec error: ${exit}: stderr: ${stderr}`));
        return;
      }
      if (!/^-?[0-9]+$/.test(stdout)) {
        reject(new LcowError('DRIVER_APPLY_FAILED', `re-exec error: strconv.ParseInt: parsing ${JSON.stringify(stdout)}: invalid syntax: stdout: ${stdout}`));
        return;
      }
      resolve(Number(stdout));
    });
  });
}
