import { closeSync, fchmodSync, fsyncSync, openSync, unlinkSync, writeSync } from 'node:fs'

/** Where `keys rotate --private-key-file` puts the private key: a new file only its owner can read. */

export interface KeyFile {
  path: string
  write(pem: string): void
  /** Removes the file (nothing was imported). */
  discard(): void
}

/** A new file of mode 0600 at `path`, never an existing one (a key file may be in use). */
export function createKeyFile(path: string): KeyFile | { error: string } {
  let fd: number
  try {
    fd = openSync(path, 'wx', 0o600)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error'
    if (code === 'EEXIST')
      return { error: `--private-key-file ${path} exists, and a key file is never overwritten (it may be the key in use); name a new file` }
    return { error: `--private-key-file ${path} cannot be created (${code})` }
  }
  let open = true
  const close = () => {
    if (open) closeSync(fd)
    open = false
  }
  return {
    path,
    write(pem) {
      fchmodSync(fd, 0o600)
      writeSync(fd, pem)
      fsyncSync(fd)
      close()
    },
    discard() {
      try {
        close()
        unlinkSync(path)
      } catch {}
    },
  }
}
