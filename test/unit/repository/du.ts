/** Bytes of all files under a folder (what the repository costs on disk, before block rounding). */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export async function du(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? await du(p) : (await stat(p)).size;
  }
  return total;
}
