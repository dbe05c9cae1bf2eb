// Atomic file writes: a temp file in the destination's directory, fsynced, then renamed over the destination.
// A crash or an exception mid-write leaves the old file untouched and no partial file behind.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Runs `write` on a fresh temp file next to `file`, then fsyncs and renames it into place; removes it on error. */
export function writeFileAtomic(file: string, write: (fd: number) => void): void {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const fd = fs.openSync(tmp, 'wx');
  let open = true;
  try {
    write(fd);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    open = false;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (open) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  syncDirectory(path.dirname(file));
}

/** Makes the rename durable; some platforms (Windows) cannot open a directory, where this is a no-op. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // best effort
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Writes a whole string or byte buffer atomically (small files: JSON indexes, configs). */
export function writeFileAtomicSync(file: string, data: string | Uint8Array): void {
  writeFileAtomic(file, (fd) => writeFully(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data));
}

/** Writes all of `bytes` at the current position (writeSync may write fewer bytes than asked). */
export function writeFully(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done);
}
