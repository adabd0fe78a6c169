/** `--tables a,b`: a bare name matches the table in any schema, a qualified one exactly. */
export function tableMatcher(
  wanted: readonly string[] | undefined,
): ((table: string) => boolean) | undefined {
  if (!wanted || wanted.length === 0) return undefined;
  const set = new Set(wanted);
  return (table) => {
    if (set.has(table)) return true;
    const dot = table.indexOf('.');
    return dot >= 0 && set.has(table.slice(dot + 1));
  };
}
