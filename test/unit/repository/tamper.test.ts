import { afterEach, describe, expect, it } from 'vitest';
import { IntegrityError } from '../../../src/util/errors.js';
import { verifyRepository, type Repository, type StreamRef } from '../../../src/repository/index.js';
import { fixture, type Fixture } from './fixtures.js';
import { collect, reopen } from './helpers.js';

const open: Repository[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

const key = (id: string): string => `data/${id.slice(0, 2)}/${id}`;

async function setup(): Promise<Fixture & { fresh: Repository }> {
  const f = await fixture();
  await f.repo.close();
  // A fresh open: nothing cached from writing.
  const fresh = await reopen(f.storage);
  open.push(fresh);
  return { ...f, fresh };
}

async function expectReadFails(repo: Repository, ref: StreamRef, chunkId: string, context: string): Promise<void> {
  const e = await collect(repo.readStream(ref, { context })).then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(IntegrityError);
  expect((e as IntegrityError).message).toContain(chunkId);
  expect((e as IntegrityError).message).toContain(context);
  expect((e as IntegrityError).where).toBe(context);
}

describe('tamper detection', () => {
  it('reads back and verifies clean', async () => {
    const f = await setup();
    const report = await verifyRepository(f.fresh, { readData: true });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.checked).toMatchObject({ snapshots: 1, segments: 1, keys: 1 });
    expect(report.checked.chunks).toBeGreaterThan(10);
  });

  it.each([
    ['a flipped byte', (d: Uint8Array) => { d[d.length >> 1] = (d[d.length >> 1] as number) ^ 0x10; return d; }],
    ['truncation', (d: Uint8Array) => d.subarray(0, d.length - 5)],
    ['a flipped header byte', (d: Uint8Array) => { d[6] = 0; return d; }],
  ])('detects %s in a chunk, naming snapshot and table', async (_name, damage) => {
    const f = await setup();
    const victim = f.deals.chunks[1] as string;
    const obj = f.storage.objects.get(key(victim))!;
    obj.data = damage(Uint8Array.from(obj.data));
    await expectReadFails(f.fresh, f.deals, victim, `snapshot ${f.snapshotId.slice(0, 8)} table public.deals`);
    const report = await verifyRepository(f.fresh, { readData: true });
    expect(report.ok).toBe(false);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]).toMatchObject({
      object: key(victim),
      affects: [{ kind: 'snapshot', id: f.snapshotId, source: 'crm', table: 'public.deals' }],
    });
  });

  it('detects two chunks swapped', async () => {
    const f = await setup();
    const a = f.contacts.chunks[0] as string;
    const b = f.deals.chunks[0] as string;
    const oa = f.storage.objects.get(key(a))!;
    const ob = f.storage.objects.get(key(b))!;
    f.storage.objects.set(key(a), ob);
    f.storage.objects.set(key(b), oa);
    await expectReadFails(f.fresh, f.contacts, a, 'table public.contacts');
    const report = await verifyRepository(f.fresh, { readData: true });
    expect(report.problems.map((p) => p.affects[0]?.table).sort()).toEqual(['public.contacts', 'public.deals']);
  });

  it('detects a deleted chunk without reading data, and in the log segment', async () => {
    const f = await setup();
    const victim = f.log.chunks[0] as string;
    f.storage.objects.delete(key(victim));
    const report = await verifyRepository(f.fresh, { readData: false });
    expect(report.problems).toEqual([
      { object: key(victim), problem: 'chunk is missing', affects: [{ kind: 'segment', id: f.segmentId, source: 'crm' }] },
    ]);
    await expectReadFails(f.fresh, f.log, victim, `segment ${f.segmentId}`);
  });

  it('detects a damaged or swapped manifest and a damaged key file', async () => {
    const f = await setup();
    const snap = f.storage.objects.get(`snapshots/${f.snapshotId}`)!;
    snap.data = Uint8Array.from(snap.data);
    snap.data[40] = (snap.data[40] as number) ^ 1;
    const keyFile = f.storage.keys('keys/')[0] as string;
    const kf = f.storage.objects.get(keyFile)!;
    kf.data = Uint8Array.from(kf.data);
    kf.data[kf.data.length - 3] = (kf.data[kf.data.length - 3] as number) ^ 1;
    await expect(f.fresh.listSnapshots()).rejects.toBeInstanceOf(IntegrityError);
    const report = await verifyRepository(f.fresh, { readData: true });
    expect(report.problems.map((p) => p.object)).toEqual([keyFile, `snapshots/${f.snapshotId}`]);
    expect(report.problems[1]?.affects).toEqual([{ kind: 'snapshot', id: f.snapshotId, source: '(unknown: manifest unreadable)' }]);
  });

  it('detects a segment manifest stored under a snapshot id', async () => {
    const f = await setup();
    const seg = f.storage.keys('segments/')[0] as string;
    f.storage.objects.set(`snapshots/${f.snapshotId}`, f.storage.objects.get(seg)!);
    const report = await verifyRepository(f.fresh, { readData: false });
    expect(report.problems.map((p) => p.object)).toEqual([`snapshots/${f.snapshotId}`]);
    expect(report.problems[0]?.problem).toMatch(/object type byte is 3, expected 2/);
  });
});
