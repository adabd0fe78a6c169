import { describe, expect, it } from 'vitest';
import {
  EarlyBuilds,
  foreignKeyOf,
  LoadPlan,
  tableOfEntry,
} from '../../../drivers/postgres/internal/early-build.js';

const entry = (name: string, type: string, sql: string): string =>
  `--\n-- Name: ${name}; Type: ${type}; Schema: public; Owner: -\n--\n\n${sql}\n\n`;

/** A pg_dump foreign-key entry from public.child(x) to public.parent(id). */
const fk = (name: string, child: string, parent: string, extra = ''): string =>
  entry(
    `${child} ${name}`,
    'FK CONSTRAINT',
    `ALTER TABLE ONLY public.${child}\n    ADD CONSTRAINT ${name} FOREIGN KEY (x) REFERENCES public.${parent}(id)${extra};`,
  );

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
    // deals was never loaded here: its key stays for the post-data script, in dump order
    b.allLoadedReady();
    expect(b.nextForeignKey()).toBeUndefined();
    expect(b.serial()).toContain('deals_contact_fk');
  });

  it('reads the two tables of a foreign key, quoted identifiers included', () => {
    expect(
      foreignKeyOf(
        'ALTER TABLE ONLY "my crm"."Deals ""2"""\n    ADD CONSTRAINT d_fk FOREIGN KEY ("Contact Id", x) REFERENCES "my crm"."Kontakte"(id, x) ON DELETE CASCADE;',
      ),
    ).toMatchObject({ child: 'my crm.Deals "2"', parent: 'my crm.Kontakte' });
    expect(
      foreignKeyOf(
        'ALTER TABLE public.parted\n    ADD CONSTRAINT p_fk FOREIGN KEY (a) REFERENCES public.t(a);',
      ),
    ).toBeUndefined();
  });

  it('checks keys from different tables to one parent side by side, added NOT VALID then validated', () => {
    const b = new EarlyBuilds(
      "SET search_path = '';\n" +
        fk('notes_user', 'notes', 'users', ' ON DELETE SET NULL') +
        fk('deals_user', 'deals', 'users') +
        fk('users_team', 'users', 'teams') +
        fk('old_user', 'old', 'users', ' NOT VALID'),
    );
    for (const t of ['notes', 'deals', 'users', 'teams', 'old']) {
      b.take(`public.${t}`);
      b.ready(`public.${t}`);
    }
    const first = b.nextForeignKey()!;
    expect(first.run).toEqual([
      'ALTER TABLE ONLY public.notes\n    ADD CONSTRAINT notes_user FOREIGN KEY (x) REFERENCES public.users(id) ON DELETE SET NULL NOT VALID;',
      'ALTER TABLE ONLY public.notes VALIDATE CONSTRAINT notes_user;',
    ]);
    // users is only referenced by the running check (ROW SHARE): a second check to it may start
    expect(b.nextForeignKey()?.child).toBe('public.deals');
    // users as the referencing side: the checks referencing it hold only ROW SHARE on it
    const usersKey = b.nextForeignKey()!;
    expect(usersKey.child).toBe('public.users');
    // old -> users must wait: its add needs SHARE ROW EXCLUSIVE on users, now under a scan lock
    expect(b.nextForeignKey()).toBeUndefined();
    b.finished(usersKey);
    // a key dumped NOT VALID is added as dumped, never validated
    const old = b.nextForeignKey()!;
    expect(old.child).toBe('public.old');
    expect(old.run).toEqual([old.sql]);
    b.finished(first);
  });

  it('never starts a key whose referenced table is being checked as the referencing side', () => {
    const b = new EarlyBuilds(
      "SET search_path = '';\n" +
        entry(
          'users users_team',
          'FK CONSTRAINT',
          'ALTER TABLE ONLY public.users\n    ADD CONSTRAINT users_team FOREIGN KEY (t) REFERENCES public.teams(id);',
        ) +
        entry(
          'notes notes_user',
          'FK CONSTRAINT',
          'ALTER TABLE ONLY public.notes\n    ADD CONSTRAINT notes_user FOREIGN KEY (u) REFERENCES public.users(id);',
        ),
    );
    for (const t of ['notes', 'users', 'teams']) {
      b.take(`public.${t}`);
      b.ready(`public.${t}`);
    }
    const usersKey = b.nextForeignKey()!;
    expect(usersKey.child).toBe('public.users');
    expect(b.nextForeignKey()).toBeUndefined();
    b.finished(usersKey);
    expect(b.nextForeignKey()?.child).toBe('public.notes');
  });

  it('starts a foreign key once both tables are ready, never two on one table at once', async () => {
    const b = new EarlyBuilds(
      "SET search_path = '';\n" +
        fk('notes_contact', 'notes', 'contacts') +
        fk('notes_user', 'notes', 'users') +
        fk('deals_user', 'deals', 'users') +
        entry(
          'notes trg',
          'TRIGGER',
          'CREATE TRIGGER trg AFTER INSERT ON public.notes EXECUTE FUNCTION f();',
        ),
    );
    for (const t of ['public.notes', 'public.contacts', 'public.users']) b.take(t);
    b.ready('public.notes');
    b.ready('public.contacts');
    const first = b.nextForeignKey();
    expect(first?.sql).toContain('notes_contact');
    b.ready('public.users');
    // notes is busy with the first key, and deals is not loaded
    expect(b.nextForeignKey()).toBeUndefined();
    const waiting = b.waitForeignKey();
    b.finished(first!);
    expect((await waiting)?.sql).toContain('notes_user');
    const serial = b.serial();
    expect(serial).toContain('deals_user');
    expect(serial).toContain('CREATE TRIGGER');
    expect(serial).not.toContain('notes_contact');
    expect(serial).not.toContain('ADD CONSTRAINT notes_user');
  });

  it('gathers the statistics of a table left to post-data after its builds, beside the keys', async () => {
    const b = new EarlyBuilds(
      "SET search_path = '';\n" +
        entry(
          'contacts_email',
          'INDEX',
          'CREATE INDEX contacts_email ON public.contacts USING btree (lower(email));',
        ) +
        entry(
          'contacts contacts_user',
          'FK CONSTRAINT',
          'ALTER TABLE ONLY public.contacts\n    ADD CONSTRAINT contacts_user FOREIGN KEY (u) REFERENCES public.users(id);',
        ) +
        entry(
          'deals deals_user',
          'FK CONSTRAINT',
          'ALTER TABLE ONLY public.deals\n    ADD CONSTRAINT deals_user FOREIGN KEY (u) REFERENCES public.users(id);',
        ),
    );
    // users and deals were built and analyzed on their load sessions; contacts loaded last, alone
    for (const t of ['public.users', 'public.deals']) {
      b.take(t);
      b.ready(t);
    }
    b.loaded('public.contacts', 'ANALYZE public.contacts');
    b.loaded('public.users', 'ANALYZE public.users'); // made ready before: nothing left to gather
    // its index is built by post-data, before any statistics (an expression index gets its own)
    expect(b.remaining()).toHaveLength(1);
    expect(b.nextForeignKey()?.child).toBe('public.deals');
    b.allLoadedReady();
    const contactsKey = b.nextForeignKey()!;
    expect(contactsKey.child).toBe('public.contacts');
    // ANALYZE contacts conflicts with the check on contacts: it waits for it
    expect(b.nextForeignKey()).toBeUndefined();
    const waiting = b.waitForeignKey();
    b.finished(contactsKey);
    const stats = (await waiting)!;
    expect(stats).toMatchObject({
      run: ['ANALYZE public.contacts'],
      what: 'gathering statistics of public.contacts',
    });
    b.finished(stats);
    expect(b.pendingForeignKeys()).toBe(0);
    expect(b.serial()).not.toContain('ANALYZE');
  });

  it('hands over keys to a table without data, for a look at it, and leaves the rest in dump order', () => {
    const b = new EarlyBuilds(
      "SET search_path = '';\n" +
        fk('contacts_account', 'contacts', 'accounts') +
        fk('contacts_user', 'contacts', 'users') +
        fk('deals_contact', 'deals', 'contacts') +
        fk('contacts_region', 'contacts', 'regions', ' NOT VALID'),
    );
    // --tables contacts,users: accounts, deals and regions have no data in this restore
    for (const t of ['public.contacts', 'public.users']) {
      b.take(t);
      b.ready(t);
    }
    expect(b.nextForeignKey()?.sql).toContain('contacts_user');
    b.allLoadedReady();
    // deals (no data) -> contacts is checked as dumped (nothing to check), and so is the key
    // dumped NOT VALID (it checks nothing); contacts -> accounts is handed over
    const over = b.keysToUnloaded();
    expect(over.map((k) => [k.name, k.child, k.parent, k.parentSql])).toEqual([
      ['contacts_account', 'public.contacts', 'public.accounts', 'public.accounts'],
    ]);
    b.remove(over[0]!);
    expect(b.serial()).not.toContain('contacts_account');
    expect(b.serial()).toContain('deals_contact');
    expect(b.serial()).toContain('contacts_region');
  });

  it('never gathers statistics of a table while a key that references it runs', () => {
    const b = new EarlyBuilds(
      "SET search_path = '';\n" +
        entry(
          'deals deals_user',
          'FK CONSTRAINT',
          'ALTER TABLE ONLY public.deals\n    ADD CONSTRAINT deals_user FOREIGN KEY (u) REFERENCES public.users(id);',
        ),
    );
    b.take('public.deals');
    b.ready('public.deals');
    b.loaded('public.users', 'ANALYZE public.users');
    b.allLoadedReady();
    const key = b.nextForeignKey()!;
    expect(key.child).toBe('public.deals');
    // the key's add takes SHARE ROW EXCLUSIVE on users, which ANALYZE's lock conflicts with
    expect(b.nextForeignKey()).toBeUndefined();
    b.finished(key);
    expect(b.nextForeignKey()?.run).toEqual(['ANALYZE public.users']);
  });
});

describe('load plan', () => {
  it('knows a load is among the last once every planned load has started, split parts each counted', () => {
    const plan = new LoadPlan(['public.contacts#1', 'public.contacts#2', 'public.users']);
    plan.started('public.contacts#1');
    expect(plan.more()).toBe(true);
    plan.started('public.contacts#2');
    // a load the plan did not name does not stand in for one it did
    plan.started('public.other');
    expect(plan.more()).toBe(true);
    plan.started('public.users');
    expect(plan.more()).toBe(false);
  });

  it('has nothing more to load when nothing was planned', () => {
    expect(new LoadPlan([]).more()).toBe(false);
  });
});
