/**
 * The README's quick start runs `npm run demo`; `npm run demo -- --mysql` tells the same story on
 * MariaDB. Both run here end to end, at a small scale and in a folder of their own: the story's
 * verdict (every table of the restore equal to the source before the DELETE) and exit 0.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

async function demo(args: string[]): Promise<{ code: number | null; out: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'crmb-demo-'));
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'scripts/demo.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, CRMB_DEMO_SCALE: '0.01', CRMB_DEMO_DIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    return { code, out };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('npm run demo', () => {
  for (const [name, args] of [
    ['PostgreSQL', []],
    ['MariaDB (--mysql)', ['--mysql']],
  ] as const) {
    it(`on ${name}: restores the CRM to just before the DELETE, every table equal`, async () => {
      const { code, out } = await demo([...args]);
      expect(out).toMatch(/\nAll 9 tables restored exactly \(\d+ rows\)\.\n/);
      expect(code).toBe(0);
    }, 300_000);
  }
});
