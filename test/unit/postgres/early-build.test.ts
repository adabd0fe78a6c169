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
    const name = (sql: string): string | undefined => /Name: ([^;]+);/.exec(sql)?.[1];
    const first = b.take('public.contacts');
    expect({ keys: first.keys.map(name), rest: first.rest.map(name) }).toEqual({
      keys: ['contacts contacts_pkey'],
      rest: ['contacts_email'],
    });
    expect(b.take('public.contacts')).toEqual({ keys: [], rest: [] });
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

describe('keys added while the referenced table still builds indexes', () => {
  const dump =
    "SET search_path = '';\n" +
    entry(
      'companies companies_pkey',
      'CONSTRAINT',
      'ALTER TABLE ONLY public.companies\n    ADD CONSTRAINT companies_pkey PRIMARY KEY (id);',
    ) +
    entry(
      'companies_profile',
      'INDEX',
      'CREATE INDEX companies_profile ON public.companies USING gin (profile);',
    ) +
    fk('contacts_company', 'contacts', 'companies') +
    fk('deals_company', 'deals', 'companies') +
    fk('tasks_company', 'tasks', 'companies') +
    fk('old_company', 'old', 'companies', ' NOT VALID');

  it('hands the builder of a keyed table the keys from complete tables, then schedules only their checks', () => {
    const b = new EarlyBuilds(dump);
    for (const t of ['contacts', 'deals', 'old']) {
      b.take(`public.${t}`);
      b.ready(`public.${t}`);
    }
    // tasks is still loading; companies has its primary key and is building its GIN index
    const { keys, rest } = b.take('public.companies');
    expect(keys).toHaveLength(1);
    expect(rest).toHaveLength(1);
    const adds = b.keyed('public.companies');
    // a key dumped NOT VALID and one from a table not complete stay where they were
    expect(adds.map((k) => k.name)).toEqual(['contacts_company', 'deals_company']);
    // while added, the referencing table is taken: nothing else starts on it
    expect(b.nextForeignKey()).toBeUndefined();
    for (const k of adds) b.added(k);
    // the checks start although companies is not ready: VALIDATE holds only ROW SHARE on it
    const check = b.nextForeignKey()!;
    expect(check).toMatchObject({
      kind: 'validate',
      run: ['ALTER TABLE ONLY public.contacts VALIDATE CONSTRAINT contacts_company;'],
    });
    expect(b.nextForeignKey()?.run).toEqual([
      'ALTER TABLE ONLY public.deals VALIDATE CONSTRAINT deals_company;',
    ]);
    // tasks -> companies is a whole key: both tables must be complete first
    b.take('public.tasks');
    b.ready('public.tasks');
    expect(b.nextForeignKey()).toBeUndefined();
    b.ready('public.companies');
    expect(b.nextForeignKey()).toMatchObject({ kind: 'key', name: 'tasks_company' });
    // never added twice: the script holds neither the two adds nor their checks
    expect(b.serial()).not.toContain('contacts_company');
    expect(b.serial()).toContain('old_company');
  });

  it('leaves a check not run to the post-data script as its VALIDATE, and a failed add as the whole key', () => {
    const b = new EarlyBuilds(dump);
    for (const t of ['contacts', 'deals']) {
      b.take(`public.${t}`);
      b.ready(`public.${t}`);
    }
    b.take('public.companies');
    const [contacts, deals] = b.keyed('public.companies');
    b.added(contacts!);
    b.notAdded(deals!);
    expect(b.serial()).toContain('VALIDATE CONSTRAINT contacts_company;');
    expect(b.serial()).not.toContain('ADD CONSTRAINT contacts_company');
    expect(b.serial()).toContain('ADD CONSTRAINT deals_company FOREIGN KEY');
  });

  it('gathers the statistics of a partitioned parent once its partitions are complete, or once all loads are', () => {
    const b = new EarlyBuilds(dump + fk('contacts_activity', 'contacts', 'activities'));
    b.analyzeParent(
      'public.activities',
      ['public.activities_old', 'public.activities_new'],
      'ANALYZE public.activities',
    );
    b.analyzeParent('public.events', ['public.events_2025'], 'ANALYZE public.events');
    b.take('public.contacts');
    b.ready('public.contacts');
    b.take('public.activities_old');
    b.ready('public.activities_old');
    expect(b.nextForeignKey()).toBeUndefined();
    b.take('public.activities_new');
    b.ready('public.activities_new');
    const stats = b.nextForeignKey()!;
    expect(stats).toMatchObject({ kind: 'statistics', run: ['ANALYZE public.activities'] });
    b.finished(stats);
    // events_2025 was left out of this restore: the parent's statistics wait for every load
    expect(b.nextForeignKey()).toBeUndefined();
    b.allLoadedReady();
    expect(b.nextForeignKey()).toMatchObject({ kind: 'statistics', run: ['ANALYZE public.events'] });
    expect(b.serial()).not.toContain('ANALYZE');
    // gathering a parent's statistics does not make it loaded: a key to it is still handed over
    // for a look at whether it has rows (restore --tables may have left its partitions out)
    expect(b.keysToUnloaded().map((k) => k.parent)).toEqual(['public.companies', 'public.activities']);
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
