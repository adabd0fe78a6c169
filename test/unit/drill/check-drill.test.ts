/**
 * The last drill in `check`, `list`'s line and the Prometheus metrics, from drill records
 * committed to a repository of fake-driver manifests: no drill (skipped, or failed with
 * --max-drill-age), a passing one (ok, failed once older than --max-drill-age), a failed one
 * (failed whatever the age), and the records read back by a second open of the repository.
 */
import { describe, expect, it } from 'vitest';
import { judge, DEFAULT_THRESHOLDS, type CheckResult } from '../../../src/health/checks.js';
import { readHealth, type RepositoryHealth } from '../../../src/health/health.js';
import { formatPrometheus } from '../../../src/health/prometheus.js';
import { describeDrill } from '../../../src/drill/describe.js';
import type { NewDrill, Repository } from '../../../src/repository/repository-api.js';
import { fakeDriver, onlyDriver } from '../../helpers/fake-driver.js';
import { fakeSnapshot, S, SOURCE, T0 } from '../../helpers/fake-repo.js';
import { parsePrometheusText, promValue } from '../../helpers/prometheus-text.js';
import { prune } from '../../../src/repository/index.js';
import { newRepo, reopen } from '../repository/helpers.js';

const iso = (second: number): string => new Date(Number((T0 + BigInt(second) * S) / 1000n)).toISOString();

async function health(repo: Repository, second: number): Promise<RepositoryHealth> {
  return readHealth(repo, {
    drivers: onlyDriver(fakeDriver()),
    now: () => new Date(Number((T0 + BigInt(second) * S) / 1000n)),
  });
}

function drillCheck(h: RepositoryHealth, maxDrillAgeMs?: number): CheckResult {
  const v = judge(h, { ...DEFAULT_THRESHOLDS, ...(maxDrillAgeMs === undefined ? {} : { maxDrillAgeMs }) });
  return v.sources[0]!.checks.find((c) => c.check === 'drill')!;
}

function drill(snapshot: string, second: number, fields: Partial<NewDrill> = {}): NewDrill {
  return {
    source: SOURCE,
    driver: 'fake',
    snapshot,
    startedAt: iso(second),
    finishedAt: iso(second + 3),
    seconds: 2.5,
    bytes: 1000,
    rows: 10,
    tables: 2,
    tablesCompared: 2,
    notCompared: [],
    verdict: 'passed',
    target: 'postgres://dba@drill:5432/postgres',
    ...fields,
  };
}

describe('the last drill in check and list', () => {
  it('is skipped without a drill, and fails without one when --max-drill-age asks for one', async () => {
    const { repo } = await newRepo();
    await fakeSnapshot(repo, { position: 1, second: 0 });
    const h = await health(repo, 60);
    expect(drillCheck(h)).toEqual({
      check: 'drill',
      status: 'skipped',
      message: 'none recorded (crm-backup drill --name crm --target URL restores and checks the backup)',
    });
    expect(drillCheck(h, 7 * 86_400_000)).toEqual({
      check: 'drill',
      status: 'failed',
      message:
        'No drill of crm is recorded, and --max-drill-age 7d asks for one: run one (crm-backup drill --name crm --target URL) and schedule it (contrib/systemd/crm-backup-drill@.timer).',
    });
    expect(describeDrill(undefined)).toBe('none yet (crm-backup drill --target URL restores and checks the backup)');
    await repo.close();
  });

  it('shows the newest passing drill, and fails it once older than --max-drill-age', async () => {
    const { repo, storage } = await newRepo();
    const snap = await fakeSnapshot(repo, { position: 1, second: 0 });
    await repo.commitDrill(drill(snap, 10, { tablesCompared: 1 }));
    const id = await repo.commitDrill(drill(snap, 20));
    // a second process reads the records back
    const again = await reopen(storage);
    const [older, newest] = await again.listDrills({ source: SOURCE });
    expect(older!.tablesCompared).toBe(1);
    expect(newest!.id).toBe(id);
    const passed = `last drill ${iso(20)} (40s ago) passed: snapshot ${snap.slice(0, 12)} restored in 2.5 s, 2 of 2 tables match its checksums`;
    expect(drillCheck(await health(again, 60))).toEqual({ check: 'drill', status: 'ok', message: passed });
    expect(drillCheck(await health(again, 60), 40_000).status).toBe('ok');
    expect(drillCheck(await health(again, 61), 40_000)).toEqual({
      check: 'drill',
      status: 'failed',
      message: `The ${passed.replace('(40s ago)', '(41s ago)')}; it is older than --max-drill-age 40s: find in its log why the scheduled drill did not run, then run one (crm-backup drill --name crm --target URL).`,
    });
    expect(describeDrill(newest)).toBe(
      `${iso(20)}, snapshot ${snap.slice(0, 12)}, passed: 2 of 2 tables match the snapshot's checksums, restore took 2.5 s`,
    );
    const h = await health(again, 60);
    const m = parsePrometheusText(formatPrometheus(h, judge(h)));
    expect(promValue(m, 'crmb_last_drill_timestamp_seconds', { source: SOURCE })).toBe(Number(T0 / S) + 20);
    expect(promValue(m, 'crmb_last_drill_success', { source: SOURCE })).toBe(1);
    expect(promValue(m, 'crmb_last_drill_duration_seconds', { source: SOURCE })).toBe(2.5);
    await again.close();
    await repo.close();
    // prune deletes chunks only: the records reference none, and it does not trip over them
    const pruner = await reopen(storage);
    await prune(pruner, { graceMs: 0 });
    expect((await pruner.listDrills()).map((d) => d.id)).toContain(id);
    await pruner.close();
  });

  it('fails on a failed last drill whatever its age, with its sentence', async () => {
    const { repo } = await newRepo();
    const snap = await fakeSnapshot(repo, { position: 1, second: 0 });
    await repo.commitDrill(drill(snap, 10));
    const failure = `Table t restored from snapshot ${snap.slice(0, 12)} does not match the checksum the snapshot stored: expected 10 rows, found 9.`;
    await repo.commitDrill(drill(snap, 30, { verdict: 'failed', failure, at: '2026-01-01T00:00:05.000000Z' }));
    const h = await health(repo, 60);
    expect(drillCheck(h)).toEqual({
      check: 'drill',
      status: 'failed',
      message: `The last drill of crm, ${iso(30)} (30s ago), failed: ${failure} Find the damage with crm-backup verify --read-data, take a new snapshot, and drill again (crm-backup drill --name crm --target URL).`,
    });
    expect(judge(h).ok).toBe(false);
    const m = parsePrometheusText(formatPrometheus(h, judge(h)));
    expect(promValue(m, 'crmb_last_drill_success', { source: SOURCE })).toBe(0);
    expect(promValue(m, 'crmb_check_passed', { source: SOURCE, check: 'drill' })).toBe(0);
    expect(describeDrill((await repo.listDrills()).at(-1))).toBe(
      `${iso(30)}, snapshot ${snap.slice(0, 12)} and the log up to 2026-01-01T00:00:05.000000Z, FAILED: ${failure}`,
    );
    await repo.close();
  });
});
