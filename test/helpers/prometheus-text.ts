/**
 * A strict reader of the Prometheus text exposition format (0.0.4), as node_exporter's textfile
 * collector reads a `.prom` file: it throws on anything the format does not allow, so a test that
 * reads our file back proves it would be accepted. Rules: `# HELP name text` and `# TYPE name
 * type` at most once per family and before its samples; a family's samples together; metric and
 * label names by the format's grammar; label values in double quotes with only `\\`, `\"` and
 * `\n` escaped; values Go floats (`NaN`, `+Inf`, `-Inf` included); no series twice; a final newline.
 */

export interface PromSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PromFamily {
  help?: string;
  type?: string;
  readonly samples: PromSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function parseValue(text: string, line: number): number {
  if (text === 'NaN') return NaN;
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (!FLOAT.test(text)) throw new Error(`line ${line}: "${text}" is not a sample value`);
  return Number(text);
}

/** Reads `{a="x",b="y"}` from `text` at `i` (at the `{`); returns the labels and the index after `}`. */
function parseLabels(
  text: string,
  start: number,
  line: number,
): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  const fail = (why: string): never => {
    throw new Error(`line ${line}: ${why} in ${JSON.stringify(text)}`);
  };
  while (text[i] !== '}') {
    const eq = text.indexOf('=', i);
    if (eq < 0) fail('a label without "="');
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) fail(`label name "${name}" is not valid`);
    if (name in labels) fail(`label "${name}" given twice`);
    if (text[eq + 1] !== '"') fail(`the value of label "${name}" is not quoted`);
    let value = '';
    let j = eq + 2;
    for (;;) {
      const c = text[j];
      if (c === undefined) fail(`the value of label "${name}" is not closed`);
      if (c === '"') break;
      if (c === '\n') fail('a raw line feed in a label value');
      if (c === '\\') {
        const e = text[j + 1];
        if (e === '\\') value += '\\';
        else if (e === '"') value += '"';
        else if (e === 'n') value += '\n';
        else fail(`the escape "\\${e ?? ''}" is not one the format knows`);
        j += 2;
      } else {
        value += c;
        j++;
      }
    }
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') fail(`"," or "}" expected after label "${name}"`);
  }
  return { labels, end: i + 1 };
}

export function parsePrometheusText(text: string): Map<string, PromFamily> {
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a line feed');
  const families = new Map<string, PromFamily>();
  const seen = new Set<string>();
  let current: string | undefined;
  const family = (name: string): PromFamily => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { samples: [] }));
    return f;
  };
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') throw new Error(`line ${line}: an empty line`);
    if (raw.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(raw);
      if (!m) return; // a plain comment
      const [, kind, name = '', rest = ''] = m;
      if (!METRIC_NAME.test(name)) throw new Error(`line ${line}: metric name "${name}" is not valid`);
      const f = family(name);
      if (f.samples.length) throw new Error(`line ${line}: # ${kind} ${name} after its samples`);
      if (kind === 'HELP') {
        if (f.help !== undefined) throw new Error(`line ${line}: a second # HELP for ${name}`);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, '')))
          throw new Error(`line ${line}: a bad escape in # HELP`);
        f.help = rest.replace(/\\(\\|n)/g, (_, e: string) => (e === 'n' ? '\n' : '\\'));
      } else {
        if (f.type !== undefined) throw new Error(`line ${line}: a second # TYPE for ${name}`);
        if (!TYPES.has(rest)) throw new Error(`line ${line}: "${rest}" is not a metric type`);
        f.type = rest;
      }
      return;
    }
    const nameEnd = raw.search(/[{ ]/);
    if (nameEnd <= 0) throw new Error(`line ${line}: no sample in ${JSON.stringify(raw)}`);
    const name = raw.slice(0, nameEnd);
    if (!METRIC_NAME.test(name)) throw new Error(`line ${line}: metric name "${name}" is not valid`);
    let labels: Record<string, string> = {};
    let rest = raw.slice(nameEnd);
    if (rest.startsWith('{')) {
      const parsed = parseLabels(raw, nameEnd, line);
      labels = parsed.labels;
      rest = raw.slice(parsed.end);
    }
    const parts = rest.trim().split(/ +/);
    if (!rest.startsWith(' ') || parts.length < 1 || parts.length > 2)
      throw new Error(`line ${line}: "value [timestamp]" expected after ${name}`);
    const value = parseValue(parts[0]!, line);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`line ${line}: bad timestamp`);
    // a family's samples come together: once another family started, this one is closed
    if (current !== name && families.get(name)?.samples.length)
      throw new Error(`line ${line}: the samples of ${name} are not together`);
    current = name;
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(series)) throw new Error(`line ${line}: the series ${series} is given twice`);
    seen.add(series);
    family(name).samples.push({ labels, value });
  });
  return families;
}

/**
 * The value of the one series of `name` whose labels include `labels`; throws when there is none
 * or more than one, so a test can neither pass on a missing metric nor pick one of several.
 */
export function promValue(
  families: Map<string, PromFamily>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const want = Object.entries(labels);
  const found = (families.get(name)?.samples ?? []).filter((x) => want.every(([k, v]) => x.labels[k] === v));
  if (found.length !== 1)
    throw new Error(`${found.length} samples ${name}${JSON.stringify(labels)} in the exposition, not one`);
  return found[0]!.value;
}
