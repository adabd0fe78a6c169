/**
 * What the change log needs to know of a statement the binlog logs as text (DDL, TRUNCATE): which
 * tables it acts on (for `Transaction.tables`, the `--tables` filter and deciding whether it
 * belongs to the source database), whether it is transaction control rather than a change, and
 * how to point it at a target database of another name.
 *
 * This is a scanner, not a parser: it skips string literals and comments and reads identifiers,
 * enough for the statement forms that name tables (CREATE/ALTER/DROP/TRUNCATE/RENAME TABLE,
 * CREATE/DROP INDEX … ON). A statement it cannot read names no table.
 */

/** Transaction control and savepoints: never a change of their own. */
const CONTROL = /^\s*(?:BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE\s+SAVEPOINT|XA\s|START\s+TRANSACTION)\b/i;

export function isTransactionControl(sql: string): boolean {
  return CONTROL.test(sql);
}

type Token = {
  readonly kind: 'word' | 'quoted' | 'punct';
  readonly text: string;
  readonly start: number;
  readonly end: number;
};

const WORD = /[A-Za-z0-9_$\u0080-\uffff]/;

/** Identifiers, quoted identifiers and punctuation, with strings and comments left out. */
export function tokens(sql: string, ansiQuotes = false): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === "'" || (c === '"' && !ansiQuotes)) {
      i++;
      while (i < n) {
        if (sql[i] === '\\') i += 2;
        else if (sql[i] === c && sql[i + 1] === c) i += 2;
        else if (sql[i] === c) break;
        else i++;
      }
      i++;
    } else if (c === '`' || (c === '"' && ansiQuotes)) {
      const start = i;
      let text = '';
      i++;
      while (i < n) {
        if (sql[i] === c && sql[i + 1] === c) {
          text += c;
          i += 2;
        } else if (sql[i] === c) break;
        else text += sql[i++];
      }
      i++;
      out.push({ kind: 'quoted', text, start, end: i });
    } else if (c === '#' || (c === '-' && sql[i + 1] === '-' && /\s/.test(sql[i + 2] ?? ' '))) {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '/' && sql[i + 1] === '*' && sql[i + 2] !== '!') {
      const close = sql.indexOf('*/', i + 2);
      i = close < 0 ? n : close + 2;
    } else if (WORD.test(c)) {
      const start = i;
      while (i < n && WORD.test(sql[i]!)) i++;
      out.push({ kind: 'word', text: sql.slice(start, i), start, end: i });
    } else if (/\s/.test(c)) {
      i++;
    } else {
      out.push({ kind: 'punct', text: c, start: i, end: i + 1 });
      i++;
    }
  }
  return out;
}

function isName(t: Token | undefined): t is Token {
  return t !== undefined && (t.kind === 'quoted' || t.kind === 'word');
}

const upper = (t: Token | undefined): string => (t?.kind === 'word' ? t.text.toUpperCase() : '');

/** Reads `name` or `db.name` at `i`: the qualified name and the index after it. */
function readName(ts: Token[], i: number, defaultDb: string): [string, number] | undefined {
  const a = ts[i];
  if (!isName(a)) return undefined;
  if (ts[i + 1]?.text === '.' && isName(ts[i + 2])) return [`${a.text}.${ts[i + 2]!.text}`, i + 3];
  return [`${defaultDb}.${a.text}`, i + 1];
}

/**
 * The `database.table` names a DDL statement acts on; unqualified names take `defaultDb`. Empty
 * for statements it does not read (views, routines, grants…).
 */
export function statementTables(sql: string, defaultDb: string, ansiQuotes = false): string[] {
  const ts = tokens(sql, ansiQuotes);
  let i = 0;
  const verb = upper(ts[i++]);
  const names: string[] = [];
  const list = (from: number, sep: (t: Token | undefined) => boolean): void => {
    let j = from;
    for (;;) {
      const r = readName(ts, j, defaultDb);
      if (!r) return;
      names.push(r[0]);
      j = r[1];
      while (j < ts.length && !sep(ts[j])) j++;
      if (j >= ts.length) return;
      j++;
    }
  };
  const skip = (...words: string[]): void => {
    while (words.includes(upper(ts[i]))) i++;
  };
  switch (verb) {
    case 'CREATE':
    case 'ALTER':
    case 'DROP': {
      skip('OR', 'REPLACE', 'TEMPORARY', 'ONLINE', 'OFFLINE', 'IGNORE', 'UNIQUE', 'FULLTEXT', 'SPATIAL');
      const what = upper(ts[i++]);
      if (what === 'TABLE' || what === 'TABLES') {
        skip('IF', 'NOT', 'EXISTS');
        if (verb === 'DROP') list(i, (t) => t?.text === ',');
        else {
          const r = readName(ts, i, defaultDb);
          if (r) names.push(r[0]);
          // ALTER TABLE a RENAME [TO|AS] b: the new name too
          const rename = verb === 'ALTER' ? ts.findIndex((t, k) => k > i && upper(t) === 'RENAME') : -1;
          if (rename >= 0 && !['COLUMN', 'INDEX', 'KEY'].includes(upper(ts[rename + 1]))) {
            let k = rename + 1;
            if (['TO', 'AS'].includes(upper(ts[k]))) k++;
            const n = readName(ts, k, defaultDb);
            if (n) names.push(n[0]);
          }
        }
      } else if (what === 'INDEX' || what === 'KEY') {
        const on = ts.findIndex((t, k) => k > i && upper(t) === 'ON');
        const r = on < 0 ? undefined : readName(ts, on + 1, defaultDb);
        if (r) names.push(r[0]);
      }
      break;
    }
    case 'TRUNCATE':
      skip('TABLE');
      {
        const r = readName(ts, i, defaultDb);
        if (r) names.push(r[0]);
      }
      break;
    case 'RENAME':
      skip('TABLE', 'TABLES');
      skip('IF', 'EXISTS');
      // a TO b, c TO d: every name on both sides
      list(i, (t) => t?.text === ',' || upper(t) === 'TO');
      break;
  }
  return [...new Set(names)];
}

function quoteIdent(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/**
 * The statement with every `sourceDb.` qualifier replaced by `targetDb.`, so that a statement
 * naming the source database explicitly acts on the target database, never on the source's
 * namesake on the target server. A name equal to the source database's that qualifies something
 * else (`table.column` where a table has the database's name) is replaced too: the scanner cannot
 * tell them apart.
 */
export function retarget(sql: string, sourceDb: string, targetDb: string, ansiQuotes = false): string {
  if (sourceDb === targetDb) return sql;
  const ts = tokens(sql, ansiQuotes);
  let out = '';
  let at = 0;
  for (let k = 0; k < ts.length; k++) {
    const t = ts[k]!;
    if (!isName(t) || t.text !== sourceDb || ts[k + 1]?.text !== '.' || ts[k - 1]?.text === '.') continue;
    if (t.kind === 'word' && /^\d/.test(t.text)) continue;
    out += sql.slice(at, t.start) + quoteIdent(targetDb);
    at = t.end;
  }
  return out + sql.slice(at);
}

const QUOTED_PART = "`(?:[^`]|``)*`|'(?:[^'\\\\]|\\\\.|'')*'|\"(?:[^\"\\\\]|\\\\.|\"\")*\"";
/** CREATE [OR REPLACE] [DEFINER = user] TRIGGER */
const CREATE_TRIGGER = new RegExp(
  `^\\s*CREATE\\s+(?:OR\\s+REPLACE\\s+)?(?:DEFINER\\s*=\\s*(?:${QUOTED_PART}|[^\\s@]+)(?:\\s*@\\s*(?:${QUOTED_PART}|[^\\s]+))?\\s+)?TRIGGER\\b`,
  'i',
);

/**
 * A trigger's body is wrapped in this while a restore replays the log, so that the trigger exists
 * (and follows its table through RENAME and DROP as on the source) but does nothing in the
 * replaying session, which sets the variable: the log already holds what it did on the source.
 */
export const TRIGGER_GUARD_VARIABLE = '@crmb_replaying';
const GUARD_OPEN = `IF ${TRIGGER_GUARD_VARIABLE} IS NULL THEN `;
const GUARD_CLOSE = '\n; END IF';

interface TriggerParts {
  /** `CREATE … FOR EACH ROW` */
  readonly head: string;
  /** What stands between the head and the body: white space, and FOLLOWS/PRECEDES other. */
  readonly between: string;
  readonly hasOrder: boolean;
  readonly body: string;
}

/** A CREATE TRIGGER statement cut where its body starts; undefined for any other statement. */
function triggerParts(sql: string, ansiQuotes: boolean): TriggerParts | undefined {
  if (!CREATE_TRIGGER.test(sql)) return undefined;
  const ts = tokens(sql, ansiQuotes);
  const row = ts.findIndex(
    (t, k) => upper(t) === 'FOR' && upper(ts[k + 1]) === 'EACH' && upper(ts[k + 2]) === 'ROW',
  );
  if (row < 0 || !ts[row + 3]) return undefined;
  let b = row + 3;
  const hasOrder = ['FOLLOWS', 'PRECEDES'].includes(upper(ts[b])) && isName(ts[b + 1]);
  if (hasOrder) b += 2;
  const bodyToken = ts[b];
  if (!bodyToken) return undefined;
  const headEnd = ts[row + 2]!.end;
  return {
    head: sql.slice(0, headEnd),
    between: sql.slice(headEnd, bodyToken.start),
    hasOrder,
    body: sql.slice(bodyToken.start),
  };
}

/**
 * CREATE TRIGGER with its body guarded (TRIGGER_GUARD_VARIABLE); undefined for any other
 * statement. `keepOrder` false drops FOLLOWS/PRECEDES (for triggers created in their final order).
 */
export function guardTrigger(sql: string, ansiQuotes = false, keepOrder = true): string | undefined {
  const p = triggerParts(sql, ansiQuotes);
  if (!p) return undefined;
  const body = p.body.replace(/[\s;]+$/, '');
  return `${p.head}${keepOrder || !p.hasOrder ? p.between : ' '}${GUARD_OPEN}${body}${GUARD_CLOSE}`;
}

/** The statement of `p` with `body`, without FOLLOWS/PRECEDES. */
function unordered(p: TriggerParts, body: string): string {
  return `${p.head}${p.hasOrder ? ' ' : p.between}${body}`;
}

/**
 * A guarded CREATE TRIGGER (as SHOW CREATE TRIGGER gives it back) as the source had it, without
 * FOLLOWS/PRECEDES (it is created in its final order); undefined when it is not guarded.
 */
export function unguardTrigger(sql: string, ansiQuotes = false): string | undefined {
  const p = triggerParts(sql, ansiQuotes);
  if (!p || !p.body.startsWith(GUARD_OPEN) || !p.body.endsWith(GUARD_CLOSE)) return undefined;
  return unordered(p, p.body.slice(GUARD_OPEN.length, -GUARD_CLOSE.length));
}

/**
 * A CREATE TRIGGER without FOLLOWS/PRECEDES (for one created in its final order); undefined for
 * any other statement.
 */
export function unorderedTrigger(sql: string, ansiQuotes = false): string | undefined {
  const p = triggerParts(sql, ansiQuotes);
  return p && unordered(p, p.body.replace(/[\s;]+$/, ''));
}
