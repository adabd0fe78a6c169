/**
 * What replay must switch off beyond `session_replication_role = replica`. Replica mode stops
 * triggers and rules enabled ORIGIN (the default, foreign-key triggers among them), but fires those
 * enabled ALWAYS or REPLICA, and event triggers likewise: an ALWAYS audit trigger would write its
 * rows a second time (the log holds the ones it wrote on the source), a REPLICA trigger would
 * rewrite columns the source never rewrote.
 *
 * So before the first replayed transaction every user trigger and rule on a table, and every
 * event trigger, enabled ALWAYS or REPLICA is disabled, and `resume` gives each its mode back at
 * the end. Replayed DDL can create, drop or re-mode triggers and rules (CREATE TRIGGER, ENABLE
 * ALWAYS, a new partition that clones its parent's triggers, a DISABLE of one we disabled too, which
 * changes nothing visible): around each DDL statement their modes are put back as the source had
 * them (`beforeDdl`), the DDL runs, and what it leaves is the source's new state, read and switched
 * off again (`afterDdl`). Everything is addressed by oid and one row at a time (`ALTER TABLE
 * ONLY`), so renames and a partition's own mode hold.
 */
import type pg from 'pg';

type Mode = 'A' | 'R';

interface Switch {
  readonly kind: 'trigger' | 'rule' | 'event trigger';
  readonly oid: string;
  readonly mode: Mode;
}

/**
 * User triggers and rules on tables, and event triggers, with their modes; `head` and `tail` of the
 * ALTER that switches one (the action goes between them).
 */
const SWITCHES = `
  SELECT 'trigger' AS kind, t.oid::text AS oid, t.tgenabled::text AS mode,
         pg_catalog.format('ALTER TABLE ONLY %I.%I', n.nspname, c.relname) AS head,
         pg_catalog.format('TRIGGER %I', t.tgname) AS tail
    FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE NOT t.tgisinternal AND c.relkind IN ('r', 'p')
  UNION ALL
  SELECT 'rule', r.oid::text, r.ev_enabled::text,
         pg_catalog.format('ALTER TABLE ONLY %I.%I', n.nspname, c.relname), pg_catalog.format('RULE %I', r.rulename)
    FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p') AND r.rulename <> '_RETURN'
  UNION ALL
  SELECT 'event trigger', e.oid::text, e.evtenabled::text, pg_catalog.format('ALTER EVENT TRIGGER %I', e.evtname), ''
    FROM pg_catalog.pg_event_trigger e`;

interface SwitchRow {
  kind: Switch['kind'];
  oid: string;
  mode: string;
  head: string;
  tail: string;
}

const alter = (r: SwitchRow, action: string): string => `${r.head} ${action} ${r.tail}`;

const ENABLE: Record<Mode, string> = { A: 'ENABLE ALWAYS', R: 'ENABLE REPLICA' };

export class ReplaySwitches {
  /** What this replay switched off, by kind and oid, with the mode to give back. */
  private readonly off = new Map<string, Switch>();

  /** Disables every trigger, rule and event trigger that replica mode would fire. */
  async suspend(client: pg.Client): Promise<void> {
    const { rows } = await client.query<SwitchRow>(
      `SELECT * FROM (${SWITCHES}) s WHERE s.mode IN ('A', 'R') ORDER BY 1, 2`,
    );
    for (const r of rows) {
      await client.query(alter(r, 'DISABLE'));
      this.off.set(`${r.kind} ${r.oid}`, { kind: r.kind, oid: r.oid, mode: r.mode as Mode });
    }
  }

  /**
   * Before replayed DDL: triggers and rules as the source had them, so the DDL finds what it found
   * there. Event triggers stay off: they would fire on the DDL itself, and no DDL changes them
   * (event triggers never see commands on event triggers, so those are not in the log).
   */
  async beforeDdl(client: pg.Client): Promise<void> {
    await this.give(client, (s) => s.kind !== 'event trigger');
  }

  /** After replayed DDL: what it left firing is the source's new mode; switched off again. */
  async afterDdl(client: pg.Client): Promise<void> {
    await this.suspend(client);
  }

  /** Gives everything still switched off its mode back (those dropped meanwhile are gone). */
  async resume(client: pg.Client): Promise<void> {
    await this.give(client, () => true);
  }

  private async give(client: pg.Client, which: (s: Switch) => boolean): Promise<void> {
    const wanted = [...this.off].filter(([, s]) => which(s));
    if (wanted.length === 0) return;
    for (const [key] of wanted) this.off.delete(key);
    const modes = new Map(wanted);
    // event triggers last: the ALTER TABLEs before them are DDL they would fire on
    const { rows } = await client.query<SwitchRow>(
      `SELECT * FROM (${SWITCHES}) s ORDER BY s.kind = 'event trigger', 1, 2`,
    );
    for (const r of rows) {
      const s = modes.get(`${r.kind} ${r.oid}`);
      if (s && r.mode === 'D') await client.query(alter(r, ENABLE[s.mode]));
    }
  }
}
