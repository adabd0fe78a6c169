/**
 * contrib/systemd as a DBA installs it: every unit passes `systemd-analyze verify` without a
 * single warning (it exits 0 on unknown keys and bad values, so any output fails the test), the
 * services read their secrets from /etc/crm-backup/<instance>.env, the stream stops with SIGTERM
 * and time to flush, every crm-backup option the units pass is one the CLI has, and the weekly
 * verify reads the part of the data its week number picks. Skipped loudly where systemd-analyze
 * is missing (.ci/run installs systemd).
 */
import { execFile } from 'node:child_process';
import { access, chmod, cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { ROOT } from '../helpers/cli.js';

const run = promisify(execFile);
const UNITS = join(ROOT, 'contrib', 'systemd');
const BIN = '/usr/local/bin/crm-backup';
const ANALYZE = '/usr/bin/systemd-analyze';
const hasAnalyze = await access(ANALYZE).then(
  () => true,
  () => false,
);
if (!hasAnalyze)
  console.warn(
    `SKIPPED: ${ANALYZE} is missing, so contrib/systemd is not verified (apt-get install systemd).`,
  );

/** `Key=value` lines of a unit, by key (a key may repeat). */
function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}

/** ExecStart as systemd runs it for instance `crm`: %-specifiers and $VARs expanded, split into words. */
function execArgs(unit: Map<string, string[]>, env: Record<string, string>): string[] {
  const vars: Record<string, string> = { ...env };
  for (const e of unit.get('Environment') ?? []) {
    const m = /^"?([A-Z_]+)=(.*?)"?$/.exec(e);
    if (m) vars[m[1]!] = m[2]!;
  }
  const line = unit.get('ExecStart')![0]!.replace(/%[iI]/g, 'crm');
  return line
    .split(/\s+/)
    .flatMap((word) => {
      const braced = /^\$\{([A-Z_]+)\}$/.exec(word);
      if (braced) return [vars[braced[1]!] ?? ''];
      const bare = /^\$([A-Z_]+)$/.exec(word);
      if (bare) return (vars[bare[1]!] ?? '').split(/\s+/);
      return [word];
    })
    .filter((w) => w !== '');
}

describe.skipIf(!hasAnalyze)('contrib/systemd', () => {
  let dir: string;
  let files: string[];
  beforeAll(async () => {
    files = (await readdir(UNITS)).filter((f) => /\.(service|timer)$/.test(f));
    dir = await mkdtemp(join(tmpdir(), 'crmb-units-'));
    // the binary's path is the site's; verify needs an executable there
    const stub = join(dir, 'crm-backup');
    await writeFile(stub, '#!/bin/sh\necho "$@"\n');
    await chmod(stub, 0o755);
    for (const f of files) {
      const text = await readFile(join(UNITS, f), 'utf8');
      await writeFile(join(dir, f), text.replaceAll(BIN, stub));
    }
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('ships a service and a timer for each schedule, and the stream service', () => {
    expect(files.sort()).toEqual([
      'crm-backup-check@.service',
      'crm-backup-check@.timer',
      'crm-backup-copy@.service',
      'crm-backup-copy@.timer',
      'crm-backup-drill@.service',
      'crm-backup-drill@.timer',
      'crm-backup-forget@.service',
      'crm-backup-forget@.timer',
      'crm-backup-snapshot@.service',
      'crm-backup-snapshot@.timer',
      'crm-backup-stream@.service',
      'crm-backup-verify@.service',
      'crm-backup-verify@.timer',
    ]);
  });

  it('every unit, and its instance for source crm, passes systemd-analyze verify without a warning', async () => {
    for (const f of files) {
      for (const name of [f, f.replace('@.', '@crm.')]) {
        const r = await run(ANALYZE, ['verify', join(dir, name)]).then(
          (x) => ({ code: 0, out: x.stdout + x.stderr }),
          (e: { code: number; stdout: string; stderr: string }) => ({
            code: e.code,
            out: e.stdout + e.stderr,
          }),
        );
        expect(r, name).toEqual({ code: 0, out: '' });
      }
    }
    // and verify does see a mistake in them
    const broken = join(dir, 'broken@.service');
    await cp(join(dir, 'crm-backup-stream@.service'), broken);
    await writeFile(
      broken,
      (await readFile(broken, 'utf8')).replace('Restart=on-failure', 'Restart=sometimes'),
    );
    const r = await run(ANALYZE, ['verify', broken]);
    expect(r.stderr).toContain('Failed to parse service restart specifier');
    await rm(broken);
  });

  it('the stream restarts on failure and stops with SIGTERM and time to flush; secrets come from a root-only file', async () => {
    const stream = directives(await readFile(join(UNITS, 'crm-backup-stream@.service'), 'utf8'));
    expect(stream.get('Restart')).toEqual(['on-failure']);
    expect(stream.get('KillSignal')).toEqual(['SIGTERM']);
    expect(stream.get('KillMode')).toEqual(['mixed']);
    expect(stream.get('TimeoutStopSec')).toEqual(['5min']);
    for (const f of files.filter((x) => x.endsWith('.service'))) {
      const unit = directives(await readFile(join(UNITS, f), 'utf8'));
      expect(unit.get('EnvironmentFile'), f).toEqual(['/etc/crm-backup/%i.env']);
      expect(unit.get('User'), f).toEqual(['crm-backup']);
      // no secret on a command line: every local user can read those
      expect(unit.get('ExecStart')!.join(' '), f).not.toMatch(
        /PASSWORD|PGPASSWORD|MYSQL_PWD|:\/\/[^@\s]*:[^@\s]*@/,
      );
    }
    for (const f of files.filter((x) => x.endsWith('.timer')))
      expect(directives(await readFile(join(UNITS, f), 'utf8')).get('OnCalendar'), f).toHaveLength(1);
    const example = await readFile(join(UNITS, 'crm-backup.env.example'), 'utf8');
    for (const v of ['CRM_BACKUP_REPO=', 'CRM_BACKUP_PASSWORD=', 'CRMB_SOURCE_URL=', 'PGPASSWORD='])
      expect(example).toMatch(new RegExp(`^${v}`, 'm'));
    expect(example).toMatch(/^CRMB_SOURCE_URL=postgres:\/\/[^:@]+@/m); // no password in the URL
  });

  it('passes crm-backup only commands and options the CLI has', async () => {
    const program = buildProgram();
    const env = {
      CRMB_SOURCE_URL: 'postgres://backup@db/crm',
      CRMB_DRILL_TARGET: 'postgres://dba@scratch/postgres',
    };
    for (const f of files.filter((x) => x.endsWith('.service') && x !== 'crm-backup-verify@.service')) {
      const args = execArgs(directives(await readFile(join(UNITS, f), 'utf8')), env);
      expect(args[0], f).toBe(BIN);
      const cmd = program.commands.find((c) => c.name() === args[1]);
      expect(cmd, `${f}: crm-backup ${args[1]}`).toBeDefined();
      if (!cmd) continue;
      const known = new Set([...cmd.options, ...program.options].map((o) => o.long));
      for (const a of args.slice(2).filter((x) => x.startsWith('--')))
        expect(known.has(a.split('=')[0]), `${f}: ${a}`).toBe(true);
    }
  });

  it('the weekly verify reads part n/4 of the data, n cycling with the week', async () => {
    const unit = directives(await readFile(join(dir, 'crm-backup-verify@.service'), 'utf8'));
    const exec = unit.get('ExecStart')![0]!;
    const m = /^\/bin\/sh -c '(.*)'$/.exec(exec);
    expect(m, exec).not.toBeNull();
    // systemd turns $$ into $ and %% into %
    const script = m![1]!.replaceAll('$$', '$').replaceAll('%%', '%');
    const before = Math.floor(Date.now() / 1000 / 604800);
    const { stdout } = await run('/bin/sh', ['-c', script]);
    const after = Math.floor(Date.now() / 1000 / 604800);
    expect([
      `verify --read-data-subset ${(before % 4) + 1}/4\n`,
      `verify --read-data-subset ${(after % 4) + 1}/4\n`,
    ]).toContain(stdout);
  });
});
