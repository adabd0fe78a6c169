import { describe, expect, it } from 'vitest';
import { EarlyBuilds, tableOfEntry } from '../../../drivers/postgres/early-build.js';

const entry = (name: string, type: string, sql: string): string =>
  `--\n-- Name: ${name}; Type: ${type}; Schema: public; Owner: -\n--\n\n${sql}\n\n`;

describe('early index builds', () => {
  it('finds the table of index and key entries, quoted identifiers included', () => {
    expect(tableOfEntry('CREATE INDEX contacts_email ON public.contacts USING btree (email);')).toBe(
      'public.contacts',
    );
    expect(tableOfEntry('CREATE UNIQUE INDEX "x" ON public."Kunden Übersicht" USING btree ("Name");')).toBe(
      'public.Kunden Übersicht',
    );
    expect(
      tableOfEntry('ALTER TABLE ONLY "we""ird"."t a"\n    ADD CONSTRAINT "t a_pkey" PRIMARY KEY (id);'),
    ).toBe('we"ird.t a');
    // An index on a partitioned parent (ON ONLY) is not tied to any loaded leaf.
    expect(tableOfEntry('CREATE INDEX p_idx ON ONLY public.parent USING btree (k);')).toBeUndefined();
  });

  it('hands each table its builds once and leaves the rest for post-data', () => {
    const dump =
      "SET search_path = '';\n" +
      entry(
        'contacts contacts_pkey',
        'CONSTRAINT',
        'ALTER TABLE ONLY public.contacts\n    ADD CONSTRAINT contacts_pkey PRIMARY KEY (id);',
      ) +
      entry(
        'contacts_email',
        'INDEX',
        'CREATE INDEX contacts_email ON public.contacts USING btree (email);',
      ) +
      entry('p_idx', 'INDEX', 'CREATE INDEX p_idx ON ONLY public.parent USING btree (k);') +
      entry(
        'deals deals_contact_fk',
        'FK CONSTRAINT',
        'ALTER TABLE ONLY public.deals\n    ADD CONSTRAINT deals_contact_fk FOREIGN KEY (contact_id) REFERENCES public.contacts(id);',
      );
    const b = new EarlyBuilds(dump);
    expect(b.take('public.contacts')).toHaveLength(2);
    expect(b.take('public.contacts')).toEqual([]);
    expect(b.remaining().map((s) => /Name: (\S+)/.exec(s)?.[1])).toEqual(['p_idx;']);
    expect(b.serial).toContain('deals_contact_fk');
  });
});
