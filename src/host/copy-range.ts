// In-kernel file-to-file copies (Linux copy_file_range(2), through koffi): file data of
// an uncompressed tar file goes from the input to the image without entering this
// process at all, as `cp` does. Anything else (other systems, a kernel or file system
// that refuses) falls back to reading and positional writes, which is always correct.

import { createRequire } from 'node:module';

type CopyFileRange = (fdIn: number, offIn: [number], fdOut: number, offOut: [number], length: number, flags: number) => number;

let loaded: CopyFileRange | null | undefined;

/** The libc function, loaded on first use; null where it is not available. */
function copyFileRange(): CopyFileRange | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.platform !== 'linux' || process.env.LCOW_NO_COPY_RANGE) return loaded;
  try {
    const koffi = createRequire(import.meta.url)('koffi');
    const libc = koffi.load('libc.so.6');
    loaded = libc.func('intptr_t copy_file_range(int fd_in, _Inout_ int64_t *off_in, int fd_out, _Inout_ int64_t *off_out, size_t len, unsigned int flags)') as CopyFileRange;
  } catch {
    loaded = null; // no koffi build for this platform, or no such libc symbol
  }
  return loaded;
}

/** Copies below this size are cheaper from the buffer already read. */
export const COPY_RANGE_MIN = 1 << 20;

/**
 * Copies up to `length` bytes from `fdIn` at `inPosition` to `fdOut` at `outPosition`.
 * Returns the bytes copied, which is less than `length` at end of input or when the
 * kernel refuses (the caller copies the rest the ordinary way).
 */
export function copyRange(fdIn: number, inPosition: number, fdOut: number, outPosition: number, length: number): number {
  const copy = copyFileRange();
  if (!copy) return 0;
  const offIn: [number] = [inPosition];
  const offOut: [number] = [outPosition];
  let done = 0;
  while (done < length) {
    const n = Number(copy(fdIn, offIn, fdOut, offOut, Math.min(length - done, 1 << 30), 0));
    if (n <= 0) {
      // EXDEV, EINVAL, ENOSYS and friends: stop using it; ENOSPC and EIO recur on the
      // ordinary path, which reports them.
      if (n < 0 && done === 0) loaded = null;
      break;
    }
    done += n;
  }
  return done;
}
