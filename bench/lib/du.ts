/** Bytes of all files under a folder (apparent sizes, like `du -sb`), for repository size. */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += dirBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}
