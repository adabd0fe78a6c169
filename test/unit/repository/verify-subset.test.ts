/**
 * verify --read-data-subset n/m: part n of m of the chunks, chosen by chunk id, the same part on
 * every run; the m parts together read every chunk exactly once, so a weekly run with n cycling
 * reads the whole repository in m weeks. Damage is found by the run whose part holds the chunk.
 */
import { describe, expect, it } from 'vitest';
import { dataSubset } from '../../../src/cli/cmd-verify.js';
import { main } from '../../../src/cli/main.js';
import { verifyRepository } from '../../../src/repository/index.js';
import { inSubset } from '../../../src/repository/verify.js';
import { fixture } from './fixtures.js';
import { reopen } from './helpers.js';

describe('verify --read-data-subset', () => {
  it('reads each chunk in exactly one of the m parts, the same part every run, and finds damage in its part', async () => {
    const f = await fixture();
    await f.repo.close();
    const repo = await reopen(f.storage);
    const all = await verifyRepository(repo, { readData: true });
    expect(all.checked.chunksRead).toBe(all.checked.chunks);
    const m = 3;
    const parts = [];
    for (let n = 1; n <= m; n++)
      parts.push(await verifyRepository(repo, { readData: true, readDataSubset: { n, m } }));
    expect(parts.map((p) => p.ok)).toEqual([true, true, true]);
    expect(parts.map((p) => p.checked.chunks)).toEqual([
      all.checked.chunks,
      all.checked.chunks,
      all.checked.chunks,
    ]);
    expect(parts.reduce((sum, p) => sum + p.checked.chunksRead, 0)).toBe(all.checked.chunks);
    expect(parts.reduce((sum, p) => sum + p.checked.chunkBytesRead, 0)).toBe(all.checked.chunkBytesRead);
    const again = await verifyRepository(repo, { readData: true, readDataSubset: { n: 2, m } });
    expect(again.checked).toEqual(parts[1]!.checked);

    // a flipped byte (same size: the structure check cannot see it) in one chunk of public.deals
    const victim = f.deals.chunks[1]!;
    const obj = f.storage.objects.get(`data/${victim.slice(0, 2)}/${victim}`)!;
    obj.data = Uint8Array.from(obj.data);
    obj.data[obj.data.length >> 1] = obj.data[obj.data.length >> 1]! ^ 0x10;
    const holder = [1, 2, 3].find((n) => inSubset(victim, { n, m }))!;
    for (let n = 1; n <= m; n++) {
      const r = await verifyRepository(repo, { readData: true, readDataSubset: { n, m } });
      expect(
        r.problems.map((p) => p.object),
        `part ${n}/${m}`,
      ).toEqual(n === holder ? [`data/${victim.slice(0, 2)}/${victim}`] : []);
    }
    await repo.close();
  });

  it('takes n/m with 1 ≤ n ≤ m, and refuses anything else with exit 2', async () => {
    expect(dataSubset('2/4')).toEqual({ n: 2, m: 4 });
    expect(dataSubset('1/1')).toEqual({ n: 1, m: 1 });
    for (const bad of ['0/4', '5/4', '4', '1/0', 'a/b', '1/4/2'])
      expect(() => dataSubset(bad), bad).toThrow(
        `--read-data-subset takes n/m, part n of m with 1 ≤ n ≤ m (like 2/4: the second quarter of the chunks), not "${bad}".`,
      );
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => stderr.push(s) > 0) as typeof process.stderr.write;
    try {
      expect(await main(['verify', '--repo', '/nonexistent', '--read-data-subset', '5/4'])).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(stderr.join('')).toContain('--read-data-subset takes n/m');
  });
});
