/** A small repository with one snapshot (two tables) and one log segment, for tamper and maintenance tests. */
import type { NewSegment, NewSnapshot, Repository, StreamRef } from '../../../src/repository/index.js';
import { crmStream, newRepo, pieces } from './helpers.js';
import type { MemoryBackend } from './memory-backend.js';

export const SMALL_CHUNKS = { chunker: { min: 4096, avg: 16384, max: 65536 } } as const;

export function snapshotOf(source: string, at: Date, data: Record<string, StreamRef>, schema: StreamRef, position = at.toISOString()): NewSnapshot {
  const micros = String(BigInt(at.getTime()) * 1000n);
  return {
    source, driver: 'postgres', driverFormatVersion: 1, tags: [], position, consistentAt: at.toISOString(), consistentAtMicros: micros,
    startedAt: at.toISOString(), finishedAt: at.toISOString(), schemaFormat: 'test', schema, meta: {}, sourceUrl: 'postgres://app@db/crm',
    streams: Object.entries(data).map(([table, ref]) => ({ name: table, table, format: 'copy-text', data: ref })),
  };
}

export function segmentOf(source: string, from: Date, to: Date, data: StreamRef, positions?: { from: string; first: string; last: string }): NewSegment {
  const us = (d: Date): string => String(BigInt(d.getTime()) * 1000n);
  return {
    source, driver: 'postgres', driverFormatVersion: 1, fromPosition: positions?.from ?? from.toISOString(),
    firstPosition: positions?.first ?? from.toISOString(), lastPosition: positions?.last ?? to.toISOString(),
    firstCommitMicros: us(from), lastCommitMicros: us(to), coveredUntilMicros: us(to), transactions: 1, changes: 1,
    tables: ['public.contacts'], data, createdAt: to.toISOString(),
  };
}

export interface Fixture {
  repo: Repository;
  storage: MemoryBackend;
  snapshotId: string;
  segmentId: string;
  contacts: StreamRef;
  deals: StreamRef;
  log: StreamRef;
}

export async function fixture(): Promise<Fixture> {
  const { repo, storage } = await newRepo(SMALL_CHUNKS);
  const contacts = await repo.writeStream(crmStream(200_000, 0));
  const deals = await repo.writeStream(crmStream(150_000, 1_000_000));
  const schema = await repo.writeStream(pieces(Buffer.from('CREATE TABLE contacts (id int);')));
  const snapshotId = await repo.commitSnapshot(snapshotOf('crm', new Date('2025-01-01T00:00:00Z'), { 'public.contacts': contacts, 'public.deals': deals }, schema));
  const log = await repo.writeStream(crmStream(50_000, 2_000_000));
  const segmentId = await repo.commitSegment(segmentOf('crm', new Date('2025-01-01T00:00:01Z'), new Date('2025-01-01T00:05:00Z'), log));
  return { repo, storage: storage as MemoryBackend, snapshotId, segmentId, contacts, deals, log };
}
