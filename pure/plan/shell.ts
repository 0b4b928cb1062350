// Shell snippets the host steps share.

/**
 * Creates a directory (and its parents) with mode 755 only when it is missing:
 * `install -d -m 755` alone would also chmod a directory that exists, loosening
 * one the admin tightened (0700) on every run.
 */
export function ensureDir(path: string): string {
  // the program's own fixed paths; anything else would need quoting
  if (!/^\/[A-Za-z0-9/._-]+$/.test(path)) throw new Error(`ensureDir: ${JSON.stringify(path)} is not a plain absolute path`);
  return `[ -d ${path} ] || install -d -m 755 ${path}`;
}
