import { describe, expect, it } from 'vitest';
import { formatRun, kindOf, parseServerLog, summarizeRuns } from '../../../bench/lib/pg-timeline.js';

// lines as a PostgreSQL 15 server writes them with log_line_prefix '%m [%p] %d ' (taken from a
// run on the shapes dataset): a statement's further lines start with a tab
const LOG = [
  '2026-12-06 03:34:17.106 UTC [15058] postgres LOG:  duration: 561.067 ms  statement: drop database if exists crm_native',
  '2026-12-06 03:34:19.437 UTC [15091] crm_native LOG:  duration: 1894.110 ms  statement: COPY public.deals (id, company_id) FROM stdin;',
  '\t',
  '2026-12-06 03:34:20.068 UTC [15091] crm_native LOG:  duration: 606.739 ms  statement: ALTER TABLE ONLY public.deals',
  '\t    ADD CONSTRAINT deals_pkey PRIMARY KEY (id);',
  '\t',
  '2026-12-06 03:34:20.089 UTC [15090] crm_native LOG:  duration: 2566.980 ms  statement: COPY public.contacts (id) FROM stdin;',
  '2026-12-06 03:34:21.334 UTC [15098] LOG:  skipping vacuum of "contacts" --- lock not available',
  '2026-12-06 03:34:23.416 UTC [15090] crm_native LOG:  duration: 888.341 ms  statement: ALTER TABLE public.activities',
  '\t    ADD CONSTRAINT activities_contact_fk FOREIGN KEY (contact_id) REFERENCES public.contacts(id) ON DELETE CASCADE;',
  '2026-12-06 03:34:26.665 UTC [15091] crm_native LOG:  duration: 2114.888 ms  statement: CREATE INDEX companies_profile_gin ON public.companies USING gin (profile);',
  "2026-12-06 03:34:27.000 UTC [15091] crm_native LOG:  duration: 900.000 ms  statement: SELECT md5(string_agg(x, '')) FROM t",
  // the next round into the same database, after it was dropped and created again
  '2026-12-06 03:34:27.500 UTC [15100] postgres LOG:  duration: 300.000 ms  statement: drop database if exists crm_native',
  '2026-12-06 03:34:29.500 UTC [15101] crm_native LOG:  duration: 1000.000 ms  statement: COPY public.deals (id) FROM stdin;',
  '2026-12-06 03:34:32.083 UTC [15194] crm_restore_snapshot LOG:  duration: 2112.501 ms  statement: COPY "public"."deals" ("id") FROM STDIN WITH (FREEZE)',
  '2026-12-06 03:34:32.809 UTC [15194] crm_restore_snapshot LOG:  duration: 676.045 ms  statement: --',
  '\t-- Name: deals deals_pkey; Type: CONSTRAINT; Schema: public; Owner: -',
  '\t--',
  '\t',
  '\tALTER TABLE ONLY public.deals',
  '\t    ADD CONSTRAINT deals_pkey PRIMARY KEY (id);',
  '2026-12-06 03:34:35.417 UTC [15193] crm_restore_snapshot LOG:  duration: 591.268 ms  statement: ALTER TABLE ONLY public.deals VALIDATE CONSTRAINT deals_contact_fk;',
  '2026-12-06 03:34:36.000 UTC [15193] crm_restore_snapshot LOG:  duration: 500.000 ms  statement: ANALYZE public.activities',
].join('\n');

describe('server time per restore, from the server log', () => {
  it('sorts statements by kind, pg_dump comment headers and continuation lines included', () => {
    expect(kindOf('--\n-- Name: x; Type: INDEX;\n--\n\nCREATE INDEX x ON public.t USING gin (j);')).toBe(
      'index',
    );
    expect(kindOf('ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);')).toBe('key');
    expect(kindOf('ALTER TABLE ONLY public.t ADD CONSTRAINT t_u UNIQUE (a);')).toBe('key');
    expect(
      kindOf('ALTER TABLE ONLY public.t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES public.u(id) NOT VALID;'),
    ).toBe('foreign key');
    expect(kindOf('COPY public.t (a) FROM stdin;')).toBe('load');
    expect(kindOf('ANALYZE "public"."t"')).toBe('statistics');
    expect(kindOf('CREATE TABLE public.t (a int);')).toBe('other');
  });

  it('sums each restore into a run of its database, reads left out', () => {
    const runs = summarizeRuns(parseServerLog(LOG), (db) => db.startsWith('crm_'));
    expect(runs.map((r) => r.db)).toEqual(['crm_native', 'crm_native', 'crm_restore_snapshot']);
    const [native, again, ours] = runs;
    expect(again).toMatchObject({ sessions: 1, span: 1 });
    const round = (r: Record<string, number> | undefined): Record<string, number> =>
      Object.fromEntries(Object.entries(r ?? {}).map(([k, v]) => [k, Math.round(v * 1e6) / 1e6]));
    expect(round(native?.seconds)).toMatchObject({
      load: 4.46109,
      key: 0.606739,
      'foreign key': 0.888341,
      index: 2.114888,
    });
    expect(native?.sessions).toBe(2);
    // from the earliest start (contacts' COPY: 20.089 - 2.567) to the GIN's end (26.665); the
    // SELECT after it is not restore work
    expect(native?.span).toBeCloseTo(26.665 - (20.089 - 2.56698), 3);
    expect(native?.tail).toBeCloseTo(26.665 - 20.089, 3);
    expect(round(ours?.seconds)).toMatchObject({
      load: 2.112501,
      key: 0.676045,
      'foreign key': 0.591268,
      statistics: 0.5,
    });
    expect(formatRun(ours!)).toMatch(
      /^crm_restore_snapshot: 6\.0 s from first statement to last, 2 sessions; load 2\.1 s, key 0\.7 s, foreign key 0\.6 s, statistics 0\.5 s; last load ended 3\.9 s before the end$/,
    );
  });
});
